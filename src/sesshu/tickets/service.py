"""接種券: issue (batch and individual), reissue for 紛失, invalidation, and what a person holds.

A ticket belongs to one person, one eligibility line (MR, HPV, …) and one dose, and goes
issued → used (a returned 予診票 names it, see sesshu.tickets.links) or issued → invalidated
(reissue, 転出, 死亡). At most one ticket per person, line and dose is live (partial unique index):
a second batch, or a re-run, reuses the live ticket instead of issuing another number.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.clock import today_jst, utcnow
from sesshu.conditions.facts import load_spans
from sesshu.pregnancy.facts import load_pregnancies
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.domain.schedule.display import is_open
from sesshu.domain.wareki import to_wareki
from sesshu.domain.errors import Conflict, InvalidInput, NotFound
from sesshu.domain.tickets import build_ocr_line, format_ticket_no
from sesshu.exports.service import check_purpose, log_print
from sesshu.ledger.evaluation import evaluate_rows
from sesshu.ledger.models import VaccinationRecord
from sesshu.printing import PdfDocument, PrintedPdf
from sesshu.registry.models import Person
from sesshu.tickets import numbers
from sesshu.tickets.catalog import check_invalidation_reason, line_info
from sesshu.tickets.lifecycle import invalidate_ticket as _invalidate
from sesshu.tickets.models import TICKET_STATES, Ticket
from sesshu.tickets.render import NoticeData, draw_notice_letter, draw_questionnaire
from sesshu.rulesets.active import rule_book
from sesshu.domain.schedule import RuleSet

OPEN_STATUSES = ("eligible", "not_yet")


@dataclass(frozen=True)
class TicketWish:
    """A ticket a person should hold: line, dose and the end of its legal window."""

    atena_no: str
    vaccine: str
    dose_no: int
    valid_until: date | None


def ocr_line(settings: Settings, t: Ticket) -> str:
    return str(build_ocr_line(kind=t.kind, dose=t.dose_no, municipality=settings.municipality_code,
                              ticket_no=t.ticket_no))


def live_tickets(s: Session, atena_nos: list[str], vaccine: str) -> dict[tuple[str, int], Ticket]:
    found: dict[tuple[str, int], Ticket] = {}
    for i in range(0, len(atena_nos), 1000):
        for t in s.execute(select(Ticket).where(Ticket.atena_no.in_(atena_nos[i:i + 1000]), Ticket.vaccine == vaccine,
                                                Ticket.state == "issued")).scalars():
            found[(t.atena_no, t.dose_no)] = t
    return found


def rules_on(s: Session, as_of: date | None = None) -> RuleSet:
    """The rules in force on as_of (today): the shipped lines and the active campaigns' lines (住民接種, 特定接種)."""
    return rule_book(s).at(as_of or today_jst())


def issue(s: Session, actor: Actor, wishes: list[TicketWish], *, reason: str, job_id: int | None = None,
          replaces: dict[str, int] | None = None, as_of: date | None = None) -> list[tuple[Ticket, bool]]:
    """A live ticket for each wish, in order: the one the person already holds, or a new number.
    Returns (ticket, is_new). In the caller's transaction (the caller writes the audit rows)."""
    rules = rules_on(s, as_of)
    out: list[tuple[Ticket, bool]] = []
    by_vaccine: dict[str, list[TicketWish]] = {}
    for w in wishes:
        by_vaccine.setdefault(w.vaccine, []).append(w)
    # Two batches (or a batch and a 紛失 reissue) for the same persons at the same time: without a lock
    # both would see no live ticket and the second would fail on uq_ticket_live. The persons' rows are
    # locked in 宛名番号 order (no deadlock between batches), so the second waits and then finds the
    # first's tickets. SQLite has one writer at a time anyway (FOR UPDATE is left out there).
    atenas = sorted({w.atena_no for w in wishes})
    for i in range(0, len(atenas), 1000):
        s.execute(select(Person.atena_no).where(Person.atena_no.in_(atenas[i:i + 1000]))
                  .order_by(Person.atena_no).with_for_update()).all()
    held: dict[tuple[str, str, int], Ticket] = {}
    for vaccine, group in by_vaccine.items():
        for (a, n), t in live_tickets(s, [w.atena_no for w in group], vaccine).items():
            held[(a, vaccine, n)] = t
    missing = [w for w in wishes if (w.atena_no, w.vaccine, w.dose_no) not in held]
    fresh = iter(numbers.take(s, numbers.TICKET_COUNTER, len(missing))) if missing else iter(())
    now = utcnow()
    new: list[Ticket] = []
    for w in wishes:
        key = (w.atena_no, w.vaccine, w.dose_no)
        t = held.get(key)
        if t is not None:
            out.append((t, False))
            continue
        info = line_info(w.vaccine, rules)
        t = Ticket(ticket_no=format_ticket_no(next(fresh)), kind=info.kind, atena_no=w.atena_no, vaccine=info.code,
                   dose_no=w.dose_no, term=info.term_of(w.dose_no), valid_until=w.valid_until, state="issued",
                   issue_reason=reason, job_id=job_id, replaces_id=(replaces or {}).get(w.atena_no),
                   issued_at=now, issued_by=actor.label, invalidated_by="", invalidated_reason="")
        held[key] = t
        new.append(t)
        out.append((t, True))
    s.add_all(new)
    s.flush()
    return out


def notice_data(settings: Settings, p, t: Ticket, line, *, issued_on: date, reissue: bool = False,
                rules: RuleSet | None = None) -> NoticeData:
    """What is printed for person row `p` (name, kana, sex, birth_date, postal_code, address) and ticket `t`;
    `rules` (rules_on) names a campaign's line."""
    info = line_info(t.vaccine, rules)
    return NoticeData(atena_no=p.atena_no, name=p.name, name_kana=p.name_kana, sex=p.sex, birth_date=p.birth_date,
                      postal_code=p.postal_code, address=p.address, line_name=info.name, term=t.term,
                      dose_no=t.dose_no, earliest=getattr(line, "earliest", None),
                      legal_until=getattr(line, "legal_until", None) or t.valid_until,
                      standard_from=getattr(line, "standard_from", None),
                      standard_until=getattr(line, "standard_until", None),
                      ocr_line=ocr_line(settings, t), issued_on=issued_on,
                      municipality_name=settings.municipality_name, reissue=reissue,
                      dose_text=info.dose_text(t.dose_no), line=info.code,
                      category="" if info.category in ("routine_a", "routine_b") else info.category)


def render_pair(data: NoticeData, *, title: str) -> PrintedPdf:
    doc = PdfDocument(title=title, author=data.municipality_name, subject="予防接種")
    draw_notice_letter(doc, data)
    draw_questionnaire(doc, data)
    return doc.finish()


def current_line(s: Session, p: Person, vaccine: str, as_of: date):
    """The person's eligibility line for `vaccine` on as_of, from the whole ledger."""
    rows = s.execute(select(VaccinationRecord.id, VaccinationRecord.vaccine_code, VaccinationRecord.vaccinated_on,
                            VaccinationRecord.screening_result)
                     .where(VaccinationRecord.atena_no == p.atena_no, VaccinationRecord.status == "active")).all()
    result = evaluate_rows(p.birth_date, p.sex, rows, as_of, frozenset((vaccine,)),
                           spans=load_spans(s, [p.atena_no]).get(p.atena_no, ()),
                           pregnancies=load_pregnancies(s, [p.atena_no]).get(p.atena_no, ()), book=rule_book(s))
    return next((e for e in result.eligibility if e.vaccine == vaccine), None)


@dataclass(frozen=True)
class IssuedTicket:
    ticket_no: str
    ocr_line: str
    dose_no: int
    term: str
    pdf: PrintedPdf
    replaced: str | None = None  # the old ticket's number (reissue)


def _person(s: Session, actor: Actor, atena_no: str) -> Person:
    p = s.get(Person, atena_no)
    if p is None:
        raise NotFound(f"宛名番号 {atena_no} の方は登録されていません")
    access.check_visible(s, actor, atena_no)
    return p


_ISSUE_STATUS = {"complete": "接種を完了しています", "expired": "定期接種の期間を過ぎています"}


def issue_for_move_in(db: Database, settings: Settings, *, actor: Actor, atena_no: str, vaccine: str,
                      history_confirmed: bool, as_of: date | None = None,
                      purpose: str = "転入者への接種券の発行") -> IssuedTicket:
    """A 接種券 + 予診票 for a 転入者, for the dose the ledger says is next — so only once the history from
    the previous municipality is on the ledger (the clerk confirms it)."""
    purpose = check_purpose(purpose)
    if not history_confirmed:
        raise InvalidInput("転入前の接種歴を確認し、台帳に登録してから発行してください（接種歴の確認が必要です）")
    as_of = as_of or today_jst()
    with db.transaction() as s:
        info = line_info(vaccine, rules_on(s, as_of))
        p = _person(s, actor, atena_no)
        if p.registry_status != "resident":
            raise InvalidInput(f"住民ではない方（{p.registry_status}）には接種券を発行できません")
        line = current_line(s, p, info.code, as_of)
        if line is None or line.status not in OPEN_STATUSES or not line.next_dose:
            why = _ISSUE_STATUS.get(line.status if line else "", "定期接種の対象ではありません")
            raise InvalidInput(f"{info.name}: {why}。接種券は発行しません")
        if not is_open(line, as_of):  # the person's age makes it a matter of years (高齢者インフルエンザ for a baby)
            raise InvalidInput(f"{info.name}: 定期接種の対象となるのは{to_wareki(line.earliest)}からです"
                               "（1年以上先のため、接種券は発行しません）")
        held = live_tickets(s, [atena_no], info.code).get((atena_no, line.next_dose))
        if held is not None:
            raise Conflict(f"{info.name} {line.next_dose}回目の接種券は発行済みです（券番号 {held.ticket_no}）。"
                           "紛失の場合は再発行してください")
        (t, _new), = issue(s, actor, [TicketWish(atena_no, info.code, line.next_dose, line.legal_until)],
                           reason="move_in", as_of=as_of)
        return _print(s, settings, actor, p, t, line, purpose=purpose, document="接種券・予診票（転入）",
                      as_of=as_of, extra={"history_confirmed": True, "status": line.status,
                                          "earliest": line.earliest, "legal_until": line.legal_until})


def reissue(db: Database, settings: Settings, *, actor: Actor, atena_no: str, vaccine: str, reason: str,
            as_of: date | None = None, purpose: str = "接種券の再発行") -> IssuedTicket:
    """再発行: the person's live ticket for the line is invalidated and a new number is issued for the same
    dose (the old number can never be used again)."""
    purpose = check_purpose(purpose)
    reason = check_invalidation_reason(reason)
    as_of = as_of or today_jst()
    with db.transaction() as s:
        info = line_info(vaccine, rules_on(s, as_of))
        p = _person(s, actor, atena_no)
        live = sorted(live_tickets(s, [atena_no], info.code).values(), key=lambda t: t.dose_no)
        if not live:
            raise NotFound(f"{info.name}の有効な接種券がありません（再発行できるのは発行済み・未使用の接種券です）")
        old = live[0]
        _invalidate(s, actor, old, reason)
        s.flush()
        (t, _new), = issue(s, actor, [TicketWish(atena_no, info.code, old.dose_no, old.valid_until)],
                           reason="reissue", replaces={atena_no: old.id}, as_of=as_of)
        line = current_line(s, p, info.code, as_of)
        if line is not None and line.next_dose != old.dose_no:
            line = None  # the ledger moved on meanwhile: print the old ticket's dose and window only
        return _print(s, settings, actor, p, t, line, purpose=purpose, document="接種券・予診票（再発行）", as_of=as_of,
                      reissue=True, replaced=old, extra={"reason": reason})


def _print(s: Session, settings: Settings, actor: Actor, p: Person, t: Ticket, line, *, purpose: str, document: str,
           as_of: date, reissue: bool = False, replaced: Ticket | None = None, extra: dict | None = None) -> IssuedTicket:
    data = notice_data(settings, p, t, line, issued_on=as_of, reissue=reissue, rules=rules_on(s, as_of))
    pdf = render_pair(data, title=f"{document} {t.ticket_no}")
    detail = {"ticket_no": t.ticket_no, "vaccine": t.vaccine, "dose_no": t.dose_no, "pages": pdf.pages, **(extra or {})}
    if replaced is not None:
        detail["replaces"] = replaced.ticket_no
    audit.record(s, actor, "ticket.issue", atena_no=p.atena_no, purpose=purpose,
                 detail={**detail, "issue_reason": t.issue_reason})
    log_print(s, actor, document=document, purpose=purpose, rows=1, sha256=pdf.sha256, atena_no=p.atena_no,
              detail=detail)
    return IssuedTicket(ticket_no=t.ticket_no, ocr_line=data.ocr_line, dose_no=t.dose_no, term=t.term, pdf=pdf,
                        replaced=replaced.ticket_no if replaced is not None else None)


def invalidate(db: Database, *, actor: Actor, atena_no: str, reason: str, vaccine: str | None = None) -> int:
    """Invalidate the person's live tickets (転出, 死亡, 誤発行 …); returns how many."""
    reason = check_invalidation_reason(reason)
    with db.transaction() as s:
        _person(s, actor, atena_no)
        q = select(Ticket).where(Ticket.atena_no == atena_no, Ticket.state == "issued")
        if vaccine:
            q = q.where(Ticket.vaccine == line_info(vaccine, rules_on(s)).code)
        tickets = list(s.execute(q).scalars())
        for t in tickets:
            _invalidate(s, actor, t, reason)
        audit.record(s, actor, "ticket.invalidate", atena_no=atena_no, purpose="接種券の無効化",
                     detail={"reason": reason, "tickets": [t.ticket_no for t in tickets]})
        return len(tickets)


@dataclass(frozen=True)
class TicketOut:
    ticket_no: str
    ocr_line: str
    vaccine: str
    line_name: str
    dose_no: int
    term: str
    state: str
    state_label: str
    issue_reason: str
    issued_at: str
    valid_until: date | None
    invalidated_reason: str


def person_tickets(db: Database, settings: Settings, *, actor: Actor, atena_no: str) -> list[TicketOut]:
    with db.transaction() as s:
        _person(s, actor, atena_no)
        rows = list(s.execute(select(Ticket).where(Ticket.atena_no == atena_no)
                              .order_by(Ticket.issued_at.desc(), Ticket.id.desc())).scalars())
        audit.record(s, actor, "ticket.view", atena_no=atena_no, purpose="接種券の確認", detail={"tickets": len(rows)})
        rules = rules_on(s)
        return [TicketOut(ticket_no=t.ticket_no, ocr_line=ocr_line(settings, t), vaccine=t.vaccine,
                          line_name=line_info(t.vaccine, rules).name, dose_no=t.dose_no, term=t.term, state=t.state,
                          state_label=TICKET_STATES.get(t.state, t.state), issue_reason=t.issue_reason,
                          issued_at=t.issued_at.isoformat(timespec="minutes"), valid_until=t.valid_until,
                          invalidated_reason=t.invalidated_reason) for t in rows]


def snapshot(data: NoticeData) -> str:
    return json.dumps(data.to_json(), ensure_ascii=False, sort_keys=True)
