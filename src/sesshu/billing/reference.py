"""The fee table and the city's paying account, read from billing/data/fees.yaml (data, not code)."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml

from sesshu.domain.fees import FeeTable


@lru_cache(maxsize=1)
def fee_data() -> dict:
    text = resources.files("sesshu.billing").joinpath("data/fees.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def fee_table() -> FeeTable:
    return _table()


@lru_cache(maxsize=1)
def _table() -> FeeTable:
    return FeeTable.from_data(fee_data())


def payer() -> dict:
    return {k: str(v) for k, v in fee_data()["payer"].items()}
