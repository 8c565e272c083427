"""接種会場の記録 (venue mode): scan a ticket, see the person and the verdict, record, undo; refusals."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.clock import today_jst
from sesshu.disclosure import service as disclosure
from sesshu.ledger.models import VaccinationRecord, Venue
from sesshu.tickets.models import Ticket
from sesshu.tickets.service import issue_for_move_in, reissue
from tests.web.conftest import ADMIN, add_record, login, record_version

STATION = {"vaccine_code": "JE", "venue_code": "V01", "lot_no": "JE-1234", "dose_volume_ml": "0.5"}


def _ticket(db, settings, atena_no="1001", vaccine="JE") -> str:
    with db.transaction() as s:
        if s.get(Venue, "V01") is None:
            s.add(Venue(code="V01", name="熊谷市保健センター集団接種会場"))
    return issue_for_move_in(db, settings, actor=ADMIN, atena_no=atena_no, vaccine=vaccine,
                             history_confirmed=True).ocr_line


def _post(client, csrf, path, **body):
    return client.post(path, json=body, headers={"X-CSRF-Token": csrf, "Accept": "application/json"})


def _actions(db, action):
    with db.transaction() as s:
        return s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars().all()


def test_station_page_offers_the_presets_and_the_keys(client, make_staff, persons, db, settings):
    _ticket(db, settings)
    login(client, make_staff("clerk"))
    page = client.get("/venue")
    assert page.status_code == 200
    assert "接種会場の記録" in page.text and 'value="JE"' in page.text and "熊谷市保健センター集団接種会場" in page.text
    assert "F2" in page.text and "F4" in page.text and "/static/venue.js" in page.text


def test_scan_shows_person_and_verdict_in_full_width_digits_and_records_with_the_ticket_used(
        client, make_staff, persons, db, settings):
    ocr = _ticket(db, settings)
    csrf = login(client, make_staff("clerk"))
    wide = ocr.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    seen = _post(client, csrf, "/venue/scan", scan=wide[:8] + " " + wide[8:], station=STATION).json()
    assert seen["person"]["name"] == "山田　太郎" and seen["person"]["name_kana"].replace(" ", "　") == "ヤマダ　タロウ"
    assert seen["person"]["birth_date"] == "2020-04-01" and "歳" in seen["person"]["age"]
    assert seen["refusal"] == "" and seen["verdict"]["status"] == "valid" and seen["verdict"]["dose_number"] == 1
    assert seen["scan"] == ocr
    saved = _post(client, csrf, "/venue/record", scan=ocr, station=STATION)
    assert saved.status_code == 200, saved.text
    out = saved.json()
    assert out["replayed"] is False and out["verdict"]["status"] == "valid"
    with db.transaction() as s:
        rec = s.get(VaccinationRecord, out["record_id"])
        t = s.execute(select(Ticket).where(Ticket.ticket_no == ocr[8:])).scalar_one()
        assert (rec.vaccine_code, rec.vaccinated_on, rec.venue_code, rec.lot_no, rec.dose_volume_ml) == (
            "JE", today_jst(), "V01", "JE-1234", Decimal("0.5"))
        assert t.state == "used" and t.used_record_id == rec.id and rec.dose_no == t.dose_no == 1
    [enter] = _actions(db, "record.enter")
    assert enter.purpose == "接種会場での接種の記録" and enter.atena_no == "1001"
    assert len(_actions(db, "ticket.use")) == 1


def test_a_lost_answer_sent_again_returns_the_stored_record(client, make_staff, persons, db, settings):
    ocr = _ticket(db, settings)
    csrf = login(client, make_staff("clerk"))
    first = _post(client, csrf, "/venue/record", scan=ocr, station=STATION).json()
    again = _post(client, csrf, "/venue/record", scan=ocr, station=STATION)
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["record_id"] == first["record_id"]
    with db.transaction() as s:
        assert s.execute(select(VaccinationRecord).where(VaccinationRecord.atena_no == "1001")).scalars().all()
    assert len(_actions(db, "record.enter")) == 1 and len(_actions(db, "venue.replay")) == 1


def test_undo_voids_the_fresh_record_and_gives_the_ticket_back(client, make_staff, persons, db, settings):
    ocr = _ticket(db, settings)
    csrf = login(client, make_staff("clerk"))
    out = _post(client, csrf, "/venue/record", scan=ocr, station=STATION).json()
    r = _post(client, csrf, "/venue/undo", record_id=out["record_id"], version=out["version"])
    assert r.status_code == 200, r.text
    with db.transaction() as s:
        assert s.get(VaccinationRecord, out["record_id"]).status == "voided"
        assert s.execute(select(Ticket.state).where(Ticket.ticket_no == ocr[8:])).scalar_one() == "issued"
    [void] = _actions(db, "record.void")
    assert void.purpose == "接種会場での接種の記録"
    # The ticket can be scanned and recorded again.
    assert _post(client, csrf, "/venue/record", scan=ocr, station=STATION).status_code == 200


def test_undo_is_refused_after_the_window_and_for_another_staff_members_record(client, make_staff, persons, db,
                                                                               settings):
    ocr = _ticket(db, settings)
    csrf = login(client, make_staff("clerk"))
    out = _post(client, csrf, "/venue/record", scan=ocr, station=STATION).json()
    with db.transaction() as s:
        rec = s.get(VaccinationRecord, out["record_id"])
        rec.created_at = rec.created_at - timedelta(minutes=10)
    late = _post(client, csrf, "/venue/undo", record_id=out["record_id"], version=record_version(db, out["record_id"]))
    assert late.status_code == 400 and "秒を過ぎた" in late.json()["error"]
    other = add_record(db, "1002", vaccine="JE", on=today_jst())
    mine = _post(client, csrf, "/venue/undo", record_id=other, version=1)
    assert mine.status_code == 400 and "他の職員" in mine.json()["error"]
    with db.transaction() as s:
        assert s.get(VaccinationRecord, out["record_id"]).status == "active"


def test_used_invalidated_and_unknown_tickets_are_refused_with_the_reason(client, make_staff, persons, db, settings):
    ocr = _ticket(db, settings)
    csrf = login(client, make_staff("clerk"))
    _post(client, csrf, "/venue/record", scan=ocr, station=STATION)
    used = _post(client, csrf, "/venue/scan", scan=ocr, station=STATION).json()
    assert "同じ接種の記録" in used["refusal"] or "使用済み" in used["refusal"]
    ocr2 = _ticket(db, settings, atena_no="1002")
    reissue(db, settings, actor=ADMIN, atena_no="1002", vaccine="JE", reason="紛失")
    voided = _post(client, csrf, "/venue/scan", scan=ocr2, station=STATION).json()
    assert "無効" in voided["refusal"] and voided["person"]["atena_no"] == "1002"
    refused = _post(client, csrf, "/venue/record", scan=ocr2, station=STATION)
    assert refused.status_code == 400 and "無効" in refused.json()["error"]
    unknown = _post(client, csrf, "/venue/scan", scan=ocr[:8] + "9999999999", station=STATION)
    assert unknown.status_code == 404 and "発行されていません" in unknown.json()["error"]
    other_city = _post(client, csrf, "/venue/scan", scan="11131016" + ocr[8:], station=STATION)
    assert other_city.status_code == 400 and "他の市町村" in other_city.json()["error"]
    short = _post(client, csrf, "/venue/scan", scan="12345", station=STATION)
    assert short.status_code == 400 and "18桁" in short.json()["error"]
    assert _actions(db, "ticket.view_missing")


def test_warnings_for_a_short_interval_another_dose_today_and_a_use_suspension(client, make_staff, persons, db,
                                                                               settings):
    ocr = _ticket(db, settings)
    add_record(db, "1001", vaccine="MR", on=today_jst())
    req = disclosure.receive(db, actor=ADMIN, kind="suspension", atena_no="1001", channel="counter",
                             requester_name="山田　花子", requester_relation="legal_proxy",
                             identity_method="mynumber_card", question="案内への利用をやめてほしい")
    disclosure.suspend_use(db, actor=ADMIN, inquiry_id=req.id)
    csrf = login(client, make_staff("clerk"))
    seen = _post(client, csrf, "/venue/scan", scan=ocr, station=STATION).json()
    text = "\n".join(seen["warnings"])
    assert "他の接種（MR）" in text and "利用停止" in text
    assert seen["refusal"] == ""


def test_a_vaccine_the_ticket_is_not_for_is_refused(client, make_staff, persons, db, settings):
    ocr = _ticket(db, settings)
    csrf = login(client, make_staff("clerk"))
    seen = _post(client, csrf, "/venue/scan", scan=ocr, station={**STATION, "vaccine_code": "MR"}).json()
    assert "日本脳炎" in seen["refusal"] and "MR" in seen["refusal"]
    no_vaccine = _post(client, csrf, "/venue/scan", scan=ocr, station={**STATION, "vaccine_code": ""})
    assert no_vaccine.status_code == 400 and "接種種別" in no_vaccine.json()["error"]


def test_staff_without_the_task_see_the_ticket_as_not_issued_and_others_may_not_use_the_station(
        client, make_staff, persons, db, settings):
    from sesshu.access.service import unassign

    ocr = _ticket(db, settings)
    staff = make_staff("clerk")
    unassign(db, actor=ADMIN, login_id=staff.login_id, task_code="yobo_sesshu")
    csrf = login(client, staff)
    r = _post(client, csrf, "/venue/scan", scan=ocr, station=STATION)
    assert r.status_code in (403, 404)
    billing = make_staff("billing")
    client.cookies.clear()
    login(client, billing)
    assert client.get("/venue").status_code == 403


def test_the_station_stamps_the_time_of_the_dose(client, make_staff, persons, db, settings):
    """接種時刻 for a campaign's 時間外加算: the moment the dose is stored (JST, to the minute)."""
    from datetime import datetime

    from sesshu.clock import now_jst

    ocr = _ticket(db, settings)
    csrf = login(client, make_staff("clerk"))
    before = now_jst().replace(second=0, microsecond=0)
    out = _post(client, csrf, "/venue/record", scan=ocr, station=STATION).json()
    after = now_jst()
    with db.transaction() as s:
        rec = s.get(VaccinationRecord, out["record_id"])
    assert rec.vaccination_time is not None
    assert before <= datetime.combine(rec.vaccinated_on, rec.vaccination_time) <= after
