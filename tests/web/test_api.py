"""JSON API v1: same session and permissions as the pages, X-CSRF-Token on unsafe methods."""
from __future__ import annotations

from tests.web.conftest import MY_NUMBER, add_record, login


def test_openapi_schema_is_for_signed_in_staff_only(client, make_staff):
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/api/v1/openapi.json").status_code == 401
    login(client, make_staff("auditor"))
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert {"/api/v1/persons", "/api/v1/persons/{atena_no}", "/api/v1/records/{record_id}/correct",
            "/api/v1/records/{record_id}/void", "/healthz"} <= set(paths)
    assert not any(p.startswith(("/search", "/persons", "/login")) for p in paths)


def test_search_returns_a_page_of_persons(client, make_staff, persons):
    login(client, make_staff("clerk"))
    body = client.get("/api/v1/persons", params={"kana": "ヤマダ"}).json()
    assert body["total"] == 1 and body["rows"][0]["atena_no"] == persons["plain"]
    assert body["rows"][0]["birth_date"] == "2020-04-01"


def test_search_errors_are_json_in_japanese(client, make_staff):
    login(client, make_staff("clerk"))
    r = client.get("/api/v1/persons")
    assert r.status_code == 400 and r.json()["error"]["message"] == "検索条件を1つ以上入力してください"


def test_person_with_records_and_masked_my_number(client, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    login(client, make_staff("clerk"))
    body = client.get(f"/api/v1/persons/{persons['plain']}").json()
    assert body["person"]["my_number_masked"] == "********" + MY_NUMBER[-4:]
    assert MY_NUMBER not in str(body)
    assert [r["id"] for r in body["records"]] == [rec]
    assert client.get("/api/v1/persons/424242").status_code == 404


def test_correct_parses_each_value_as_text(client, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    csrf = login(client, make_staff("supervisor"))
    r = client.post(f"/api/v1/records/{rec}/correct", headers={"X-CSRF-Token": csrf}, json={
        "expected_version": 1, "reason": "転記誤り",
        "changes": {"vaccinated_on": "令和3年4月12日", "dose_no": "2", "dose_volume_ml": "0.5mL", "category": "定期A類"}})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["vaccinated_on"], out["dose_no"], out["version"]) == ("2021-04-12", 2, 2)
    again = client.post(f"/api/v1/records/{rec}/correct", headers={"X-CSRF-Token": csrf},
                        json={"expected_version": 1, "reason": "転記誤り", "changes": {"lot_no": "X"}})
    assert again.status_code == 409 and again.json()["error"]["code"] == "E_CONFLICT"
    bad = client.post(f"/api/v1/records/{rec}/correct", headers={"X-CSRF-Token": csrf},
                      json={"expected_version": 2, "reason": "転記誤り", "changes": {"atena_no": "1"}})
    assert bad.status_code == 400 and "修正できない項目です" in bad.json()["error"]["message"]


def test_void_then_record_is_gone(client, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    csrf = login(client, make_staff("supervisor"))
    r = client.post(f"/api/v1/records/{rec}/void", headers={"X-CSRF-Token": csrf},
                    json={"expected_version": 1, "reason": "二重登録"})
    assert r.status_code == 200 and r.json() == {"id": rec, "status": "voided"}
    assert client.get(f"/api/v1/persons/{persons['plain']}").json()["records"] == []
    again = client.post(f"/api/v1/records/{rec}/void", headers={"X-CSRF-Token": csrf},
                        json={"expected_version": 1, "reason": "二重登録"})
    # The clerk saw version 1 and the record was voided since: a conflict naming the newer state, not "not found".
    assert again.status_code == 409 and again.json()["error"]["current"]["status"] == "voided"


def test_malformed_body_is_422_without_echoing_input(client, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    csrf = login(client, make_staff("supervisor"))
    r = client.post(f"/api/v1/records/{rec}/void", headers={"X-CSRF-Token": csrf},
                    json={"expected_version": "abc", "reason": "山田太郎さんの件"})
    assert r.status_code == 422 and "山田" not in r.text


def test_person_api_lists_conditions_without_the_handbook_details(client, db, make_staff, persons):
    from sesshu.clock import today_jst
    from sesshu.conditions.schemas import ConditionEntry
    from sesshu.conditions.service import record_condition
    from tests.web.conftest import ADMIN

    record_condition(db, actor=ADMIN, atena_no=persons["plain"], entry=ConditionEntry(
        condition_code="designated_disability", impairment="kidney", evidence_kind="handbook", evidence_grade=1,
        evidence_no="埼玉第123456号", confirmed_on=today_jst(), reason="窓口で身体障害者手帳（1級）を確認"))
    login(client, make_staff("clerk"))
    body = client.get(f"/api/v1/persons/{persons['plain']}").json()
    assert [(c["condition_code"], c["state"]) for c in body["conditions"]] == [("designated_disability", "holds")]
    assert "123456" not in str(body) and "kidney" not in str(body)
