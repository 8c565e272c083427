"""Individual 接種券: a 転入者's ticket once the history is known, a 紛失 reissue with a new number."""
from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.domain.errors import Conflict, InvalidInput
from sesshu.ledger.models import VaccinationRecord
from sesshu.tickets.models import Ticket
from sesshu.tickets.service import issue_for_move_in, person_tickets, reissue
from tests.integration.notices_city import AS_OF, OPERATOR, load_city
from tests.pdfcheck import flat, pdf_text, qr_codes
from tests.web.conftest import add_record


def _save(tmp_path, name, pdf):
    path = tmp_path / name
    path.write_bytes(pdf.content)
    return path


def test_move_in_ticket_needs_the_history_first_and_is_issued_once(db, settings, tmp_path):
    load_city(db, settings, tmp_path)
    with pytest.raises(InvalidInput, match="転入前の接種歴"):
        issue_for_move_in(db, settings, actor=OPERATOR, atena_no="2001", vaccine="MR", history_confirmed=False,
                          as_of=AS_OF)
    issued = issue_for_move_in(db, settings, actor=OPERATOR, atena_no="2001", vaccine="MR", history_confirmed=True,
                               as_of=AS_OF)
    assert (issued.dose_no, issued.term, len(issued.ocr_line)) == (1, "1期", 18)
    pdf = _save(tmp_path, "move-in.pdf", issued.pdf)
    assert issued.pdf.pages == 2
    text = flat(pdf_text(pdf))
    assert "熊谷子1" in text and "麻しん風しん混合（MR）" in text and issued.ocr_line in text
    assert qr_codes(pdf, tmp_path, 2) == [issued.ocr_line]
    with pytest.raises(Conflict, match="発行済み"):
        issue_for_move_in(db, settings, actor=OPERATOR, atena_no="2001", vaccine="MR", history_confirmed=True,
                          as_of=AS_OF)
    with db.transaction() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "print")).scalar_one()
    assert entry.atena_no == "2001" and json.loads(entry.detail)["sha256"] == issued.pdf.sha256


def test_adults_and_moved_out_persons_get_no_ticket(db, settings, tmp_path):
    load_city(db, settings, tmp_path)
    with pytest.raises(InvalidInput, match="定期接種"):
        issue_for_move_in(db, settings, actor=OPERATOR, atena_no="3001", vaccine="MR", history_confirmed=True,
                          as_of=AS_OF)
    with pytest.raises(InvalidInput, match="住民ではない"):
        issue_for_move_in(db, settings, actor=OPERATOR, atena_no="3002", vaccine="MR", history_confirmed=True,
                          as_of=AS_OF)


def test_lost_ticket_is_reissued_with_a_new_number_and_the_old_one_invalidated(db, settings, tmp_path):
    load_city(db, settings, tmp_path)
    first = issue_for_move_in(db, settings, actor=OPERATOR, atena_no="2002", vaccine="MR", history_confirmed=True,
                              as_of=AS_OF)
    again = reissue(db, settings, actor=OPERATOR, atena_no="2002", vaccine="MR", reason="紛失", as_of=AS_OF)
    assert again.replaced == first.ticket_no and again.ticket_no != first.ticket_no
    assert again.ocr_line[:8] == first.ocr_line[:8]  # same 券種, 回数 and city
    pdf = _save(tmp_path, "reissue.pdf", again.pdf)
    assert "再発行" in pdf_text(pdf) and qr_codes(pdf, tmp_path, 2) == [again.ocr_line]
    held = {t.ticket_no: t for t in person_tickets(db, settings, actor=OPERATOR, atena_no="2002")}
    assert held[first.ticket_no].state == "invalidated" and held[first.ticket_no].invalidated_reason == "紛失"
    assert held[again.ticket_no].state == "issued"
    with db.transaction() as s:
        new = s.execute(select(Ticket).where(Ticket.ticket_no == again.ticket_no)).scalar_one()
        old = s.execute(select(Ticket).where(Ticket.ticket_no == first.ticket_no)).scalar_one()
    assert new.replaces_id == old.id and new.issue_reason == "reissue"
    with pytest.raises(InvalidInput, match="理由"):
        reissue(db, settings, actor=OPERATOR, atena_no="2002", vaccine="MR", reason="なんとなく", as_of=AS_OF)


def test_moving_out_invalidates_the_unused_ticket(db, settings, tmp_path):
    from sesshu.registry.service import import_registry
    from tests.helpers import REGISTRY_HEADER, write

    load_city(db, settings, tmp_path)
    issue_for_move_in(db, settings, actor=OPERATOR, atena_no="2003", vaccine="MR", history_confirmed=True, as_of=AS_OF)
    path = write(tmp_path / "moved.csv", REGISTRY_HEADER + "\n2003,,熊谷　子3,クマガヤ　コ3,男,2025-11-04,360-0003,"
                 "埼玉県熊谷市宮町二丁目3番地,,2003,世帯主,熊谷　子3,転出,転出,2026-11-30\n")
    import_registry(db, settings, path=path, actor=OPERATOR)
    (t,) = person_tickets(db, settings, actor=OPERATOR, atena_no="2003")
    assert (t.state, t.invalidated_reason) == ("invalidated", "転出")


def test_a_screening_only_visit_leaves_the_move_in_ticket_for_the_same_dose(db, settings, tmp_path):
    load_city(db, settings, tmp_path)
    rid = add_record(db, "2001", vaccine="MR", on=date(2026, 11, 20), term="1期")
    with db.transaction() as s:
        s.get(VaccinationRecord, rid).screening_result = "screened_only"
    issued = issue_for_move_in(db, settings, actor=OPERATOR, atena_no="2001", vaccine="MR", history_confirmed=True,
                               as_of=AS_OF)
    assert issued.dose_no == 1  # 予診のみ: screened, not vaccinated — still the first dose


def test_two_batches_issuing_for_the_same_persons_at_once_share_one_ticket_each(db, settings, tmp_path):
    """Two notice batches (or a batch and a clerk) ask for tickets for the same children at the same
    moment: one issues them, the other waits for it and hands out the same ticket — no duplicate, no
    crash on the unique index."""
    import threading
    from datetime import timedelta

    from sesshu.tickets.service import TicketWish, issue

    load_city(db, settings, tmp_path)
    wishes = [TicketWish(a, "MR", 1, AS_OF + timedelta(days=365)) for a in ("2001", "2002")]
    start, results, errors = threading.Barrier(2), [], []

    def batch():
        try:
            start.wait(10)
            with db.transaction() as s:
                got = issue(s, OPERATOR, wishes, reason="notice")
                results.append([(t.ticket_no, new) for t, new in got])
        except Exception as e:  # noqa: BLE001 — the test reports it
            errors.append(e)

    threads = [threading.Thread(target=batch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    numbers = sorted(results, key=lambda r: [new for _n, new in r], reverse=True)
    assert [new for _n, new in numbers[0]] == [True, True] and [new for _n, new in numbers[1]] == [False, False]
    assert [n for n, _ in numbers[0]] == [n for n, _ in numbers[1]]
    with db.transaction() as s:
        assert s.execute(select(Ticket).where(Ticket.vaccine == "MR", Ticket.atena_no.in_(["2001", "2002"]))
                         ).scalars().all().__len__() == 2
