"""Account lifecycle (退職・休職・異動; seed III: IDs are retired as staff move, no unneeded ID remains):
the security officer deactivates / reactivates an account, changes its valid-until date and its role —
on the page and the CLI, with a reason, audited, never on their own account."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from sesshu.audit.models import AuditEntry
from sesshu.auth.models import StaffUser, WebSession
from sesshu.auth.service import LOGIN_FAILED
from sesshu.cli import app as cli_app
from sesshu.clock import today_jst, utcnow
from sesshu.domain.errors import Conflict, Forbidden, InvalidInput
from tests.web.conftest import login, submit_password


def _entries(db, action: str) -> list[dict]:
    with db.transaction() as s:
        rows = s.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).scalars()
        return [{"actor": e.actor, "actor_kind": e.actor_kind, **json.loads(e.detail)} for e in rows]


def _user(db, login_id: str) -> StaffUser:
    with db.transaction() as s:
        user = s.execute(select(StaffUser).where(StaffUser.login_id == login_id)).scalar_one()
        s.expunge(user)
        return user


@pytest.fixture
def officer_client(app, make_staff):
    """A signed-in security officer in a browser of their own (the clerk uses `client`)."""
    officer = make_staff("security_officer")
    with TestClient(app, follow_redirects=False) as c:
        csrf = login(c, officer)
        yield c, csrf, officer


def _post(officer_client, login_id: str, action: str, **data):
    c, csrf, _ = officer_client
    return c.post(f"/admin/accounts/{login_id}/{action}", data={"csrf_token": csrf, **data})


def test_deactivation_ends_the_live_session_and_refuses_sign_in(client, make_staff, db, officer_client):
    clerk = make_staff("clerk")
    login(client, clerk)
    assert client.get("/search").status_code == 200

    r = _post(officer_client, clerk.login_id, "deactivate", reason="退職（3月31日付）")
    assert r.status_code == 303 and r.headers["location"] == "/admin/accounts?done=deactivated"
    # The clerk's open page stops working at the next request.
    r = client.get("/search")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    with db.transaction() as s:
        live = s.execute(select(WebSession).where(WebSession.revoked.is_(False))).scalars().all()
    assert {w.user_id for w in live} == {_user(db, "security-officer-1").id}
    # Sign-in is refused with the same words as a wrong password (no hint that the ID exists).
    r = submit_password(client, clerk.login_id)
    assert r.status_code == 400 and LOGIN_FAILED in r.text
    assert _entries(db, "auth.login_failed")[-1]["reason"] == "inactive"

    entry = _entries(db, "user.deactivate")
    assert entry == [{"actor": "security-officer-1", "actor_kind": "user", "login_id": clerk.login_id,
                      "reason": "退職（3月31日付）", "ended_sessions": 1}]
    page = officer_client[0].get("/admin/accounts?done=deactivated")
    assert "アカウントを停止しました" in page.text and f"/admin/accounts/{clerk.login_id}/reactivate" in page.text


def test_reactivation_lets_the_account_sign_in_again(client, make_staff, db, officer_client):
    clerk = make_staff("clerk")
    assert _post(officer_client, clerk.login_id, "deactivate", reason="休職").status_code == 303
    r = _post(officer_client, clerk.login_id, "deactivate", reason="休職")
    assert r.status_code == 409 and "既に停止されています" in r.text
    assert _post(officer_client, clerk.login_id, "reactivate", reason="").status_code == 400  # a reason is required
    r = _post(officer_client, clerk.login_id, "reactivate", reason="復職")
    assert r.status_code == 303
    assert _user(db, clerk.login_id).is_active
    login(client, clerk)
    assert client.get("/search").status_code == 200
    assert [e["reason"] for e in _entries(db, "user.reactivate")] == ["復職"]


def test_a_lapsed_account_is_not_reactivated_before_its_date_is_changed(make_staff, db, officer_client):
    clerk = make_staff("clerk", valid_until=today_jst() - timedelta(days=1))
    assert _post(officer_client, clerk.login_id, "deactivate", reason="任期満了").status_code == 303
    r = _post(officer_client, clerk.login_id, "reactivate", reason="再任用")
    assert r.status_code == 409 and "先に有効期限を変更してください" in r.text
    assert not _user(db, clerk.login_id).is_active


def test_the_officer_cannot_deactivate_or_change_their_own_account(db, officer_client):
    officer = officer_client[2]
    for action, data in (("deactivate", {}), ("role", {"role": "clerk"}),
                         ("valid-until", {"valid_until": (today_jst() + timedelta(days=30)).isoformat()})):
        r = _post(officer_client, officer.login_id, action, reason="自分で変更", **data)
        assert r.status_code == 403 and "別のセキュリティ責任者に依頼してください" in r.text, action
    user = _user(db, officer.login_id)
    assert user.is_active and user.role == "security_officer" and user.valid_until is None
    assert [e["change"] for e in _entries(db, "user.self_change_refused")] == ["deactivate", "role", "valid_until"]
    assert _entries(db, "user.deactivate") == [] and _entries(db, "user.role") == []
    # The page offers no forms for one's own account.
    page = officer_client[0].get("/admin/accounts").text
    assert f"/admin/accounts/{officer.login_id}/deactivate" not in page
    assert "ご自身のアカウントの停止・変更は" in page


def test_another_officer_can_deactivate_an_officer(make_staff, db, officer_client):
    other = make_staff("security_officer", login_id="security-officer-2")
    assert _post(officer_client, other.login_id, "deactivate", reason="異動").status_code == 303
    assert not _user(db, other.login_id).is_active


def test_role_change_ends_sessions_and_takes_effect(client, make_staff, db, officer_client):
    clerk = make_staff("clerk")
    login(client, clerk)
    assert client.get("/search").status_code == 200
    assert client.get("/audit").status_code == 403

    r = _post(officer_client, clerk.login_id, "role", role="auditor", reason="監査担当へ異動")
    assert r.status_code == 303 and r.headers["location"] == "/admin/accounts?done=role"
    assert client.get("/search").headers["location"] == "/login"  # the old session is over
    login(client, clerk)
    assert client.get("/search").status_code == 403
    assert client.get("/audit").status_code == 200
    assert _entries(db, "user.role") == [{"actor": "security-officer-1", "actor_kind": "user",
                                          "login_id": clerk.login_id, "before": "clerk", "after": "auditor",
                                          "reason": "監査担当へ異動", "ended_sessions": 1}]

    r = _post(officer_client, clerk.login_id, "role", role="superuser", reason="誤り")
    assert r.status_code == 400 and "役割が正しくありません" in r.text
    r = _post(officer_client, clerk.login_id, "role", role="auditor", reason="同じ")
    assert r.status_code == 409 and _user(db, clerk.login_id).role == "auditor"


def test_valid_until_change(make_staff, db, officer_client):
    clerk = make_staff("clerk")
    day = today_jst() + timedelta(days=60)
    r = _post(officer_client, clerk.login_id, "valid-until", valid_until=day.isoformat(), reason="任期の設定")
    assert r.status_code == 303 and _user(db, clerk.login_id).valid_until == day
    r = _post(officer_client, clerk.login_id, "valid-until", valid_until="", reason="正規任用")
    assert r.status_code == 303 and _user(db, clerk.login_id).valid_until is None
    past = (today_jst() - timedelta(days=1)).isoformat()
    r = _post(officer_client, clerk.login_id, "valid-until", valid_until=past, reason="誤り")
    assert r.status_code == 400 and "今日以降の日付" in r.text
    r = _post(officer_client, clerk.login_id, "valid-until", valid_until="2026-02-30", reason="誤り")
    assert r.status_code == 400 and "存在しない日付" in r.text
    assert [(e["before"], e["after"], e["reason"]) for e in _entries(db, "user.valid_until")] == [
        (None, day.isoformat(), "任期の設定"), (day.isoformat(), None, "正規任用")]


def test_changes_need_a_recent_reauthentication(make_staff, db, officer_client):
    clerk = make_staff("clerk")
    with db.transaction() as s:
        s.execute(update(WebSession).values(reauth_at=utcnow() - timedelta(hours=1)))
    r = _post(officer_client, clerk.login_id, "deactivate", reason="退職")
    assert r.status_code == 303 and r.headers["location"].startswith("/reauth?next=")
    assert _user(db, clerk.login_id).is_active and _entries(db, "user.deactivate") == []


def test_a_clerk_cannot_deactivate_anyone(client, make_staff, db):
    clerk = make_staff("clerk")
    target = make_staff("clerk", login_id="clerk-2")
    csrf = login(client, clerk)
    r = client.post(f"/admin/accounts/{target.login_id}/deactivate", data={"csrf_token": csrf, "reason": "x"})
    assert r.status_code == 403 and _user(db, target.login_id).is_active


# --- command line -----------------------------------------------------------------------------------

@pytest.fixture
def cli(settings, monkeypatch):
    monkeypatch.setenv("SESSHU_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("SESSHU_DATABASE_URL", settings.resolved_database_url)
    return lambda *args: CliRunner().invoke(cli_app, ["user", *args])


def test_cli_disable_enable_and_set(cli, client, make_staff, db):
    clerk = make_staff("clerk")
    login(client, clerk)
    result = cli("disable", clerk.login_id, "--reason", "退職")
    assert result.exit_code == 0 and "停止しました" in result.output, result.output
    assert client.get("/search").headers["location"] == "/login"
    assert not _user(db, clerk.login_id).is_active
    assert isinstance(cli("disable", clerk.login_id, "--reason", "退職").exception, Conflict)

    result = cli("enable", clerk.login_id, "--reason", "復職")
    assert result.exit_code == 0, result.output
    assert _user(db, clerk.login_id).is_active

    day = today_jst() + timedelta(days=90)
    result = cli("set", clerk.login_id, "--valid-until", day.isoformat(), "--role", "supervisor", "--reason", "昇任")
    assert result.exit_code == 0, result.output
    user = _user(db, clerk.login_id)
    assert user.valid_until == day and user.role == "supervisor"
    result = cli("set", clerk.login_id, "--valid-until", "none", "--reason", "正規任用")
    assert result.exit_code == 0 and _user(db, clerk.login_id).valid_until is None

    assert {e["actor_kind"] for a in ("user.deactivate", "user.reactivate", "user.valid_until", "user.role")
            for e in _entries(db, a)} == {"os"}
    assert [e["reason"] for e in _entries(db, "user.valid_until")] == ["昇任", "正規任用"]


def test_cli_refuses_bad_input_before_changing_anything(cli, make_staff, db):
    clerk = make_staff("clerk")
    day = (today_jst() + timedelta(days=30)).isoformat()
    result = cli("set", clerk.login_id, "--valid-until", day, "--role", "admin", "--reason", "誤り")
    assert isinstance(result.exception, InvalidInput) and "役割が正しくありません" in str(result.exception)
    assert _user(db, clerk.login_id).valid_until is None  # nothing half-done
    assert isinstance(cli("set", clerk.login_id, "--reason", "なし").exception, InvalidInput)
    assert isinstance(cli("set", clerk.login_id, "--valid-until", "明日", "--reason", "誤り").exception, InvalidInput)
    assert isinstance(cli("disable", clerk.login_id, "--reason", "  ").exception, InvalidInput)
    assert _user(db, clerk.login_id).is_active


def test_service_refuses_self_change_for_a_user_actor(make_staff, db):
    from sesshu.actor import Actor
    from sesshu.auth.accounts import set_role

    officer = make_staff("security_officer")
    me = _user(db, officer.login_id)
    actor = Actor(login_id=me.login_id, kind="user", role=me.role, user_id=me.id)
    with pytest.raises(Forbidden):
        set_role(db, actor=actor, login_id=me.login_id, role="supervisor", reason="昇格")
    assert _user(db, officer.login_id).role == "security_officer"


def _signs_in_with(app, login_id: str, password: str, secret: str):
    """Password and TOTP as a new browser would; returns the client (or the failing response)."""
    import pyotp
    from tests.web.conftest import csrf_token, submit_code
    c = TestClient(app, follow_redirects=False)
    r = submit_password(c, login_id, password)
    assert r.status_code == 303, r.text
    r = submit_code(c, pyotp.TOTP(secret).now())
    assert r.status_code == 303, r.text
    return c


def test_the_officer_creates_an_account_that_must_change_its_password(app, db, officer_client):
    """Issue 22 item 11: accounts could only be made on the server's command line."""
    c, csrf, _ = officer_client
    r = c.post("/admin/accounts/new", data={"csrf_token": csrf, "login_id": "suzuki-h", "display_name": "鈴木 花子",
                                            "role": "clerk", "valid_until": "", "task": "yobo_sesshu",
                                            "department": "健康づくり課"})
    assert r.status_code == 200 and "suzuki-h を登録しました" in r.text and r.headers["cache-control"] == "no-store"
    import re
    password = re.search(r'id="issued-password">([^<]+)<', r.text).group(1)
    secret = re.search(r'id="issued-totp">([^<]+)<', r.text).group(1)
    assert _user(db, "suzuki-h").must_change_password
    assert _entries(db, "user.create")[-1]["login_id"] == "suzuki-h"
    new = _signs_in_with(app, "suzuki-h", password, secret)
    first = new.get("/search")
    assert first.status_code == 303 and first.headers["location"].startswith("/account/password")
    bad = c.post("/admin/accounts/new", data={"csrf_token": csrf, "login_id": "suzuki-h", "display_name": "二重",
                                              "role": "clerk", "task": ""})
    assert bad.status_code == 409 and "既に使われています" in bad.text and 'value="二重"' in bad.text


def test_the_officer_resets_a_password_but_not_their_own(app, db, make_staff, client, officer_client):
    clerk = make_staff("clerk")
    login(client, clerk)
    r = _post(officer_client, clerk.login_id, "password-reset", reason="パスワード忘れ")
    assert r.status_code == 200 and "パスワードを再設定しました" in r.text
    import re
    password = re.search(r'id="issued-password">([^<]+)<', r.text).group(1)
    assert client.get("/search").status_code == 303  # the clerk's session ended
    assert _user(db, clerk.login_id).must_change_password
    assert _entries(db, "user.password_reset")[-1]["reason"] == "パスワード忘れ"
    assert submit_password(TestClient(app, follow_redirects=False), clerk.login_id, password).status_code == 303
    own = _post(officer_client, "security-officer-1", "password-reset", reason="自分で")
    assert own.status_code == 403 and "ご自身のアカウント" in own.text
