"""The person page: registry facts, masked My Number, history, 職権修正 and 取消 — all audited."""
from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.ledger.models import VaccinationRecord
from tests.web.conftest import MY_NUMBER, add_record, login, record_version


def _audit(db, action: str) -> list[AuditEntry]:
    with db.transaction() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).scalars())


def test_viewing_a_person_writes_an_audit_entry(client, db, make_staff, persons):
    login(client, make_staff("clerk"))
    assert client.get(f"/persons/{persons['plain']}").status_code == 200
    [entry] = _audit(db, "person.view")
    assert entry.actor == "clerk-1" and entry.atena_no == persons["plain"] and entry.actor_kind == "user"


def test_my_number_shows_only_its_last_four_digits(client, make_staff, persons):
    login(client, make_staff("clerk"))
    page = client.get(f"/persons/{persons['plain']}").text
    assert "********" + MY_NUMBER[-4:] in page
    assert MY_NUMBER not in page and MY_NUMBER[:8] not in page


def test_hostile_name_is_escaped_on_person_and_search_pages(client, make_staff, persons):
    login(client, make_staff("clerk"))
    person = client.get(f"/persons/{persons['hostile']}").text
    results = client.get("/search", params={"kana": "アクイ"}).text
    for page in (person, results):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script>alert(1)" not in page
    assert "&lt;b&gt;悪意&lt;/b&gt;" in person and "<b>悪意" not in person


def test_dates_are_shown_in_western_and_japanese_calendars(client, db, make_staff, persons):
    add_record(db, persons["plain"], on=date(2021, 4, 10))
    login(client, make_staff("clerk"))
    page = client.get(f"/persons/{persons['plain']}").text
    assert "2020-04-01" in page and "令和2年4月1日" in page
    assert "2021-04-10" in page and "令和3年4月10日" in page


def test_unknown_person_is_a_404_page_and_still_audited(client, db, make_staff):
    login(client, make_staff("clerk"))
    r = client.get("/persons/999999")
    assert r.status_code == 404 and "登録されていません" in r.text
    assert _audit(db, "person.view_missing")


def test_clerk_sees_no_correction_form(client, db, make_staff, persons):
    add_record(db, persons["plain"])
    login(client, make_staff("clerk"))
    page = client.get(f"/persons/{persons['plain']}").text
    assert "職権修正" not in page and "/correct" not in page and "/edit" not in page


def test_supervisor_corrects_a_record_through_the_form(client, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    csrf = login(client, make_staff("supervisor"))
    assert f'href="/records/{rec}/edit"' in client.get(f"/persons/{persons['plain']}").text
    page = client.get(f"/records/{rec}/edit").text
    assert f'action="/records/{rec}/correct"' in page and "個人の情報に戻る" in page
    [viewed] = _audit(db, "record.edit_view")
    assert (viewed.atena_no, json.loads(viewed.detail)) == (persons["plain"], {"record_id": rec})
    r = client.post(f"/records/{rec}/correct", data={
        "csrf_token": csrf, "atena_no": persons["plain"], "expected_version": "1", "reason": "予診票の転記誤り",
        "lot_no": "ZZ999", "orig_lot_no": "AB123", "vaccinated_on": "R3.4.11", "orig_vaccinated_on": "2021-04-10",
        "remarks": "", "orig_remarks": "",
    })
    assert r.status_code == 303 and r.headers["location"].startswith(f"/persons/{persons['plain']}?notice=corrected")
    with db.transaction() as s:
        row = s.get(VaccinationRecord, rec)
        assert (row.lot_no, row.vaccinated_on, row.version) == ("ZZ999", date(2021, 4, 11), 2)
    [entry] = _audit(db, "record.correct")
    assert json.loads(entry.detail)["fields"] == ["lot_no", "vaccinated_on"]
    assert "接種記録を修正しました" in client.get(r.headers["location"]).text
    history = client.get(f"/records/{rec}/history", params={"atena_no": persons["plain"]}).text
    assert "予診票の転記誤り" in history and "AB123" in history and "職権修正" in history


def test_stale_version_is_a_conflict(client, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    csrf = login(client, make_staff("supervisor"))
    r = client.post(f"/records/{rec}/correct", data={
        "csrf_token": csrf, "atena_no": persons["plain"], "expected_version": "7", "reason": "理由",
        "lot_no": "ZZ1", "orig_lot_no": "AB123"})
    assert r.status_code == 409 and "他の職員" in r.text
    assert f'href="/persons/{persons["plain"]}#record-{rec}"' in r.text


def test_invalid_value_is_explained_in_japanese(client, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    csrf = login(client, make_staff("supervisor"))
    r = client.post(f"/records/{rec}/correct", data={
        "csrf_token": csrf, "atena_no": persons["plain"], "expected_version": "1", "reason": "理由",
        "dose_no": "二", "orig_dose_no": "1"})
    assert r.status_code == 400 and "回数" in r.text
    assert record_version(db, rec) == 1


def test_supervisor_voids_a_record(client, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    csrf = login(client, make_staff("supervisor"))
    r = client.post(f"/records/{rec}/void", data={"csrf_token": csrf, "atena_no": persons["plain"],
                                                  "expected_version": "1", "reason": "二重登録"})
    assert r.status_code == 303
    with db.transaction() as s:
        assert s.get(VaccinationRecord, rec).status == "voided"
    page = client.get(r.headers["location"]).text
    assert "接種記録を取り消しました" in page and f"record-{rec}" not in page
    assert _audit(db, "record.void")


def test_void_needs_a_reason(client, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    csrf = login(client, make_staff("supervisor"))
    r = client.post(f"/records/{rec}/void", data={"csrf_token": csrf, "atena_no": persons["plain"],
                                                  "expected_version": "1", "reason": " "})
    assert r.status_code == 400 and "取消理由を入力してください" in r.text


def test_refused_correction_is_on_record(client, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    csrf = login(client, make_staff("clerk"))
    r = client.post(f"/records/{rec}/correct", data={"csrf_token": csrf, "atena_no": persons["plain"],
                                                     "expected_version": "1", "reason": "理由", "lot_no": "Z",
                                                     "orig_lot_no": "AB123"})
    assert r.status_code == 403 and "権限がありません" in r.text
    [entry] = _audit(db, "auth.denied")
    assert entry.actor == "clerk-1" and json.loads(entry.detail)["permission"] == "record.correct"
    assert record_version(db, rec) == 1


def test_each_correction_form_preselects_the_records_own_vaccine(client, db, make_staff, persons):
    """Each record's correction page selects that record's own vaccine."""
    import re

    mr, hib = add_record(db, persons["plain"]), add_record(db, persons["plain"], vaccine="HIB", on=date(2021, 5, 1))
    login(client, make_staff("supervisor"))
    for rec, code in ((mr, "MR"), (hib, "HIB")):
        page = client.get(f"/records/{rec}/edit").text
        form = page[page.index(f'action="/records/{rec}/correct"'):]
        select_html = form[form.index('<select name="vaccine_code">'):form.index("</select>")]
        assert re.findall(r'<option value="([^"]+)" selected>', select_html) == [code], (code, select_html[:300])


def test_the_record_page_is_for_correctors_and_for_visible_active_records_only(client, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    login(client, make_staff("clerk"))
    assert client.get(f"/records/{rec}/edit").status_code == 403
    client.cookies.clear()
    csrf = login(client, make_staff("supervisor"))
    r = client.post(f"/records/{rec}/void", data={"csrf_token": csrf, "atena_no": persons["plain"],
                                                  "expected_version": "1", "reason": "二重登録"})
    assert r.status_code == 303
    gone = client.get(f"/records/{rec}/edit")
    assert gone.status_code == 404 and "取消済み" in gone.text
    assert client.get("/records/999999/edit").status_code == 404
