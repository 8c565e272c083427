"""`sesshu user add --task / assign / unassign / assignments`: the CLI over the access service."""
from __future__ import annotations

import json

from sqlalchemy import select

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit.models import AuditEntry
from sesshu.auth.models import StaffUser
from tests.integration.test_cli import run

PASSWORD = "Kumagaya-sesshu-2026\nKumagaya-sesshu-2026\n"


def _scope(db, login_id: str):
    with db.transaction() as s:
        uid = s.execute(select(StaffUser.id).where(StaffUser.login_id == login_id)).scalar_one()
        return access.scope_of(s, Actor(login_id=login_id, kind="user", role="clerk", user_id=uid))


def test_user_add_with_task_then_unassign_and_assign_again(db, settings):
    r = run(settings, "user", "add", "sato-k", "--name", "佐藤 恵", "--role", "clerk", "--task", "yobo_sesshu",
            input_text=PASSWORD)
    assert r.returncode == 0, r.stderr
    assert _scope(db, "sato-k").tasks == {"yobo_sesshu"}
    listed = json.loads(run(settings, "user", "assignments", "--json").stdout)
    assert listed == [{"login_id": "sato-k", "role": "clerk", "task": "yobo_sesshu", "department": "健康づくり課",
                       "valid_until": None, "lapsed": False}]
    assert run(settings, "user", "unassign", "sato-k", "--task", "yobo_sesshu").returncode == 0
    assert _scope(db, "sato-k").empty
    r = run(settings, "user", "assign", "sato-k", "--task", "kenko_higai_kyusai", "--valid-until", "R9.3.31")
    assert r.returncode == 0, r.stderr
    scope = _scope(db, "sato-k")
    assert scope.linked_tasks == {"kenko_higai_kyusai"} and not scope.all_persons
    with db.transaction() as s:
        actions = [e.action for e in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()]
    assert actions.count("access.assign") == 2 and "access.unassign" in actions and "access.list" in actions


def test_user_add_without_task_warns_and_bad_input_is_refused_in_japanese(db, settings):
    r = run(settings, "user", "add", "suzuki-h", "--name", "鈴木 一", "--role", "clerk", input_text=PASSWORD)
    assert r.returncode == 0 and "住民の情報を扱えません" in r.stdout
    bad = run(settings, "user", "assign", "suzuki-h", "--task", "no_such_task")
    assert bad.returncode == 2 and "事務の指定が正しくありません" in bad.stderr
    bad = run(settings, "user", "assign", "suzuki-h", "--task", "yobo_sesshu", "--department", "税務課")
    assert bad.returncode == 2 and "取扱部署" in bad.stderr
    bad = run(settings, "user", "assign", "nobody", "--task", "yobo_sesshu")
    assert bad.returncode == 2 and "登録されていません" in bad.stderr
    assert _scope(db, "suzuki-h").empty


def test_user_add_refuses_a_valid_until_already_past(db, settings):
    from datetime import timedelta

    from sesshu.clock import today_jst

    yesterday = (today_jst() - timedelta(days=1)).isoformat()
    r = run(settings, "user", "add", "kato-p", "--name", "加藤 過去", "--role", "clerk", "--task", "yobo_sesshu",
            "--valid-until", yesterday, input_text=PASSWORD)
    assert r.returncode == 2 and "今日以降の日付" in r.stderr
    with db.transaction() as s:
        assert s.execute(select(StaffUser).where(StaffUser.login_id == "kato-p")).first() is None
    today = run(settings, "user", "add", "kato-t", "--name", "加藤 今日", "--role", "clerk", "--task", "yobo_sesshu",
                "--valid-until", today_jst().isoformat(), input_text=PASSWORD)
    assert today.returncode == 0, today.stderr
