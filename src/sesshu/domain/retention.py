"""Retention periods (保存期間) as data, and the pure date arithmetic of when something is due.

No database here: the service passes "today" and the anchor dates in.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources

import yaml

from sesshu.domain.text import without_review_notes


@dataclass(frozen=True)
class RetentionRule:
    code: str
    label: str
    anchor: str
    years: int
    enabled: bool
    source: str


@lru_cache(maxsize=1)
def retention_rules() -> dict[str, RetentionRule]:
    text = resources.files("sesshu").joinpath("data/retention.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)["categories"]
    return {code: RetentionRule(code=code, label=v["label"], anchor=v["anchor"], years=int(v["years"]),
                                enabled=bool(v["enabled"]), source=without_review_notes(str(v["source"])))
            for code, v in raw.items()}


def add_years(d: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 28 February in a common year."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def keep_until(anchor: date, rule: RetentionRule) -> date:
    """The last day the data must still be kept (初日不算入: the period ends on the anniversary)."""
    return add_years(anchor, rule.years)


def is_due(anchor: date | None, rule: RetentionRule, today: date) -> bool:
    """Due for erasure: the rule is in force, the anchor is known and the period has fully passed."""
    return rule.enabled and anchor is not None and today > keep_until(anchor, rule)
