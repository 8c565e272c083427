"""The linkage rules of data/linkage.yaml (items of a 副本, retention periods), read once."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

DATA = Path(__file__).parent / "data" / "linkage.yaml"


@dataclass(frozen=True)
class LinkageRules:
    task: str
    info: dict
    copy_items: tuple[str, ...]
    exchange_record_retention_years: int
    result_retention_days: int
    transfer_code_days: int
    permit_valid_hours: int


@lru_cache(maxsize=1)
def load_rules() -> LinkageRules:
    d = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    return LinkageRules(task=d["task"], info=d["info"], copy_items=tuple(d["copy_items"]),
                        exchange_record_retention_years=int(d["exchange_record_retention_years"]),
                        result_retention_days=int(d["result_retention_days"]),
                        transfer_code_days=int(d["transfer_code_days"]),
                        permit_valid_hours=int(d["permit_valid_hours"]))
