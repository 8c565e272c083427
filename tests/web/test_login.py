"""Signing in with ID + password and a TOTP code; sessions and their cookie."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from sesshu.auth.models import StaffUser
from sesshu.auth.service import LOGIN_FAILED
from sesshu.clock import today_jst
from sesshu.web.app import create_app
from tests.web.conftest import csrf_token, login, submit_code, submit_password


def test_login_with_password_and_totp_reaches_the_menu(client, make_staff):
    staff = make_staff("clerk")
    login(client, staff)
    page = client.get("/")
    assert page.status_code == 200
    assert "職員 clerk-1" in page.text and "担当職員" in page.text and "ログアウト" in page.text


def test_password_alone_does_not_open_pages(client, make_staff):
    staff = make_staff("clerk")
    assert submit_password(client, staff.login_id).status_code == 303
    r = client.get("/search")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/api/v1/persons", params={"kana": "ヤ"}).status_code == 401


def test_wrong_password_and_unknown_id_give_the_same_message(client, make_staff):
    staff = make_staff("clerk")
    wrong = submit_password(client, staff.login_id, "not-the-password-123")
    unknown = submit_password(client, "nobody-here", "not-the-password-123")
    assert wrong.status_code == unknown.status_code == 400
    assert LOGIN_FAILED in wrong.text and LOGIN_FAILED in unknown.text
    assert "sesshu_session" not in wrong.cookies and "sesshu_session" not in unknown.cookies


def test_account_locks_after_five_failures(client, make_staff, db):
    staff = make_staff("clerk")
    for _ in range(5):
        assert submit_password(client, staff.login_id, "not-the-password-123").status_code == 400
    r = submit_password(client, staff.login_id)
    assert r.status_code == 400 and LOGIN_FAILED in r.text
    with db.transaction() as s:
        assert s.execute(select(StaffUser.locked_until).where(StaffUser.login_id == staff.login_id)).scalar_one()


def test_expired_account_is_refused_with_the_same_message(client, make_staff):
    staff = make_staff("clerk", valid_until=today_jst() - timedelta(days=1))
    r = submit_password(client, staff.login_id)
    assert r.status_code == 400 and LOGIN_FAILED in r.text


def test_replayed_totp_code_is_refused(client, make_staff):
    staff = make_staff("clerk")
    code = staff.next_code()
    submit_password(client, staff.login_id)
    assert submit_code(client, code).headers["location"] == "/"
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").text)})
    submit_password(client, staff.login_id)
    r = submit_code(client, code)
    assert r.status_code == 400 and "確認コードが正しくありません" in r.text
    assert client.get("/").status_code == 303


def test_wrong_totp_code_is_refused(client, make_staff):
    staff = make_staff("clerk")
    submit_password(client, staff.login_id)
    r = submit_code(client, "000000" if staff.next_code() != "000000" else "111111")
    assert r.status_code == 400
    assert client.get("/").status_code == 303


def _session_cookie_header(response) -> str:
    return next(v for v in response.headers.get_list("set-cookie") if v.startswith("sesshu_session="))


def test_session_cookie_is_httponly_and_samesite_strict(client, make_staff):
    staff = make_staff("clerk")
    header = _session_cookie_header(submit_password(client, staff.login_id)).lower()
    assert "httponly" in header and "samesite=strict" in header and "path=/" in header
    assert "secure" not in header.replace("sesshu_session", "")


def test_session_cookie_is_secure_when_configured(settings, db, make_staff):
    app = create_app(dataclasses.replace(settings, secure_cookies=True))
    staff = make_staff("clerk")
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        header = _session_cookie_header(submit_password(c, staff.login_id)).lower()
        assert "; secure" in header and "httponly" in header and "samesite=strict" in header
        login_cookie = next(v for v in c.get("/login").headers.get_list("set-cookie")
                            if v.startswith("sesshu_login_csrf="))
        assert "; secure" in login_cookie.lower()
    app.state.db.dispose()


def test_login_issues_a_new_session_token_after_the_second_factor(client, make_staff):
    staff = make_staff("clerk")
    first = submit_password(client, staff.login_id).cookies["sesshu_session"]
    second = submit_code(client, staff.next_code()).cookies["sesshu_session"]
    assert first != second


def test_logout_ends_the_session(client, make_staff):
    staff = make_staff("clerk")
    token = login(client, staff)
    old_cookie = client.cookies["sesshu_session"]
    r = client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    client.cookies.set("sesshu_session", old_cookie)
    assert client.get("/").status_code == 303


def test_signed_in_user_visiting_login_goes_to_the_menu(client, make_staff):
    login(client, make_staff("clerk"))
    assert client.get("/login").headers["location"] == "/"


def test_the_second_factor_must_follow_the_password_within_minutes(client, make_staff, db):
    from sqlalchemy import update

    from sesshu.auth.models import WebSession
    from sesshu.auth.service import SECOND_STEP_MINUTES
    from sesshu.clock import utcnow

    staff = make_staff("clerk")
    assert submit_password(client, staff.login_id).headers["location"] == "/login/totp"
    with db.transaction() as s:  # the password was proven long ago (and the page kept alive since)
        s.execute(update(WebSession).values(created_at=utcnow() - timedelta(minutes=SECOND_STEP_MINUTES + 1),
                                            last_seen_at=utcnow()))
    r = submit_code(client, staff.next_code())
    assert r.status_code == 400 and client.get("/").status_code == 303
