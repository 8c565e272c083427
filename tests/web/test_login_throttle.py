"""Per-client throttle: 20 failed sign-in steps from one address within 10 minutes refuse every further
attempt from it (even with the right password) with the same message; it is kept in the database, so
another server process sees it too."""
from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from sesshu.auth.models import LoginFailure
from sesshu.auth.service import CLIENT_MAX_FAILURES, LOGIN_FAILED
from sesshu.clock import utcnow
from sesshu.web.app import create_app
from tests.web.conftest import submit_password


def test_twenty_failures_from_one_client_refuse_even_the_right_password(client, make_staff, settings, db):
    staff = make_staff("clerk")
    for i in range(CLIENT_MAX_FAILURES):
        # Different unknown IDs: the per-account lock never comes into play.
        assert submit_password(client, f"guessing-{i}", "not-the-password-123").status_code == 400
    r = submit_password(client, staff.login_id)
    assert r.status_code == 400 and LOGIN_FAILED in r.text and "sesshu_session" not in r.cookies

    # A second server process (its own engine) over the same database refuses the client too.
    other = create_app(settings)
    with TestClient(other, follow_redirects=False) as c2:
        assert submit_password(c2, staff.login_id).status_code == 400
    other.state.db.dispose()


def test_the_throttle_ends_when_the_failures_are_older_than_the_window(client, make_staff, db):
    staff = make_staff("clerk")
    for i in range(CLIENT_MAX_FAILURES):
        submit_password(client, f"guessing-{i}", "not-the-password-123")
    with db.transaction() as s:
        s.execute(update(LoginFailure).values(occurred_at=utcnow() - timedelta(minutes=11)))
    assert submit_password(client, staff.login_id).status_code == 303
    submit_password(client, "guessing-x", "not-the-password-123")  # old rows are pruned with the next failure
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(LoginFailure)).scalar_one() == 1
