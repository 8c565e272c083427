"""予診票の手入力: the verdict while typing, saving with the engine's error code, input kept on errors."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from sesshu.audit.models import AuditEntry as AuditLog
from sesshu.ledger.models import VaccinationRecord
from tests.web.conftest import add_record, csrf_token, login


def _check(client, csrf, **values):
    r = client.post("/records/check", json=values, headers={"X-CSRF-Token": csrf, "Accept": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()


def _records(db, atena_no):
    with db.transaction() as s:
        return s.execute(select(VaccinationRecord).where(VaccinationRecord.atena_no == atena_no)
                         .order_by(VaccinationRecord.id)).scalars().all()


def test_check_shows_the_person_and_a_valid_verdict_for_a_wareki_date(client, make_staff, persons):
    csrf = login(client, make_staff("clerk"))
    # Born 2020-04-01: MR 1期 is due from the first birthday; 令和3年4月10日 in full-width digits.
    data = _check(client, csrf, atena_no="1001", vaccinated_on="Ｒ３．４．１０", vaccine_code="mr")
    assert data["person"]["name"] == "山田　太郎"
    assert data["error"] == ""
    assert data["vaccinated_on"]["iso"] == "2021-04-10"
    assert data["verdict"]["status"] == "valid" and data["verdict"]["dose_number"] == 1
    assert data["verdict"]["window"]["earliest"]["iso"] == "2021-03-31"  # 年齢計算ニ関スル法律: the day before the birthday


def test_check_shows_error_codes_and_japanese_reasons_for_a_dose_too_early(client, make_staff, persons):
    csrf = login(client, make_staff("clerk"))
    data = _check(client, csrf, atena_no="1001", vaccinated_on="令和2年10月1日", vaccine_code="MR")
    v = data["verdict"]
    assert v["status"] in ("invalid", "voluntary")
    assert v["codes"] and all(c.startswith(("E_", "W_")) for c in v["codes"])
    assert any("\u3040" <= ch <= "\u9fff" for ch in "".join(v["reasons"]))


def test_check_names_the_field_of_a_bad_date_and_an_unknown_person(client, make_staff, persons):
    csrf = login(client, make_staff("clerk"))
    bad = _check(client, csrf, atena_no="1001", vaccinated_on="R5.13.40", vaccine_code="MR")
    assert bad["error_field"] == "vaccinated_on" and "接種年月日" in bad["error"]
    assert bad["person"]["atena_no"] == "1001"
    missing = _check(client, csrf, atena_no="9999", vaccinated_on="2023-08-03", vaccine_code="MR")
    assert missing["error_field"] == "atena_no" and "登録されていません" in missing["error"]


def test_check_warns_of_a_duplicate(client, db, make_staff, persons):
    add_record(db, "1001", vaccine="MR", on=date(2021, 4, 10))
    csrf = login(client, make_staff("clerk"))
    assert _check(client, csrf, atena_no="1001", vaccinated_on="2021-04-10", vaccine_code="MR")["duplicate"] is True


def test_saving_stores_the_record_with_its_verdict_and_audit_and_offers_a_fresh_form(client, db, make_staff,
                                                                                      persons):
    csrf = login(client, make_staff("clerk"))
    page = client.get("/records/new?atena_no=1001")
    assert page.status_code == 200 and 'value="1001"' in page.text
    r = client.post("/records/new", data={"csrf_token": csrf, "atena_no": "1001", "vaccinated_on": "2021-04-10",
                                          "vaccine_code": "MR", "dose_no": "１", "lot_no": "AB123",
                                          "billing_month": "R3.4", "keep": "1"})
    assert r.status_code == 200, r.text
    assert "保存しました" in r.text and "山田　太郎" in r.text
    # The next form is empty except for the carried-over 請求月, and focus starts at 宛名番号.
    assert 'name="atena_no" value="" inputmode="numeric" maxlength="20" required autocomplete="off" autofocus' in r.text
    assert 'name="billing_month" value="R3.4"' in r.text
    [rec] = _records(db, "1001")
    assert (rec.vaccine_code, rec.vaccinated_on, rec.dose_no, rec.billing_month, rec.category) == (
        "MR", date(2021, 4, 10), 1, "2021-04", "routine_a")
    assert rec.created_by.endswith("clerk-1") or "clerk-1" in rec.created_by
    with db.transaction() as s:
        entry = s.execute(select(AuditLog).where(AuditLog.action == "record.enter")).scalar_one()
    assert entry.atena_no == "1001"


def test_an_engine_invalid_dose_is_stored_with_its_error_code(client, db, make_staff, persons):
    csrf = login(client, make_staff("clerk"))
    r = client.post("/records/new", data={"csrf_token": csrf, "atena_no": "1001", "vaccinated_on": "2020-10-01",
                                          "vaccine_code": "MR"})
    assert r.status_code == 200 and "保存しました" in r.text
    [rec] = _records(db, "1001")
    assert rec.error_code and rec.error_code in r.text


def test_validation_errors_keep_everything_typed(client, db, make_staff, persons):
    csrf = login(client, make_staff("clerk"))
    r = client.post("/records/new", data={"csrf_token": csrf, "atena_no": "1001", "vaccinated_on": "R3.4.10",
                                          "vaccine_code": "MR", "lot_no": "KEEP-ME", "dose_volume_ml": "99",
                                          "remarks": "電話で確認済み"})
    assert r.status_code == 400
    assert "接種量" in r.text
    for kept in ('value="R3.4.10"', 'value="KEEP-ME"', 'value="99"', 'value="電話で確認済み"', 'value="1001"'):
        assert kept in r.text
    assert _records(db, "1001") == []


def test_the_same_person_vaccine_and_date_twice_is_refused(client, db, make_staff, persons):
    add_record(db, "1001", vaccine="MR", on=date(2021, 4, 10))
    csrf = login(client, make_staff("clerk"))
    r = client.post("/records/new", data={"csrf_token": csrf, "atena_no": "1001", "vaccinated_on": "2021-04-10",
                                          "vaccine_code": "MR"})
    assert r.status_code == 409 and "重複" in r.text
    assert len(_records(db, "1001")) == 1


def test_the_entry_page_is_not_for_the_security_officer(client, make_staff):
    login(client, make_staff("security_officer"))
    assert client.get("/records/new").status_code == 403
