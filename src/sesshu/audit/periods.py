"""JST days against the log's UTC timestamps.

Entries store occurred_at as fixed-width UTC ISO text, so a JST period becomes a plain string range
on the indexed column, and the first 13 characters ('YYYY-MM-DDTHH') are a UTC hour that maps to
exactly one JST hour (JST is UTC+9 all year, no daylight saving).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sesshu.clock import JST, utc_iso
from sesshu.domain.errors import InvalidInput
from sesshu.domain.wareki import parse_optional_date

MAX_PERIOD_DAYS = 366
# Dates a lookup can mean; beyond them the JST↔UTC conversion itself overflows (0001-01-01, 9999-12-31).
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(2999, 12, 31)


def utc_bound(moment: datetime) -> str:
    """A JST (or any aware) moment as the log's UTC text, for range comparisons."""
    return utc_iso(moment)


def day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=JST)


def day_range(first: date, last: date | None = None) -> tuple[str, str]:
    """[start of `first`, start of the day after `last`) in JST, as UTC text bounds."""
    return utc_bound(day_start(first)), utc_bound(day_start((last or first) + timedelta(days=1)))


def jst(occurred_at: str) -> datetime:
    """The stored UTC text as a JST datetime."""
    return datetime.fromisoformat(occurred_at.replace("Z", "+00:00")).astimezone(JST)


def jst_hour(utc_hour_prefix: str) -> datetime:
    """'YYYY-MM-DDTHH' (UTC) → the JST datetime at the start of that hour."""
    return datetime.fromisoformat(utc_hour_prefix + ":00:00+00:00").astimezone(JST)


def parse_day(value: str | date | None, label: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    day = parse_optional_date(value, label)
    if day is None:
        return None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise InvalidInput(f"{label}: {EARLIEST_DAY.year}年から{LATEST_DAY.year}年までの日付で指定してください")
    return day


def parse_period(date_from: str | date | None, date_to: str | date | None, *, required: bool) -> tuple[date | None, date | None]:
    first, last = parse_day(date_from, "期間（から）"), parse_day(date_to, "期間（まで）")
    if required and (first is None or last is None):
        raise InvalidInput("期間（から・まで）を指定してください")
    if first and last:
        if first > last:
            raise InvalidInput("期間の「から」が「まで」より後になっています")
        if (last - first).days >= MAX_PERIOD_DAYS:
            raise InvalidInput(f"期間は{MAX_PERIOD_DAYS}日以内で指定してください")
    return first, last


def days(first: date, last: date):
    d = first
    while d <= last:
        yield d
        d += timedelta(days=1)
