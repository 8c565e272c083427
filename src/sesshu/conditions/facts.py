"""Conditions as the schedule engine sees them: per person, date spans in which a code holds.

Read helpers for the ledger (evaluation, targets, person page); they never commit. A withdrawn row
never held; an ended row holds up to its ended_on (inclusive) or its valid_until if earlier.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.conditions.models import PersonCondition
from sesshu.registry.models import Person


@dataclass(frozen=True)
class ConditionSpan:
    code: str
    valid_from: date | None  # None: no known start (holds for every earlier date)
    valid_until: date | None  # inclusive; None: open

    def holds_on(self, d: date) -> bool:
        return (self.valid_from is None or self.valid_from <= d) and (self.valid_until is None or d <= self.valid_until)


def conditions_on(spans: Sequence[ConditionSpan], d: date) -> frozenset[str]:
    return frozenset(sp.code for sp in spans if sp.holds_on(d))


def span_of(row) -> ConditionSpan | None:
    """The span a stored row contributes (None for a withdrawn row)."""
    if row.status == "withdrawn":
        return None
    until = row.valid_until
    if row.status == "ended" and row.ended_on is not None:
        until = row.ended_on if until is None else min(until, row.ended_on)
    if row.valid_from is not None and until is not None and until < row.valid_from:
        return None
    return ConditionSpan(row.condition_code, row.valid_from, until)


_SPAN_COLS = (PersonCondition.atena_no, PersonCondition.condition_code, PersonCondition.valid_from,
              PersonCondition.valid_until, PersonCondition.status, PersonCondition.ended_on)


def _group(rows: Iterable) -> dict[str, tuple[ConditionSpan, ...]]:
    out: dict[str, list[ConditionSpan]] = {}
    for r in rows:
        sp = span_of(r)
        if sp is not None:
            out.setdefault(r.atena_no, []).append(sp)
    return {a: tuple(spans) for a, spans in out.items()}


def load_spans(s: Session, atena_nos: Sequence[str]) -> dict[str, tuple[ConditionSpan, ...]]:
    """Spans of these persons, in one query (persons without conditions are absent)."""
    if not atena_nos:
        return {}
    return _group(s.execute(select(*_SPAN_COLS).where(PersonCondition.atena_no.in_(list(atena_nos)),
                                                      PersonCondition.status != "withdrawn")))


def load_resident_spans(s: Session, statuses: Sequence[str] = ("resident",)) -> dict[str, tuple[ConditionSpan, ...]]:
    """Spans of every resident (or person of ``statuses``) with a condition on record (a small set: target
    selection reads it once)."""
    return _group(s.execute(select(*_SPAN_COLS).join(Person, Person.atena_no == PersonCondition.atena_no)
                            .where(Person.registry_status.in_(list(statuses)), PersonCondition.status != "withdrawn")))
