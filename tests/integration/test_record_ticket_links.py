"""A record's 接種券 follows the record: voiding gives the ticket back; correcting the 券番号 moves the link
under the import's rules (reused, foreign and invalidated tickets refused in Japanese)."""
from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.domain.errors import InvalidInput
from sesshu.ledger import service as ledger
from sesshu.ledger.models import VaccinationRecord
from sesshu.registry.models import Person
from sesshu.tickets.models import Ticket
from sesshu.tickets.notices import run_notices
from sesshu.tickets.service import TicketWish, invalidate, issue
from tests.integration.notices_city import AS_OF, OPERATOR, load_city
from tests.integration.test_import_tickets import _import, _ocr, _row


def _city_with_used_tickets(db, settings, tmp_path) -> dict[str, str]:
    """The MR notice batch, then 2001's and 2002's 予診票 returned with their tickets."""
    load_city(db, settings, tmp_path)
    run_notices(db, settings, actor=OPERATOR, vaccine="MR", as_of=AS_OF, within_days=30, out_dir=tmp_path / "n")
    lines = {a: _ocr(db, a) for a in ("2001", "2002", "2003", "2004")}
    summary, reasons = _import(db, settings, tmp_path, _row("2001", lines["2001"]), _row("2002", lines["2002"]))
    assert summary.accepted == 2, reasons
    return lines


def _record(db, atena: str, on: str = "2026-11-20") -> VaccinationRecord:
    with db.transaction() as s:
        return s.execute(select(VaccinationRecord).where(
            VaccinationRecord.atena_no == atena, VaccinationRecord.status == "active",
            VaccinationRecord.vaccinated_on == date.fromisoformat(on))).scalar_one()


def _ticket(db, atena: str) -> Ticket:
    with db.transaction() as s:
        return s.execute(select(Ticket).where(Ticket.atena_no == atena).order_by(Ticket.id.desc())).scalars().first()


def _entries(db, action: str) -> list[dict]:
    with db.transaction() as s:
        return [json.loads(e.detail) | {"atena_no": e.atena_no}
                for e in s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars()]


def _correct(db, settings, record: VaccinationRecord, **changes):
    return ledger.correct_record(db, settings, actor=OPERATOR, correction=ledger.Correction(
        record_id=record.id, expected_version=record.version, reason="予診票の転記誤り", changes=changes))


def test_voiding_a_record_gives_its_ticket_back_on_record(db, settings, tmp_path):
    lines = _city_with_used_tickets(db, settings, tmp_path)
    r = _record(db, "2001")
    assert (_ticket(db, "2001").state, _ticket(db, "2001").used_record_id) == ("used", r.id)
    ledger.void_record(db, actor=OPERATOR, record_id=r.id, expected_version=r.version, reason="別人の予診票")
    t = _ticket(db, "2001")
    assert (t.state, t.used_record_id, t.used_at) == ("issued", None, None)
    [entry] = _entries(db, "ticket.release")
    assert entry == {"ticket_no": t.ticket_no, "record_id": r.id, "why": "record.void", "state": "issued",
                     "invalidated_reason": "", "atena_no": "2001"}
    # The ticket is good again: the right 予診票 can be imported with it.
    summary, reasons = _import(db, settings, tmp_path, _row("2001", lines["2001"], on="2026-11-25"), name="again.csv")
    assert summary.accepted == 1, reasons
    assert _ticket(db, "2001").used_record_id == _record(db, "2001", "2026-11-25").id


def test_a_voided_record_of_a_person_who_left_invalidates_the_ticket_instead(db, settings, tmp_path):
    _city_with_used_tickets(db, settings, tmp_path)
    r = _record(db, "2002")
    with db.transaction() as s:
        s.get(Person, "2002").registry_status = "moved_out"
    ledger.void_record(db, actor=OPERATOR, record_id=r.id, expected_version=r.version, reason="二重登録")
    t = _ticket(db, "2002")
    assert (t.state, t.invalidated_reason, t.used_record_id) == ("invalidated", "転出", None)


def test_correcting_the_ticket_number_checks_it_like_an_import(db, settings, tmp_path):
    lines = _city_with_used_tickets(db, settings, tmp_path)
    invalidate(db, actor=OPERATOR, atena_no="2004", reason="紛失")
    summary, reasons = _import(db, settings, tmp_path, _row("2001", "", on="2026-11-26"), _row("2004", ""),
                               name="blank.csv")
    assert summary.accepted == 2, reasons
    second = _record(db, "2001", "2026-11-26")
    with pytest.raises(InvalidInput, match="使用済みです（2026-11-20のMRの接種で使用）"):
        _correct(db, settings, second, ticket_no=lines["2001"])
    with pytest.raises(InvalidInput, match="別の方の接種券"):
        _correct(db, settings, second, ticket_no=lines["2003"])
    with pytest.raises(InvalidInput, match="他の市町村"):
        _correct(db, settings, second, ticket_no="121310160000000001")
    with pytest.raises(InvalidInput, match="無効になった接種券.*紛失"):
        _correct(db, settings, _record(db, "2004"), ticket_no=lines["2004"][8:])
    with pytest.raises(InvalidInput, match="麻しん風しん混合（MR）の接種券です（予診票の接種種別は VAR）"):
        _correct(db, settings, _record(db, "2002"), vaccine_code="VAR")
    # Refused corrections change nothing.
    assert _record(db, "2001", "2026-11-26").version == second.version
    assert (_ticket(db, "2002").state, _ticket(db, "2004").state) == ("used", "invalidated")
    assert _entries(db, "ticket.release") == [] and _entries(db, "ticket.use") == []


def test_correcting_the_ticket_number_releases_the_old_ticket_and_uses_the_new(db, settings, tmp_path):
    lines = _city_with_used_tickets(db, settings, tmp_path)
    summary, _ = _import(db, settings, tmp_path, _row("2001", "", on="2026-11-26"), name="blank.csv")
    assert summary.accepted == 1
    first, second = _record(db, "2001"), _record(db, "2001", "2026-11-26")
    ticket = _ticket(db, "2001")
    # The clinic wrote the ticket on the wrong form: the first record is voided, the second names the ticket.
    ledger.void_record(db, actor=OPERATOR, record_id=first.id, expected_version=first.version, reason="日付の誤り")
    out = _correct(db, settings, second, ticket_no=lines["2001"])
    assert out.ticket_no == lines["2001"]
    assert (_ticket(db, "2001").state, _ticket(db, "2001").used_record_id) == ("used", second.id)
    [use] = _entries(db, "ticket.use")
    assert (use["ticket_no"], use["record_id"], use["atena_no"]) == (ticket.ticket_no, second.id, "2001")
    # Correcting something else leaves the link alone; blanking the 券番号 releases the ticket.
    _correct(db, settings, _record(db, "2001", "2026-11-26"), lot_no="XY1")
    assert _ticket(db, "2001").used_record_id == second.id
    _correct(db, settings, _record(db, "2001", "2026-11-26"), ticket_no="")
    assert (_ticket(db, "2001").state, _ticket(db, "2001").used_record_id) == ("issued", None)
    assert [e["why"] for e in _entries(db, "ticket.release")] == ["record.void", "record.correct"]


def test_a_released_ticket_whose_dose_has_a_newer_live_ticket_is_invalidated(db, settings, tmp_path):
    _city_with_used_tickets(db, settings, tmp_path)
    r = _record(db, "2001")
    used = _ticket(db, "2001")
    with db.transaction() as s:  # a new ticket for the same dose while the old one was used (e.g. 転入 reissue)
        [(newer, _)] = issue(s, OPERATOR, [TicketWish("2001", "MR", used.dose_no, None)], reason="move_in")
        newer_no = newer.ticket_no
    ledger.void_record(db, actor=OPERATOR, record_id=r.id, expected_version=r.version, reason="二重登録")
    with db.transaction() as s:
        old, live = s.get(Ticket, used.id), s.execute(select(Ticket).where(Ticket.ticket_no == newer_no)).scalar_one()
        assert (old.state, old.invalidated_reason, live.state) == ("invalidated", "同じ回の別の接種券が有効", "issued")


def _enter(db, settings, atena: str, ticket_no: str, on: str = "2026-11-21"):
    return ledger.enter_record(db, settings, actor=OPERATOR, raw={
        "atena_no": atena, "vaccinated_on": on, "vaccine_code": "MR", "term": "1", "dose_no": "1",
        "ticket_no": ticket_no})


def test_a_hand_entered_record_uses_its_ticket_like_an_imported_one(db, settings, tmp_path):
    lines = _city_with_used_tickets(db, settings, tmp_path)
    entered = _enter(db, settings, "2003", lines["2003"])
    t = _ticket(db, "2003")
    assert (t.state, t.used_record_id) == ("used", entered.record.id)
    assert _entries(db, "ticket.use")[-1] == {"ticket_no": t.ticket_no, "record_id": entered.record.id,
                                              "why": "record.enter", "atena_no": "2003"}


def test_hand_entry_refuses_a_ticket_the_import_would_refuse_and_stores_nothing(db, settings, tmp_path):
    lines = _city_with_used_tickets(db, settings, tmp_path)
    raw = {"atena_no": "2004", "vaccinated_on": "2026-11-21", "vaccine_code": "MR", "term": "1", "dose_no": "1",
           "ticket_no": lines["2001"]}
    checked = ledger.check_entry(db, settings, actor=OPERATOR, raw=raw)
    assert checked.error_field == "ticket_no" and "別の方の接種券" in checked.error
    with pytest.raises(InvalidInput, match="別の方の接種券"):
        ledger.enter_record(db, settings, actor=OPERATOR, raw=raw)
    with db.transaction() as s:
        assert s.execute(select(VaccinationRecord).where(VaccinationRecord.atena_no == "2004")).first() is None
    assert _ticket(db, "2004").state == "issued" and _ticket(db, "2001").state == "used"


def test_moving_a_record_to_another_person_gives_the_first_persons_ticket_back(db, settings, tmp_path):
    _city_with_used_tickets(db, settings, tmp_path)
    r = _record(db, "2001")
    with db.transaction() as s:
        ledger.move_record(s, actor=OPERATOR, record_id=r.id, expected_version=r.version, to_atena_no="2003",
                           reason="宛名番号の記入誤り")
    t = _ticket(db, "2001")
    assert (t.state, t.used_record_id) == ("issued", None)
    [entry] = _entries(db, "ticket.release")
    assert (entry["why"], entry["record_id"], entry["atena_no"]) == ("record.reassign", r.id, "2001")
    assert _ticket(db, "2003").state == "issued"  # the moved record names no ticket of 2003's
