"""Signed daily checkpoints: created once per finished JST day, handed over as files, and they catch
what the hash chain alone cannot (a chain rewritten consistently, a cut-off tail)."""
from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from unittest import mock

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text

from sesshu.actor import Actor
from sesshu.audit import service as audit_service
from sesshu.audit.checkpoints import (
    KEY_FILE,
    canonical,
    checkpoint_dir,
    create_checkpoints,
    list_checkpoints,
    public_pem,
    signer_public_key,
    verify_log,
)
from sesshu.audit.service import GENESIS, entry_hash, verify_chain, walk_chain
from sesshu.clock import JST, today_jst, utc_iso
from sesshu.domain.errors import InvalidInput

STAFF = Actor(login_id="staff1", kind="user", role="clerk", user_id=None)
TODAY = today_jst()
DAY1, DAY2 = TODAY - timedelta(days=3), TODAY - timedelta(days=2)


@contextmanager
def clock_at(moment: datetime):
    """Entries written inside get `moment` as their time (the log's clock, not the chain, is faked)."""
    with mock.patch.object(audit_service, "utc_iso", lambda: utc_iso(moment)):
        yield


def write_at(db, moment: datetime, actor: Actor = STAFF, action: str = "person.view", n: int = 1, **kw) -> list[int]:
    with clock_at(moment), db.transaction() as s:
        return [audit_service.record(s, actor, action, **kw) for _ in range(n)]


def jst_at(d: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(d, time(hh, mm), tzinfo=JST)


def tamper(db, backend, *statements: tuple[str, dict]):
    """What someone with database access would do: switch the append-only guards off, then change rows."""
    with db.engine.begin() as c:
        if backend == "sqlite":
            for name in ("audit_entry_no_update", "audit_entry_no_delete", "audit_checkpoint_no_update",
                         "audit_checkpoint_no_delete", "audit_mac_no_update", "audit_mac_no_delete"):
                c.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        else:
            c.execute(text("SET LOCAL session_replication_role = replica"))
        for sql, params in statements:
            c.execute(text(sql), params)


def rewrite_chain(db, backend, change: dict[int, dict]):
    """Rewrite entries and recompute every hash from the genesis, audit_head included: a consistent forgery."""
    with db.engine.begin() as c:
        rows = [dict(r) for r in c.execute(text("SELECT * FROM audit_entry ORDER BY seq")).mappings()]
    prev, updates = GENESIS, []
    for r in rows:
        r.update(change.get(r["seq"], {}))
        h = entry_hash(prev, r["seq"], r["occurred_at"], r["actor"], r["actor_kind"], r["action"], r["atena_no"],
                       r["purpose"], r["detail"])
        updates.append(("UPDATE audit_entry SET atena_no = :a, detail = :d, prev_hash = :p, entry_hash = :h "
                        "WHERE seq = :s", {"a": r["atena_no"], "d": r["detail"], "p": prev, "h": h, "s": r["seq"]}))
        prev = h
    updates.append(("UPDATE audit_head SET last_seq = :s, last_hash = :h", {"s": rows[-1]["seq"], "h": prev}))
    tamper(db, backend, *updates)


@pytest.fixture
def two_days(db):
    """Three entries on DAY1 (the first at 08:00 JST, which is still the day before in UTC), two on DAY2."""
    write_at(db, jst_at(DAY1, 8), atena_no="1001", purpose="確認")
    write_at(db, jst_at(DAY1, 10), n=2, atena_no="1002", purpose="確認")
    write_at(db, jst_at(DAY2, 9), n=2, atena_no="1003", purpose="確認")
    return db


def test_checkpoints_cover_each_finished_day_once(two_days, settings, operator):
    run = create_checkpoints(two_days, settings, actor=operator)
    got = [(c.day, c.last_seq, c.entry_count) for c in run.created]
    assert got == [(DAY1, 3, 3), (DAY2, 5, 2), (DAY2 + timedelta(days=1), 5, 0)]
    again = create_checkpoints(two_days, settings, actor=operator)
    assert again.created == [] and again.already == 3
    assert [c.day for c in list_checkpoints(two_days, settings)] == [DAY1, DAY2, DAY2 + timedelta(days=1)]


def test_checkpoint_for_a_given_day_and_never_for_today(two_days, settings, operator):
    run = create_checkpoints(two_days, settings, actor=operator, day=DAY1)
    assert [c.day for c in run.created] == [DAY1]
    with pytest.raises(InvalidInput, match="前日以前"):
        create_checkpoints(two_days, settings, actor=operator, day=TODAY)


def test_signing_key_is_a_0600_file_outside_the_database(two_days, settings, operator):
    create_checkpoints(two_days, settings, actor=operator)
    path = settings.resolved_key_dir / KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert b"PRIVATE KEY" in path.read_bytes()


def test_hand_over_file_verifies_with_only_the_public_key(two_days, settings, operator):
    """An outside party needs nothing but the file and the PEM public key (plain `cryptography` here)."""
    create_checkpoints(two_days, settings, actor=operator)
    doc = json.loads((checkpoint_dir(settings) / f"audit-checkpoint_{settings.municipality_code}_{DAY1}.json")
                     .read_text(encoding="utf-8"))
    key = serialization.load_pem_public_key(public_pem(signer_public_key(settings)).encode())
    body = json.dumps(doc["payload"], ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    assert body == canonical(doc["payload"])
    key.verify(base64.b64decode(doc["signature"]), body)  # raises if not signed by this key
    with two_days.engine.connect() as c:
        h = c.execute(text("SELECT entry_hash FROM audit_entry WHERE seq = 3")).scalar_one()
    assert doc["payload"]["last_seq"] == 3 and doc["payload"]["entry_hash"] == h


def test_clean_log_verifies_and_creation_and_verification_are_on_record(two_days, settings, operator):
    create_checkpoints(two_days, settings, actor=operator)
    report = verify_log(two_days, settings, actor=operator, files_dir=checkpoint_dir(settings))
    assert report.ok, report.problems
    assert report.checkpoints == 3 and report.files == 3
    with two_days.engine.connect() as c:
        actions = [r[0] for r in c.execute(text("SELECT action FROM audit_entry WHERE seq > 5 ORDER BY seq"))]
    assert actions == ["audit.checkpoint", "audit.verify"]


def test_detects_edited_entry(two_days, backend, settings, operator):
    create_checkpoints(two_days, settings, actor=operator)
    tamper(two_days, backend, ("UPDATE audit_entry SET atena_no = '9999' WHERE seq = 2", {}))
    report = verify_log(two_days, settings, actor=operator)
    assert any("連番2" in p and "改ざん" in p for p in report.problems)


def test_detects_edited_entry_with_its_hash_recomputed(two_days, backend, settings, operator):
    create_checkpoints(two_days, settings, actor=operator)
    with two_days.engine.connect() as c:
        e = c.execute(text("SELECT * FROM audit_entry WHERE seq = 3")).mappings().one()
    forged = entry_hash(e["prev_hash"], 3, e["occurred_at"], e["actor"], e["actor_kind"], e["action"], "9999",
                        e["purpose"], e["detail"])
    tamper(two_days, backend, ("UPDATE audit_entry SET atena_no = '9999', entry_hash = :h WHERE seq = 3", {"h": forged}))
    report = verify_log(two_days, settings, actor=operator)
    assert any("連番4" in p and "つながり" in p for p in report.problems)
    assert any(f"チェックポイント {DAY1}" in p and "連番3" in p and "書き換え" in p for p in report.problems)


def test_a_consistently_rewritten_chain_is_caught_by_the_keyed_chain_and_the_checkpoints(two_days, backend, settings,
                                                                                        operator):
    create_checkpoints(two_days, settings, actor=operator)
    rewrite_chain(two_days, backend, {2: {"atena_no": "9999"}})
    # The hash chain was recomputed, but the keyed chain cannot be without the key (was: "sees nothing").
    chain = verify_chain(two_days, actor=operator)
    assert not chain.ok and "連番2: 記録が鍵付きの連鎖と一致しません" in chain.problems[0]
    report = verify_log(two_days, settings, actor=operator, files_dir=checkpoint_dir(settings))
    assert not report.ok
    assert any(f"チェックポイント {DAY1}" in p and "連番3" in p and "書き換え" in p for p in report.problems)
    assert any(f"{DAY1}.json" in p and "連番3" in p for p in report.problems)


def test_detects_tampered_checkpoint_row(two_days, backend, settings, operator):
    """Re-pointing a checkpoint at a forged chain breaks its signature."""
    create_checkpoints(two_days, settings, actor=operator)
    tamper(two_days, backend, ("UPDATE audit_checkpoint SET entry_hash = :h WHERE day = :d", {"h": "f" * 64, "d": DAY1}))
    report = verify_log(two_days, settings, actor=operator, files_dir=checkpoint_dir(settings))
    assert any(f"チェックポイント {DAY1}" in p and "署名が正しくありません" in p for p in report.problems)
    assert any(f"{DAY1}.json" in p and "内容が異なります" in p for p in report.problems)


def test_detects_tampered_checkpoint_file(two_days, settings, operator):
    create_checkpoints(two_days, settings, actor=operator)
    path = checkpoint_dir(settings) / f"audit-checkpoint_{settings.municipality_code}_{DAY2}.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["payload"]["entry_count"] = 7
    path.write_text(json.dumps(doc), encoding="utf-8")
    report = verify_log(two_days, settings, actor=operator, files_dir=checkpoint_dir(settings))
    assert [p for p in report.problems if "ファイル" in p] == [f"ファイル {path.name}: 署名が正しくありません（チェックポイントの改ざんの疑い）"]


def test_detects_deleted_tail_even_with_head_updated(two_days, backend, settings, operator):
    create_checkpoints(two_days, settings, actor=operator)
    # Drop DAY2's entries and everything after, then make audit_head agree: the chain is consistent.
    with two_days.engine.connect() as c:
        h3 = c.execute(text("SELECT entry_hash FROM audit_entry WHERE seq = 3")).scalar_one()
    tamper(two_days, backend, ("DELETE FROM audit_entry WHERE seq > 3", {}), ("DELETE FROM audit_mac WHERE seq > 3", {}),
           ("UPDATE audit_head SET last_seq = 3, last_hash = :h", {"h": h3}))
    with two_days.transaction() as s:  # the hash chain is consistent; the head's keyed MAC is not
        assert walk_chain(s) == (3, ["管理情報（連番3）が鍵付きの署名と一致しません（末尾の削除・巻き戻しの疑い）"])
    report = verify_log(two_days, settings, actor=operator)
    assert any(f"チェックポイント {DAY2}" in p and "連番5の記録がありません" in p for p in report.problems)
    assert any(f"チェックポイント {DAY2}" in p and "件数" in p for p in report.problems)


def test_deleted_checkpoint_row_is_caught_by_the_handed_over_file(two_days, backend, settings, operator):
    create_checkpoints(two_days, settings, actor=operator)
    tamper(two_days, backend, ("DELETE FROM audit_checkpoint WHERE day = :d", {"d": DAY2}))
    report = verify_log(two_days, settings, actor=operator, files_dir=checkpoint_dir(settings))
    assert any(f"{DAY2}.json" in p and "データベースにありません" in p for p in report.problems)


def test_files_checked_against_the_outside_partys_key_only(two_days, settings, operator, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    create_checkpoints(two_days, settings, actor=operator)
    other = public_pem(Ed25519PrivateKey.generate().public_key())
    report = verify_log(two_days, settings, actor=operator, files_dir=checkpoint_dir(settings), public_key_pem=other)
    file_problems = [p for p in report.problems if p.startswith("ファイル")]
    assert len(file_problems) == 3 and all("鍵" in p for p in file_problems)
    with pytest.raises(InvalidInput, match="PEM"):
        verify_log(two_days, settings, actor=operator, public_key_pem="not a key")


def test_database_refuses_update_and_delete_of_checkpoints(two_days, settings, operator):
    from sqlalchemy.exc import DBAPIError

    create_checkpoints(two_days, settings, actor=operator)
    for sql in ("UPDATE audit_checkpoint SET entry_count = 0", "DELETE FROM audit_checkpoint"):
        with pytest.raises(DBAPIError):
            with two_days.engine.begin() as c:
                c.execute(text(sql))


def test_cli_checkpoint_pubkey_and_verify_with_files(two_days, backend, settings, tmp_path):
    env = dict(os.environ, SESSHU_DATABASE_URL=settings.resolved_database_url, SESSHU_VAR_DIR=str(settings.var_dir))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "sesshu", "audit", *args], env=env, capture_output=True,
                              text=True)

    made = run("checkpoint")
    assert made.returncode == 0 and "3 件作成" in made.stdout, made.stderr
    assert "0 件作成" in run("checkpoint").stdout
    key = run("pubkey")
    assert key.returncode == 0 and key.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "pub.pem").write_text(key.stdout)
    args = ("verify", "--checkpoints", str(checkpoint_dir(settings)), "--pubkey", str(tmp_path / "pub.pem"))
    ok = run(*args)
    assert ok.returncode == 0 and "ファイル 3 件" in ok.stdout, ok.stderr
    rewrite_chain(two_days, backend, {1: {"detail": '{"forged": true}'}})
    bad = run(*args)
    assert bad.returncode == 1 and "書き換え" in bad.stderr
    assert "前日以前" in run("checkpoint", "--date", TODAY.isoformat()).stderr
