"""Shared shapes of list pages: a page of rows with its total, and the criteria that chose them."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date


@dataclass
class Page:
    """One page of a capped list (person search, record list, audit lookup)."""

    rows: list
    total: int
    total_capped: bool
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


class Criteria:
    """For dataclass criteria: whether anything was given, and what was given (for the audit entry)."""

    def is_empty(self) -> bool:
        return not any(v not in ("", None) for v in asdict(self).values())

    def as_detail(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items() if v not in ("", None)}
