"""Use cases of the eligibility table: the full rebuild (after an upgrade, and as the period moves on)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.db import Database
from sesshu.domain.errors import InvalidInput
from sesshu.eligibility import refresh


@dataclass
class RebuildSummary:
    persons: int
    spans: int
    first: date
    last: date


def rebuild(db: Database, *, actor: Actor, today: date, first: date | None = None,
            last: date | None = None) -> RebuildSummary:
    """Evaluate every resident and 住登外者 over [first, last] (default: 31 days before today to 214 after)
    and mark the table built with the active rules; audited. One transaction: until it commits, the
    selections keep using the previous table (or the full evaluation)."""
    d_first, d_last = refresh.default_period(today)
    first, last = first or d_first, last or d_last
    if last < first:
        raise InvalidInput("期間の終わりが始まりより前です")
    with db.transaction() as s:
        persons, spans = refresh.rebuild(s, first=first, last=last)
        audit.record(s, actor, "eligibility.rebuild",
                     detail={"from": first, "to": last, "persons": persons, "spans": spans})
    return RebuildSummary(persons, spans, first, last)
