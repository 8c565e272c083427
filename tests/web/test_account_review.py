"""The security officer's periodic review: accounts unused for N days (never signed in counts from
creation) and accounts past their valid-until date, on a page and the CLI; viewing is audited."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select, update
from typer.testing import CliRunner

from sesshu.audit.models import AuditEntry
from sesshu.auth.models import StaffUser
from sesshu.cli import app as cli_app
from sesshu.clock import today_jst, utcnow
from tests.web.conftest import login


def _accounts(db, make_staff):
    for login_id in ("active-user", "idle-user", "never-user", "lapsed-user"):
        make_staff("security_officer", login_id=login_id)
    now = utcnow()
    with db.transaction() as s:
        for login_id, values in {
            "active-user": {"last_login_at": now - timedelta(days=3)},
            "idle-user": {"last_login_at": now - timedelta(days=120)},
            "never-user": {"created_at": now - timedelta(days=100), "last_login_at": None},
            "lapsed-user": {"valid_until": today_jst() - timedelta(days=1), "last_login_at": now},
        }.items():
            s.execute(update(StaffUser).where(StaffUser.login_id == login_id).values(**values))


def _review_entries(db) -> list[AuditEntry]:
    with db.transaction() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == "user.review")).scalars())


def test_review_page_lists_unused_and_expired_accounts(client, make_staff, db):
    _accounts(db, make_staff)
    officer = make_staff("security_officer")
    login(client, officer)
    page = client.get("/admin/accounts/review", params={"unused_days": 90})
    assert page.status_code == 200
    unused, expired = page.text.split("有効期限を過ぎたID")
    assert "idle-user" in unused and "never-user" in unused and "active-user" not in unused
    assert "lapsed-user" in expired and "idle-user" not in expired
    entries = _review_entries(db)
    assert len(entries) == 1 and entries[0].actor == officer.login_id
    assert json.loads(entries[0].detail) == {"unused_days": 90, "unused": 2, "expired": 1}


def test_review_refuses_a_nonsense_window(client, make_staff):
    login(client, make_staff("security_officer"))
    assert client.get("/admin/accounts/review", params={"unused_days": 0}).status_code == 400


def test_review_cli_prints_json(settings, db, make_staff, monkeypatch):
    _accounts(db, make_staff)
    monkeypatch.setenv("SESSHU_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("SESSHU_DATABASE_URL", settings.resolved_database_url)
    result = CliRunner().invoke(cli_app, ["user", "review", "--unused-days", "90", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {r["login_id"] for r in data["unused"]} == {"idle-user", "never-user"}
    assert [r["login_id"] for r in data["expired"]] == ["lapsed-user"]
    assert _review_entries(db)[0].actor_kind == "os"


def test_totp_fallback_cli_is_audited(settings, db, make_staff, monkeypatch):
    make_staff("clerk")
    monkeypatch.setenv("SESSHU_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("SESSHU_DATABASE_URL", settings.resolved_database_url)
    result = CliRunner().invoke(cli_app, ["user", "totp-fallback", "clerk-1", "--allow", "--reason", "端末の紛失"])
    assert result.exit_code == 0, result.output
    with db.transaction() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "user.totp_fallback")).scalar_one()
    assert json.loads(entry.detail)["reason"] == "端末の紛失"
