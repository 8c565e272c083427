"""The audit log is append-only and hash-chained; verification finds edits, deletions, reorders."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sesshu.audit import service as audit
from sesshu.audit.service import verify_chain


def _write_entries(db, actor, n=5):
    with db.transaction() as s:
        for i in range(n):
            audit.record(s, actor, "person.view", atena_no=f"{1000 + i}", purpose="テスト", detail={"i": i})


def _tamper(db, backend, sql: str, **params):
    """What an attacker with database access would do: switch the guard off, then change rows."""
    with db.engine.begin() as c:
        if backend == "sqlite":
            c.exec_driver_sql("DROP TRIGGER IF EXISTS audit_entry_no_update")
            c.exec_driver_sql("DROP TRIGGER IF EXISTS audit_entry_no_delete")
        else:
            c.execute(text("SET LOCAL session_replication_role = replica"))
        c.execute(text(sql), params)


def test_clean_chain_verifies(db, clerk, operator):
    _write_entries(db, clerk)
    with db.engine.connect() as c:
        written = c.execute(text("SELECT count(*) FROM audit_entry")).scalar_one()
    result = verify_chain(db, actor=operator)
    assert result.ok and result.entries == written >= 5 and result.problems == []


def test_database_refuses_update_and_delete_of_entries(db, clerk):
    _write_entries(db, clerk, 1)
    for sql in ("UPDATE audit_entry SET actor = 'x'", "DELETE FROM audit_entry"):
        with pytest.raises(DBAPIError):
            with db.engine.begin() as c:
                c.execute(text(sql))


def test_detects_edited_entry(db, backend, clerk, operator):
    _write_entries(db, clerk)
    _tamper(db, backend, "UPDATE audit_entry SET atena_no = '9999' WHERE seq = 3")
    result = verify_chain(db, actor=operator)
    assert not result.ok and any("連番3" in p and "改ざん" in p for p in result.problems)


def test_detects_deleted_entry(db, backend, clerk, operator):
    _write_entries(db, clerk)
    _tamper(db, backend, "DELETE FROM audit_entry WHERE seq = 2")
    result = verify_chain(db, actor=operator)
    assert not result.ok and any("欠落" in p for p in result.problems)


def test_detects_entry_cut_off_the_end(db, backend, clerk, operator):
    _write_entries(db, clerk)
    _tamper(db, backend, "DELETE FROM audit_entry WHERE seq = (SELECT max(seq) FROM audit_entry)")
    result = verify_chain(db, actor=operator)
    assert not result.ok and any("末尾" in p for p in result.problems)


def test_detects_reordered_entries(db, backend, clerk, operator):
    _write_entries(db, clerk)
    # Swap the contents of two entries while keeping their sequence numbers.
    _tamper(db, backend, "UPDATE audit_entry SET seq = 100 WHERE seq = 2")
    _tamper(db, backend, "UPDATE audit_entry SET seq = 2 WHERE seq = 3")
    _tamper(db, backend, "UPDATE audit_entry SET seq = 3 WHERE seq = 100")
    result = verify_chain(db, actor=operator)
    assert not result.ok and any("つながり" in p for p in result.problems)


def test_detects_rewritten_chain_with_recomputed_hashes_only_up_to_head(db, backend, clerk, operator):
    """Recomputing one entry's own hash does not help: the next entry's link breaks."""
    _write_entries(db, clerk)
    from sesshu.audit.service import entry_hash

    with db.engine.begin() as c:
        e = c.execute(text("SELECT * FROM audit_entry WHERE seq = 2")).mappings().one()
    forged = entry_hash(e["prev_hash"], 2, e["occurred_at"], e["actor"], e["actor_kind"], e["action"], "9999",
                        e["purpose"], e["detail"])
    _tamper(db, backend, "UPDATE audit_entry SET atena_no = '9999', entry_hash = :h WHERE seq = 2", h=forged)
    result = verify_chain(db, actor=operator)
    assert not result.ok and any("連番3" in p for p in result.problems)


def test_cli_verify_exits_non_zero_on_tampering(db, backend, settings, clerk):
    import os
    import subprocess
    import sys

    _write_entries(db, clerk)
    env = dict(os.environ, SESSHU_DATABASE_URL=settings.resolved_database_url, SESSHU_VAR_DIR=str(settings.var_dir))
    ok = subprocess.run([sys.executable, "-m", "sesshu", "audit", "verify"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    _tamper(db, backend, "UPDATE audit_entry SET purpose = '改ざん' WHERE seq = 1")
    bad = subprocess.run([sys.executable, "-m", "sesshu", "audit", "verify"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "連番1" in bad.stderr
