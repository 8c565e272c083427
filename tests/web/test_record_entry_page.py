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


def test_an_engine_invalid_dose_is_stored_only_after_confirmation_with_its_error_code(client, db, make_staff,
                                                                                       persons):
    """Issue 22 item 4: one Enter used to store an invalid dose under a green 「保存しました」. Now the
    form comes back with the reasons, everything typed kept, and a separate button stores it as invalid."""
    add_record(db, "1001", vaccine="HIB", on=date(2020, 6, 1))
    csrf = login(client, make_staff("clerk"))
    typed = {"csrf_token": csrf, "atena_no": "1001", "vaccinated_on": "2020-06-10", "vaccine_code": "HIB",
             "lot_no": "HB-9", "remarks": "保護者の希望"}
    r = client.post("/records/new", data=typed)
    assert r.status_code == 200 and "まだ保存していません" in r.text and "保存しました" not in r.text
    assert "E_INTERVAL_TOO_SHORT" in r.text and 'name="confirm_invalid" value="1"' in r.text
    for kept in ('value="2020-06-10"', 'value="HB-9"', 'value="保護者の希望"'):
        assert kept in r.text
    assert len(_records(db, "1001")) == 1
    r = client.post("/records/new", data={**typed, "confirm_invalid": "1"})
    assert r.status_code == 200 and "無効の接種として保存しました" in r.text
    rec = _records(db, "1001")[-1]
    assert rec.error_code == "E_INTERVAL_TOO_SHORT" and rec.error_code in r.text
    with db.transaction() as s:
        entry = s.execute(select(AuditLog).where(AuditLog.action == "record.enter")).scalar_one()
    assert '"confirmed_invalid": true' in entry.detail


def test_a_full_width_atena_no_and_a_vaccine_by_its_japanese_name_are_accepted(client, db, make_staff, persons):
    """Issue 22 items 8 and 10: 「１００１」 was refused as 登録されていません; 「b型肝炎」 as an unknown code."""
    csrf = login(client, make_staff("clerk"))
    data = _check(client, csrf, atena_no="１００１", vaccinated_on="R2.6.1", vaccine_code="b型肝炎")
    assert data["error"] == "" and data["person"]["atena_no"] == "1001" and data["verdict"]["status"] == "valid"
    r = client.post("/records/new", data={"csrf_token": csrf, "atena_no": "　１００１ ", "vaccinated_on": "R2.6.1",
                                          "vaccine_code": "ｂ型肝炎"})
    assert r.status_code == 200 and "保存しました" in r.text
    [rec] = _records(db, "1001")
    assert rec.vaccine_code == "HEPB"


def test_the_clerk_corrects_and_voids_their_own_record_of_today(client, db, make_staff, persons):
    csrf = login(client, make_staff("clerk"))
    r = client.post("/records/new", data={"csrf_token": csrf, "atena_no": "1001", "vaccinated_on": "2021-04-10",
                                          "vaccine_code": "MR", "lot_no": "TYPO"})
    [rec] = _records(db, "1001")
    assert f'href="/records/{rec.id}/own"' in r.text
    assert f'href="/records/{rec.id}/own"' in client.get("/persons/1001").text
    page = client.get(f"/records/{rec.id}/own")
    assert page.status_code == 200 and "入力した記録の訂正・取消" in page.text and "付け替え" not in page.text
    form = {"csrf_token": csrf, "atena_no": "1001", "expected_version": "1", "orig_lot_no": "TYPO",
            "orig_dose_no": ""}
    # A mistake in the correction: the page again, with what was typed and the message beside the form.
    bad = client.post(f"/records/{rec.id}/own/correct", data={**form, "lot_no": "AB123", "dose_no": "99",
                                                               "reason": "転記誤り"})
    assert bad.status_code == 400 and "回数" in bad.text
    assert 'value="AB123"' in bad.text and 'value="99"' in bad.text and 'value="転記誤り"' in bad.text
    ok = client.post(f"/records/{rec.id}/own/correct", data={**form, "lot_no": "AB123", "reason": "転記誤り"})
    assert ok.status_code == 303
    assert _records(db, "1001")[0].lot_no == "AB123"
    gone = client.post(f"/records/{rec.id}/own/void", data={"csrf_token": csrf, "atena_no": "1001",
                                                             "expected_version": "2", "reason": "二重入力"})
    assert gone.status_code == 303 and _records(db, "1001")[0].status == "voided"


def test_the_clerk_may_not_correct_a_record_of_someone_else_or_an_import(client, db, make_staff, persons):
    other = add_record(db, "1001", vaccine="MR", on=date(2021, 4, 10))  # created by "setup"
    csrf = login(client, make_staff("clerk"))
    assert client.get(f"/records/{other}/own").status_code == 403
    r = client.post(f"/records/{other}/own/void", data={"csrf_token": csrf, "atena_no": "1001",
                                                        "expected_version": "1", "reason": "取消"})
    assert r.status_code == 403 and "本日ご自身が手入力した記録" in r.text
    assert _records(db, "1001")[0].status == "active"
    assert f'href="/records/{other}/own"' not in client.get("/persons/1001").text


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


def test_remarks_are_stored_exactly_as_typed(client, db, make_staff, persons):
    """Issue 22 item 10: 「①」 was stored as 「1」 and full-width brackets as ASCII; also through a correction."""
    csrf = login(client, make_staff("clerk"))
    client.post("/records/new", data={"csrf_token": csrf, "atena_no": "1001", "vaccinated_on": "2021-04-10",
                                      "vaccine_code": "MR", "remarks": " ①保護者（母）同意：済 "})
    [rec] = _records(db, "1001")
    assert rec.remarks == "①保護者（母）同意：済"
    r = client.post(f"/records/{rec.id}/own/correct", data={
        "csrf_token": csrf, "atena_no": "1001", "expected_version": "1", "reason": "追記",
        "remarks": "②ＡＢＣ【再確認】", "orig_remarks": rec.remarks})
    assert r.status_code == 303
    assert _records(db, "1001")[0].remarks == "②ＡＢＣ【再確認】"


def test_the_form_takes_the_time_of_vaccination_as_clinics_write_it(client, db, make_staff, persons):
    """接種時刻 (optional, for a campaign's 時間外加算): full-width and digits-only forms are read; a time that is
    not one is refused with the field named, and nothing is stored."""
    from datetime import time

    csrf = login(client, make_staff("clerk"))
    assert 'name="vaccination_time"' in client.get("/records/new?atena_no=1001").text
    typed = {"csrf_token": csrf, "atena_no": "1001", "vaccinated_on": "2021-04-10", "vaccine_code": "MR"}
    bad = client.post("/records/new", data={**typed, "vaccination_time": "25:00"})
    assert bad.status_code == 400 and "接種時刻" in bad.text and "時刻として読めません" in bad.text
    assert _records(db, "1001") == []
    r = client.post("/records/new", data={**typed, "vaccination_time": "１９：０５"})
    assert r.status_code == 200 and "保存しました" in r.text
    [rec] = _records(db, "1001")
    assert rec.vaccination_time == time(19, 5)
