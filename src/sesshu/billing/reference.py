"""The fee table and the city's paying account, read from billing/data/fees.yaml (data, not code)."""
from __future__ import annotations

from datetime import date
from functools import lru_cache
from importlib import resources

import jpholiday
import yaml
from sqlalchemy.orm import Session

from sesshu.domain.fees import FeeTable
from sesshu.domain.schedule.book import RuleBook
from sesshu.rulesets.active import rule_book


@lru_cache(maxsize=1)
def fee_data() -> dict:
    text = resources.files("sesshu.billing").joinpath("data/fees.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def fee_table() -> FeeTable:
    return _table()


@lru_cache(maxsize=1)
def _table() -> FeeTable:
    return FeeTable.from_data(fee_data())


def fee_table_for(s: Session) -> FeeTable:
    """The shipped fee table plus the fee schedules of the active campaigns (sesshu.rulesets)."""
    book = rule_book(s)
    return _with_campaigns(book) if book.fees else fee_table()


_CAMPAIGN_TABLES: dict[int, tuple[RuleBook, FeeTable]] = {}


def _with_campaigns(book: RuleBook) -> FeeTable:
    hit = _CAMPAIGN_TABLES.get(id(book))
    if hit is None or hit[0] is not book:
        _CAMPAIGN_TABLES.clear()  # one active set at a time: an activation made the old table stale
        hit = _CAMPAIGN_TABLES[id(book)] = (book, fee_table().with_entries(list(book.fees), campaign_holiday))
    return hit[1]


def campaign_holiday(on: date) -> bool:
    """休日 for a campaign's 休日加算: Sundays and national holidays (国民の祝日に関する法律, via jpholiday).
    For the 2021 COVID-19 addition 休日 was 日曜日・国民の祝日（祝日法第3条）and a clinic's own weekday closing
    day (岐阜市 2022-11-29, 広島市 2024-04-11 「時間外・休日の定義」); 12/29–1/3 is not in that definition (unlike the
    診療報酬's 休日加算), so it is not a 休日 here. A clinic's own closing day is not modelled (no clinic hours
    in the master)."""
    return on.weekday() == 6 or jpholiday.is_holiday(on)


def payer() -> dict:
    return {k: str(v) for k, v in fee_data()["payer"].items()}
