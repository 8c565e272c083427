"""Checks other features call before using a person for something that is not legally required.

A refused or skipped use is put on record (action `suspension.refused`, one entry per person, with
the use that was refused) in the caller's transaction.
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.audit.service import AuditEvent
from sesshu.disclosure.models import UseSuspension

PURPOSE = "利用停止中の方の利用の拒否"


def suspended_among(s: Session, atena_nos: Iterable[str]) -> set[str]:
    wanted = list(dict.fromkeys(atena_nos))
    if len(wanted) > 5000:
        # a city-wide list (targets, a wave): the suspensions are few, read them all once
        return set(s.execute(select(UseSuspension.atena_no).distinct()).scalars()) & set(wanted)
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        found |= set(s.execute(select(UseSuspension.atena_no)
                               .where(UseSuspension.atena_no.in_(wanted[i:i + 500]))).scalars())
    return found


def log_refusals(s: Session, actor: Actor, atena_nos: Iterable[str], *, use: str, detail: dict | None = None) -> int:
    events = [AuditEvent("suspension.refused", a, PURPOSE, {"use": use, **(detail or {})}) for a in sorted(atena_nos)]
    if events:
        audit.record_many(s, actor, events)
    return len(events)


def drop_suspended(s: Session, actor: Actor, rows: list, *, use: str, detail: dict | None = None) -> list:
    """Rows (with an `atena_no`) without the suspended persons; each skipped person is logged."""
    stopped = suspended_among(s, (r.atena_no for r in rows))
    if not stopped:
        return rows
    log_refusals(s, actor, stopped, use=use, detail=detail)
    return [r for r in rows if r.atena_no not in stopped]
