"""Re-authentication for sensitive actions (`require_recent_auth`): a stale session is sent to
/reauth (pages) or answered 401 E_REAUTH_REQUIRED (JSON), proves password + second factor again, and
comes back only to a local path."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from sesshu.auth.models import WebSession
from sesshu.clock import utcnow
from tests.web.conftest import PASSWORD, login


def _age_sessions(db, minutes: int = 6) -> None:
    with db.transaction() as s:
        s.execute(update(WebSession).values(reauth_at=utcnow() - timedelta(minutes=minutes)))


def test_stale_session_must_reauthenticate_before_a_sensitive_action(client, make_staff, db):
    staff = make_staff("clerk")
    csrf = login(client, staff)
    _age_sessions(db)
    r = client.post("/account/passkeys/options", headers={"X-CSRF-Token": csrf, "Accept": "application/json"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "E_REAUTH_REQUIRED"
    assert r.json()["error"]["reauth_url"] == "/reauth?next=%2Faccount%2Fpasskeys"
    # A page form goes to /reauth and back to the page at the same address.
    r = client.post("/account/passkeys/1/delete", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/reauth?next=%2Faccount%2Fpasskeys"

    page = client.get("/reauth", params={"next": "/account/passkeys"})
    assert page.status_code == 200 and "本人確認" in page.text
    wrong = client.post("/reauth", data={"csrf_token": csrf, "password": "not-the-password-123",
                                         "code": staff.next_code(), "next": "/account/passkeys"})
    assert wrong.status_code == 400 and "正しくありません" in wrong.text
    ok = client.post("/reauth", data={"csrf_token": csrf, "password": PASSWORD, "code": staff.next_code(),
                                      "next": "/account/passkeys"})
    assert ok.status_code == 303 and ok.headers["location"] == "/account/passkeys"
    r = client.post("/account/passkeys/options", headers={"X-CSRF-Token": csrf, "Accept": "application/json"})
    assert r.status_code == 200 and "challenge" in r.json()


def test_api_answers_401_with_the_reauth_code(app, client, make_staff, db):
    # The security officer's TOTP switch is sensitive too; its page form redirects, fetch gets JSON.
    officer = make_staff("security_officer")
    make_staff("clerk")
    csrf = login(client, officer)
    _age_sessions(db)
    r = client.post("/admin/accounts/clerk-1/totp-fallback", data={"csrf_token": csrf, "allowed": "1", "reason": "x"})
    assert r.status_code == 303 and r.headers["location"].startswith("/reauth?next=")
    r = client.post("/admin/accounts/clerk-1/totp-fallback", data={"csrf_token": csrf, "allowed": "1", "reason": "x"},
                    headers={"Accept": "application/json"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "E_REAUTH_REQUIRED"


def test_fresh_sign_in_counts_as_recent(client, make_staff):
    csrf = login(client, make_staff("clerk"))
    r = client.post("/account/passkeys/options", headers={"X-CSRF-Token": csrf, "Accept": "application/json"})
    assert r.status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"])
def test_reauth_never_redirects_off_site(client, make_staff, db, target):
    staff = make_staff("clerk")
    csrf = login(client, staff)
    _age_sessions(db)
    page = client.get("/reauth", params={"next": target})
    assert 'name="next" value="/"' in page.text
    r = client.post("/reauth", data={"csrf_token": csrf, "password": PASSWORD, "code": staff.next_code(),
                                     "next": target})
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_reauth_requires_a_signed_in_session(client, make_staff):
    assert client.get("/reauth").headers["location"] == "/login"
