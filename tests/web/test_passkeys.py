"""Passkeys as the second factor: registration by the signed-in user, sign-in with password + passkey,
and every refusal (no user verification, replayed or expired challenge, sign count going back, wrong
origin), plus the TOTP fallback that only a security officer can allow."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select, update

from sesshu.audit.models import AuditEntry
from sesshu.auth.models import StaffUser, WebAuthnCredential, WebSession
from sesshu.clock import utcnow
from tests.web.conftest import PASSWORD, csrf_token, login, submit_code, submit_password
from tests.web.softauthn import SoftAuthenticator


def json_post(client, url: str, csrf: str, body: dict | None = None):
    return client.post(url, json=body or {}, headers={"X-CSRF-Token": csrf, "Accept": "application/json"})


def register(client, csrf: str, authenticator: SoftAuthenticator, label: str = "窓口PC"):
    options = json_post(client, "/account/passkeys/options", csrf)
    assert options.status_code == 200, options.text
    options = options.json()
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["authenticatorAttachment"] == "platform"
    return json_post(client, "/account/passkeys/verify", csrf,
                     {"credential": authenticator.create(options), "label": label})


def start_passkey_login(client, staff) -> tuple[str, dict]:
    r = submit_password(client, staff.login_id)
    assert r.status_code == 303 and r.headers["location"] == "/login/passkey", r.headers
    csrf = csrf_token(client.get("/login/passkey").text)
    options = json_post(client, "/login/passkey/options", csrf)
    assert options.status_code == 200, options.text
    return csrf, options.json()


def logout(client):
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").text)})


def actions(db, action: str) -> list[dict]:
    with db.transaction() as s:
        return [json.loads(e.detail) for e in s.execute(select(AuditEntry).where(AuditEntry.action == action)
                                                        .order_by(AuditEntry.seq)).scalars()]


def test_register_then_sign_in_with_password_and_passkey(client, make_staff, db):
    staff = make_staff("clerk")
    csrf = login(client, staff)
    key = SoftAuthenticator()
    r = register(client, csrf, key)
    assert r.status_code == 200 and r.json()["redirect"].startswith("/account/passkeys"), r.text
    page = client.get("/account/passkeys")
    assert "窓口PC" in page.text and "確認コードでのログインは停止されています" in page.text
    with db.transaction() as s:
        user = s.execute(select(StaffUser).where(StaffUser.login_id == staff.login_id)).scalar_one()
        cred = s.execute(select(WebAuthnCredential).where(WebAuthnCredential.user_id == user.id)).scalar_one()
        assert user.totp_allowed is False and cred.transports == "internal" and cred.sign_count == 0
    assert actions(db, "auth.passkey_registered")[0]["totp_turned_off"] is True
    logout(client)

    csrf, options = start_passkey_login(client, staff)
    assert options["userVerification"] == "required"
    assert [c["id"] for c in options["allowCredentials"]] == [cred.credential_id]
    r = json_post(client, "/login/passkey/verify", csrf, {"credential": key.get(options)})
    assert r.status_code == 200 and r.json() == {"redirect": "/"}, r.text
    assert client.get("/").status_code == 200
    with db.transaction() as s:
        cred = s.get(WebAuthnCredential, cred.id)
        assert cred.sign_count == 1 and cred.last_used_at is not None
    assert actions(db, "auth.login")[-1]["factor"] == "passkey"


def _registered(client, make_staff, db, **kw):
    staff = make_staff("clerk")
    csrf = login(client, staff)
    key = SoftAuthenticator(**kw)
    assert register(client, csrf, key).status_code == 200
    logout(client)
    return staff, key


def test_sign_in_without_user_verification_is_refused(client, make_staff, db):
    staff, key = _registered(client, make_staff, db)
    key.user_verified = False
    csrf, options = start_passkey_login(client, staff)
    r = json_post(client, "/login/passkey/verify", csrf, {"credential": key.get(options)})
    assert r.status_code == 400 and "パスキーによる認証に失敗しました" in r.json()["error"]["message"]
    assert client.get("/").status_code == 303
    assert actions(db, "auth.mfa_failed")[-1]["reason"] == "user_not_verified"


def test_registration_without_user_verification_is_refused(client, make_staff, db):
    staff = make_staff("clerk")
    csrf = login(client, staff)
    r = register(client, csrf, SoftAuthenticator(user_verified=False))
    assert r.status_code == 400 and "登録できませんでした" in r.json()["error"]["message"]
    with db.transaction() as s:
        assert s.execute(select(WebAuthnCredential)).first() is None
    assert actions(db, "auth.passkey_register_failed")[-1]["reason"] == "user_not_verified"


def test_sign_count_that_goes_back_is_refused(client, make_staff, db):
    staff, key = _registered(client, make_staff, db)
    csrf, options = start_passkey_login(client, staff)
    assert json_post(client, "/login/passkey/verify", csrf, {"credential": key.get(options, sign_count=7)}).status_code == 200
    logout(client)
    csrf, options = start_passkey_login(client, staff)
    r = json_post(client, "/login/passkey/verify", csrf, {"credential": key.get(options, sign_count=5)})
    assert r.status_code == 400
    assert actions(db, "auth.mfa_failed")[-1]["reason"] == "sign_count_regression"


def test_a_challenge_answers_once_only(client, make_staff, db):
    staff, key = _registered(client, make_staff, db)
    csrf, options = start_passkey_login(client, staff)
    answer = key.get(options)
    # A first, wrong answer (another key) uses the challenge up; the right answer to it then fails.
    other = SoftAuthenticator(credential_id=key.credential_id)
    assert json_post(client, "/login/passkey/verify", csrf, {"credential": other.get(options)}).status_code == 400
    assert json_post(client, "/login/passkey/verify", csrf, {"credential": answer}).status_code == 400
    assert actions(db, "auth.mfa_failed")[-1]["reason"] == "no_challenge"


def test_an_expired_challenge_is_refused(client, make_staff, db):
    staff, key = _registered(client, make_staff, db)
    csrf, options = start_passkey_login(client, staff)
    with db.transaction() as s:
        s.execute(update(WebSession).where(WebSession.challenge.is_not(None))
                  .values(challenge_expires_at=utcnow() - timedelta(seconds=1)))
    assert json_post(client, "/login/passkey/verify", csrf, {"credential": key.get(options)}).status_code == 400
    assert actions(db, "auth.mfa_failed")[-1]["reason"] == "no_challenge"


def test_an_answer_from_another_origin_is_refused(client, make_staff, db):
    staff, key = _registered(client, make_staff, db)
    key.origin = "http://localhost.evil.example"
    csrf, options = start_passkey_login(client, staff)
    assert json_post(client, "/login/passkey/verify", csrf, {"credential": key.get(options)}).status_code == 400
    assert actions(db, "auth.mfa_failed")[-1]["reason"] == "origin_mismatch"


def test_totp_is_refused_once_a_passkey_exists_until_the_security_officer_allows_it(client, make_staff, db, app):
    from fastapi.testclient import TestClient

    staff, key = _registered(client, make_staff, db)
    assert submit_password(client, staff.login_id).headers["location"] == "/login/passkey"
    assert client.get("/login/totp").headers["location"] == "/login/passkey"
    r = submit_code_direct(client, staff.next_code())
    assert r.status_code == 400 and client.get("/").status_code == 303
    assert actions(db, "auth.mfa_failed")[-1]["reason"] == "totp_not_allowed"

    officer = make_staff("security_officer")
    with TestClient(app, follow_redirects=False) as admin:
        admin_csrf = login(admin, officer)
        assert staff.login_id in admin.get("/admin/accounts").text
        r = admin.post(f"/admin/accounts/{staff.login_id}/totp-fallback",
                       data={"csrf_token": admin_csrf, "allowed": "1", "reason": "端末の故障"})
        assert r.status_code == 303, r.text
    fallback = actions(db, "user.totp_fallback")[-1]
    assert fallback.pop("until")  # the fallback lapses (test_totp_expiry)
    assert fallback == {"login_id": staff.login_id, "allowed": True, "reason": "端末の故障", "passkeys": 1}
    client.cookies.clear()
    submit_password(client, staff.login_id)
    assert submit_code(client, staff.next_code()).headers["location"] == "/"


def submit_code_direct(client, code: str):
    """Post a code to the TOTP step without its page (which now redirects to the passkey page)."""
    csrf = csrf_token(client.get("/login/passkey").text)
    return client.post("/login/totp", data={"code": code, "csrf_token": csrf})


def test_officer_cannot_deny_totp_to_someone_without_a_passkey(client, make_staff, app):
    make_staff("clerk")
    officer = make_staff("security_officer")
    csrf = login(client, officer)
    r = client.post("/admin/accounts/clerk-1/totp-fallback", data={"csrf_token": csrf, "allowed": "0", "reason": "x"})
    assert r.status_code == 409 and "ログインできなくなります" in r.text


def test_the_last_passkey_stays_while_totp_is_off_and_others_can_go(client, make_staff, db):
    staff = make_staff("clerk")
    csrf = login(client, staff)
    assert register(client, csrf, SoftAuthenticator(), "PC-1").status_code == 200
    assert register(client, csrf, SoftAuthenticator(), "PC-2").status_code == 200
    with db.transaction() as s:
        ids = [c.id for c in s.execute(select(WebAuthnCredential).order_by(WebAuthnCredential.id)).scalars()]
    assert client.post(f"/account/passkeys/{ids[0]}/delete", data={"csrf_token": csrf}).status_code == 303
    r = client.post(f"/account/passkeys/{ids[1]}/delete", data={"csrf_token": csrf})
    assert r.status_code == 409 and "最後のパスキーは削除できません" in r.text
    assert [d["label"] for d in actions(db, "auth.passkey_removed")] == ["PC-1"]


def test_a_user_cannot_remove_someone_elses_passkey(client, make_staff, db, app):
    from fastapi.testclient import TestClient

    _registered(client, make_staff, db)
    with db.transaction() as s:
        pk = s.execute(select(WebAuthnCredential.id)).scalar_one()
    with TestClient(app, follow_redirects=False) as other:
        csrf = login(other, make_staff("supervisor"))
        assert other.post(f"/account/passkeys/{pk}/delete", data={"csrf_token": csrf}).status_code == 404
    with db.transaction() as s:
        assert s.get(WebAuthnCredential, pk) is not None


def test_password_is_still_the_first_factor(client, make_staff, db):
    staff, key = _registered(client, make_staff, db)
    r = submit_password(client, staff.login_id, PASSWORD + "x")
    assert r.status_code == 400
    # No pre-MFA session, so no challenge can be asked for.
    assert client.get("/login/passkey").headers["location"] == "/login"
