"""Numbers that are never reused: taken from a locked counter row in the caller's transaction.

A rolled-back transaction gives its numbers back with it (nothing of them was stored), and a committed
number stays taken for ever; the unique index on ticket_no is the last guard."""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sesshu.tickets.models import NumberCounter

TICKET_COUNTER = "ticket_no"


def take(s: Session, name: str, count: int = 1) -> range:
    """`count` consecutive fresh numbers of the counter `name` (created at 0 on first use)."""
    row = s.execute(select(NumberCounter).where(NumberCounter.name == name).with_for_update()).scalar_one_or_none()
    if row is None:
        s.add(NumberCounter(name=name, last_value=0))
        s.flush()
        row = s.execute(select(NumberCounter).where(NumberCounter.name == name).with_for_update()).scalar_one()
    first = row.last_value + 1
    s.execute(update(NumberCounter).where(NumberCounter.name == name).values(last_value=row.last_value + count))
    s.expire(row)
    return range(first, first + count)
