"""A ticket stops being valid: reissue, 転出, 死亡 (light module: the registry import calls it)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.audit.service import AuditEvent
from sesshu.clock import utcnow
from sesshu.tickets.models import Ticket

# Registry statuses after which a person holds no valid ticket, and the reason written on the ticket.
DEPARTURES = {"moved_out": "転出", "deceased": "死亡"}


def invalidate_ticket(s: Session, actor: Actor, t: Ticket, reason: str) -> None:
    t.state = "invalidated"
    t.invalidated_at = utcnow()
    t.invalidated_by = actor.label
    t.invalidated_reason = reason


def invalidate_departed(s: Session, actor: Actor, reasons: dict[str, str]) -> list[AuditEvent]:
    """The registry feed's 転出・死亡 (atena_no → reason): each person's live tickets invalidated, in the
    import's transaction. Returns the audit events (the caller appends them with its own)."""
    events = []
    ids = sorted(reasons)
    for i in range(0, len(ids), 1000):
        for t in s.execute(select(Ticket).where(Ticket.atena_no.in_(ids[i:i + 1000]), Ticket.state == "issued")).scalars():
            invalidate_ticket(s, actor, t, reasons[t.atena_no])
            events.append(AuditEvent("ticket.invalidate", t.atena_no, "接種券の無効化（住民基本台帳の異動）",
                                     {"reason": reasons[t.atena_no], "tickets": [t.ticket_no]}))
    s.flush()
    return events
