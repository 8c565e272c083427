"""The 予診票 import and the 接種券: a returned form names its ticket by 券番号 (the 18-digit OCR line or
the 10-digit number); the ticket must be this person's, for this vaccine, and not used or invalidated.

Called by `sesshu.ledger.service.import_records` once per chunk of rows, inside the file's single
transaction: one query reads the chunk's tickets, one marks the stored rows' tickets used. A 券番号 of
another shape (paper tickets from before sesshu) is stored on the record as written and not linked.

The link follows the record: voiding it, or moving it to another person, gives its ticket back
(`release_ticket`); a 職権修正 of the 券番号 (or of the 接種種別) releases the old ticket and checks
the new one by the import's rules, and a hand-entered 予診票 is checked and linked by the same rules
(`link_ticket`) — in the caller's transaction, with audit events for the caller to write.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.audit.service import AuditEvent
from sesshu.clock import today_jst, utcnow
from sesshu.domain.errors import InvalidInput
from sesshu.domain.schedule.book import RuleBook
from sesshu.domain.tickets import ticket_number_of
from sesshu.registry.models import Person
from sesshu.rulesets.active import rule_book
from sesshu.tickets.catalog import line_info, line_vaccines
from sesshu.tickets.lifecycle import DEPARTURES, invalidate_ticket
from sesshu.tickets.models import Ticket

# Written on a released ticket that cannot become valid again because the person holds another for that dose.
SUPERSEDED = "同じ回の別の接種券が有効"


@dataclass
class ChunkTickets:
    """Per row of the chunk (same order): the ticket id to mark used, or None; and rejected rows' reasons."""

    ticket_ids: list[int | None]
    reasons: dict[int, str]
    numbers: list[str | None]  # the 10-digit 券番号 each row names (None: blank or not one of ours)

    @property
    def any(self) -> bool:
        return any(self.ticket_ids)


def _iso(d) -> str:
    return d.isoformat() if isinstance(d, date) else str(d)[:10]


def check_chunk(s: Session, rows: list[dict], *, line_nos: list[int], municipality: str,
                book: RuleBook | None = None) -> ChunkTickets:
    """rows: parsed record fields (atena_no, vaccine_code, vaccinated_on, ticket_no); line_nos: their lines."""
    numbers: list[str | None] = []
    reasons: dict[int, str] = {}
    for i, f in enumerate(rows):
        raw = f.get("ticket_no") or ""
        if not raw:
            numbers.append(None)
            continue
        try:
            numbers.append(ticket_number_of(raw, municipality=municipality))
        except InvalidInput as e:
            numbers.append(None)
            reasons[i] = f"券番号 {raw}: {e.message}"
    wanted = sorted({n for n in numbers if n})
    ids: list[int | None] = [None] * len(rows)
    if not wanted:
        return ChunkTickets(ids, reasons, numbers)
    conn = s.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    found = {}
    for j in range(0, len(wanted), 2000):
        part = wanted[j:j + 2000]
        # Plain SQL like the import around it: thousands of parameters through the ORM cost more than the query.
        for row in conn.exec_driver_sql(
                "SELECT t.id, t.ticket_no, t.atena_no, t.vaccine, t.state, t.invalidated_reason, t.invalidated_at, "
                "r.atena_no, r.vaccine_code, r.vaccinated_on FROM ticket t "
                "LEFT JOIN vaccination_record r ON r.id = t.used_record_id "
                f"WHERE t.ticket_no IN ({','.join([mark] * len(part))})", tuple(part)).all():
            found[row[1]] = row
    seen: dict[str, int] = {}
    rules = (book or rule_book(s)).at(today_jst())  # a campaign's tickets (住民接種, 特定接種) are lines too
    for i, (f, n) in enumerate(zip(rows, numbers)):
        if n is None or n not in found:
            continue
        tid, _no, owner, vaccine, state, inv_reason, inv_at, r_atena, r_vaccine, r_date = found[n]
        key = (f["atena_no"], f["vaccine_code"], _iso(f["vaccinated_on"]))
        if owner != f["atena_no"]:
            reasons[i] = f"券番号 {n} は別の方の接種券です（宛名番号と券番号を確認してください）"
        elif f["vaccine_code"] not in line_vaccines(vaccine, rules):
            reasons[i] = (f"券番号 {n} は{line_info(vaccine, rules).name}の接種券です"
                          f"（予診票の接種種別は {f['vaccine_code']}）")
        elif state == "invalidated":
            when = f"{_iso(inv_at)}に" if inv_at else ""
            reasons[i] = f"券番号 {n} は{when}無効になった接種券です（{inv_reason}）"
        elif state == "used":
            if (r_atena, r_vaccine, _iso(r_date)) != key:
                reasons[i] = f"券番号 {n} は使用済みです（{_iso(r_date)}の{r_vaccine}の接種で使用）"
            # else: the same vaccination again (the file re-imported): a duplicate, decided by the ledger
        elif n in seen:
            reasons[i] = f"券番号 {n} はこのファイルの{seen[n]}行目でも使われています（1枚の接種券は1回の接種にだけ使えます）"
        else:
            seen[n] = line_nos[i]
            ids[i] = tid
    return ChunkTickets(ids, reasons, numbers)


def mark_used(s: Session, pairs: list[tuple[int, int]]) -> None:
    """(ticket id, record id) for the rows stored: those tickets are used."""
    if not pairs:
        return
    now = utcnow()
    s.connection().execute(
        update(Ticket.__table__).where(Ticket.__table__.c.id == bindparam("tid"), Ticket.__table__.c.state == "issued")
        .values(state="used", used_record_id=bindparam("rid"), used_at=now),
        [{"tid": t, "rid": r} for t, r in pairs])


def _used_by(s: Session, record_id: int) -> Ticket | None:
    return s.execute(select(Ticket).where(Ticket.used_record_id == record_id, Ticket.state == "used")).scalar_one_or_none()


def _release(s: Session, actor: Actor, t: Ticket, *, record_id: int, why: str, purpose: str) -> AuditEvent:
    """The ticket is no longer used by the record: valid again (issued) — unless the person has left
    (転出・死亡) or already holds another live ticket for that dose, when it is invalidated instead."""
    status = s.execute(select(Person.registry_status).where(Person.atena_no == t.atena_no)).scalar_one()
    other = s.execute(select(Ticket.id).where(Ticket.atena_no == t.atena_no, Ticket.vaccine == t.vaccine,
                                              Ticket.dose_no == t.dose_no, Ticket.state == "issued",
                                              Ticket.id != t.id)).first()
    t.used_record_id, t.used_at = None, None
    if status in DEPARTURES or other is not None:
        invalidate_ticket(s, actor, t, DEPARTURES.get(status, SUPERSEDED))
    else:
        t.state = "issued"
    s.flush()
    return AuditEvent("ticket.release", t.atena_no, purpose,
                      {"ticket_no": t.ticket_no, "record_id": record_id, "why": why, "state": t.state,
                       "invalidated_reason": t.invalidated_reason if t.state == "invalidated" else ""})


def release_ticket(s: Session, actor: Actor, record_id: int, *, purpose: str, why: str) -> list[AuditEvent]:
    """The ticket a record used goes back from used to issued (see `_release`): the record was voided
    (why "record.void"), or moved to another person (why "record.reassign") — the ticket was the first
    person's, who was not vaccinated."""
    t = _used_by(s, record_id)
    return [_release(s, actor, t, record_id=record_id, why=why, purpose=purpose)] if t is not None else []


def link_ticket(s: Session, actor: Actor, record, *, municipality: str, purpose: str,
                why: str, book: RuleBook | None = None) -> list[AuditEvent]:
    """After a 職権修正 of the 券番号 or 接種種別 (record flushed with its new values): the 券番号 is checked
    as an import checks it — refused (InvalidInput, Japanese reason) when it is another person's, for
    another vaccine, invalidated or used by another vaccination; otherwise the old ticket is released and
    the new one marked used by the record. Also for a hand-entered record (why "record.enter"), which
    has no old ticket: its 券番号 is checked and linked as an import's row would be."""
    fields = {"atena_no": record.atena_no, "vaccine_code": record.vaccine_code,
              "vaccinated_on": record.vaccinated_on, "ticket_no": record.ticket_no or ""}
    checked = check_chunk(s, [fields], line_nos=[1], municipality=municipality, book=book)
    if checked.reasons:
        raise InvalidInput(checked.reasons[0])
    old = _used_by(s, record.id)
    if old is not None and checked.numbers[0] == old.ticket_no:
        return []  # still the same ticket, still valid for what the record now says
    events = [_release(s, actor, old, record_id=record.id, why=why, purpose=purpose)] if old else []
    tid = checked.ticket_ids[0]
    if tid is not None:
        mark_used(s, [(tid, record.id)])
        events.append(AuditEvent("ticket.use", record.atena_no, purpose,
                                 {"ticket_no": checked.numbers[0], "record_id": record.id, "why": why}))
    return events
