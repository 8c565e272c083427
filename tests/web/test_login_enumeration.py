"""The password step answers alike for unknown ID, wrong password, locked, expired, inactive and a
throttled client: the same page (apart from the fresh CSRF token and the echoed ID), the same status,
no session cookie, and one Argon2 verification each (the same work, so no timing oracle)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import update

from sesshu.auth.models import StaffUser
from sesshu.auth.service import LOGIN_FAILED
from sesshu.clock import today_jst, utcnow
from tests.web.conftest import PASSWORD, submit_password


def _normalised(html: str, login_id: str) -> str:
    html = re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value=""', html)
    return html.replace(f'value="{login_id}"', 'value=""')


def _set(db, login_id: str, **values) -> None:
    with db.transaction() as s:
        s.execute(update(StaffUser).where(StaffUser.login_id == login_id).values(**values))


@pytest.fixture
def argon2_calls(monkeypatch) -> list[int]:
    calls = []
    real = PasswordHasher.verify

    def counting(self, hash, password):
        calls.append(1)
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    return calls


def test_unknown_wrong_locked_expired_and_inactive_answer_identically(client, make_staff, db, argon2_calls):
    for name in ("wrong", "locked", "expired", "inactive"):
        make_staff("security_officer", login_id=f"{name}-person")
    _set(db, "locked-person", locked_until=utcnow() + timedelta(minutes=10))
    _set(db, "expired-person", valid_until=today_jst() - timedelta(days=1))
    _set(db, "inactive-person", is_active=False)
    attempts = {"unknown": ("nobody-here", "not-the-password-123"),
                "wrong": ("wrong-person", "not-the-password-123"),
                "locked": ("locked-person", PASSWORD), "expired": ("expired-person", PASSWORD),
                "inactive": ("inactive-person", PASSWORD)}
    bodies, verifications = {}, {}
    for case, (login_id, password) in attempts.items():
        before = len(argon2_calls)
        r = submit_password(client, login_id, password)
        verifications[case] = len(argon2_calls) - before
        assert r.status_code == 400, case
        assert LOGIN_FAILED in r.text and "sesshu_session" not in r.cookies, case
        bodies[case] = _normalised(r.text, login_id)
    assert len(set(bodies.values())) == 1, {k: len(v) for k, v in bodies.items()}
    assert set(verifications.values()) == {1}, verifications


def test_expired_account_with_the_right_password_cannot_sign_in(client, make_staff, db):
    staff = make_staff("security_officer")
    _set(db, staff.login_id, valid_until=today_jst() - timedelta(days=1))
    r = submit_password(client, staff.login_id)
    assert r.status_code == 400 and LOGIN_FAILED in r.text


def test_account_valid_until_today_can_still_sign_in(client, make_staff, db):
    staff = make_staff("security_officer")
    _set(db, staff.login_id, valid_until=today_jst())
    assert submit_password(client, staff.login_id).headers["location"] == "/login/totp"


def test_account_that_lapses_ends_its_open_session(client, make_staff, db):
    from tests.web.conftest import login

    staff = make_staff("security_officer")
    login(client, staff)
    assert client.get("/").status_code == 200
    _set(db, staff.login_id, valid_until=today_jst() - timedelta(days=1))
    assert client.get("/").headers["location"] == "/login"
