"""The TOTP code lapses: 14 days after an account is made (time to register a passkey), 7 days after a
security officer allows it again as a fallback; then only a passkey signs in. Demo accounts keep it."""
from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from sesshu.auth.accounts import set_totp_fallback
from sesshu.auth.models import StaffUser
from sesshu.auth.service import TOTP_ENROLMENT, TOTP_FALLBACK
from sesshu.clock import utcnow
from tests.web.conftest import ADMIN, submit_code, submit_password


def _until(db, login_id: str):
    with db.transaction() as s:
        return s.execute(select(StaffUser.totp_allowed_until).where(StaffUser.login_id == login_id)).scalar_one()


def _signs_in_with_a_code(app, staff) -> bool:
    with TestClient(app, follow_redirects=False) as client:
        step = submit_password(client, staff.login_id)
        if step.headers.get("location") != "/login/totp":  # the code is no longer offered
            return False
        r = submit_code(client, staff.next_code())
        return r.status_code == 303 and r.headers.get("location") == "/"


def test_a_new_accounts_code_lapses_after_the_enrolment_period(app, db, make_staff):
    staff = make_staff("clerk")
    until = _until(db, staff.login_id)
    assert until is not None and abs((until - utcnow()) - TOTP_ENROLMENT) < timedelta(minutes=5)
    assert _signs_in_with_a_code(app, staff)
    with db.transaction() as s:
        s.execute(update(StaffUser).where(StaffUser.login_id == staff.login_id)
                  .values(totp_allowed_until=utcnow() - timedelta(seconds=1)))
    assert not _signs_in_with_a_code(app, staff)
    # A code posted anyway (an old tab) is refused and the reason is on record.
    from sesshu.auth.service import _check_totp
    from sesshu.keys import load_keyring

    with db.transaction() as s:
        user = s.execute(select(StaffUser).where(StaffUser.login_id == staff.login_id)).scalar_one()
        assert _check_totp(load_keyring(app.state.settings), user, staff.next_code(), utcnow()) == "totp_expired"


def test_a_fallback_allowed_by_the_officer_lapses_after_a_week(app, db, make_staff):
    staff = make_staff("clerk")
    set_totp_fallback(db, actor=ADMIN, login_id=staff.login_id, allowed=True, reason="認証器の紛失")
    until = _until(db, staff.login_id)
    assert abs((until - utcnow()) - TOTP_FALLBACK) < timedelta(minutes=5)
    assert _signs_in_with_a_code(app, staff)
