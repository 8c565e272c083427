"""Pregnancies as the schedule engine sees them: each person's expected delivery dates.

Read helpers for the ledger (evaluation, person page, targets); they never commit. Withdrawn rows
never held.
"""
from __future__ import annotations

from datetime import date
from typing import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.pregnancy.models import PregnancyNotice
from sesshu.registry.models import Person

_COLS = (PregnancyNotice.atena_no, PregnancyNotice.expected_delivery)


def _group(rows: Iterable) -> dict[str, tuple[date, ...]]:
    out: dict[str, set[date]] = {}
    for r in rows:
        out.setdefault(r.atena_no, set()).add(r.expected_delivery)
    return {a: tuple(sorted(d)) for a, d in out.items()}


def load_pregnancies(s: Session, atena_nos: Sequence[str]) -> dict[str, tuple[date, ...]]:
    """Expected delivery dates of these persons, in one query (persons without any are absent)."""
    if not atena_nos:
        return {}
    out: dict[str, tuple[date, ...]] = {}
    nos = list(dict.fromkeys(atena_nos))
    for i in range(0, len(nos), 5000):
        out.update(_group(s.execute(select(*_COLS).where(PregnancyNotice.atena_no.in_(nos[i:i + 5000]),
                                                         PregnancyNotice.status == "active"))))
    return out


def load_resident_pregnancies(s: Session, *, delivered_after: date) -> dict[str, tuple[date, ...]]:
    """Residents with a pregnancy whose expected delivery is after ``delivered_after`` (target
    selection: a small set, read once)."""
    return _group(s.execute(select(*_COLS).join(Person, Person.atena_no == PregnancyNotice.atena_no)
                            .where(Person.registry_status == "resident", PregnancyNotice.status == "active",
                                   PregnancyNotice.expected_delivery > delivered_after)))


def person_pregnancies(s: Session, atena_no: str, today: date) -> list:
    """Every 妊娠届 row of a person, newest expected delivery first, with the RSV window (read only)."""
    from sesshu.pregnancy.schemas import pregnancy_out
    from sesshu.rulesets.active import rule_book

    rows = s.execute(select(PregnancyNotice).where(PregnancyNotice.atena_no == atena_no)
                     .order_by(PregnancyNotice.expected_delivery.desc(), PregnancyNotice.id.desc())).scalars()
    rules = rule_book(s).at(today)
    return [pregnancy_out(r, today, rules) for r in rows]
