"""Backup and restore: an online snapshot with its manifest, restored only into an empty database,
and proven equal to the source (row counts, content digest per table, audit chain)."""
from __future__ import annotations

import io
import itertools
import os
import subprocess
import sys
import tarfile
import threading
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from sesshu.audit.models import AuditEntry
from sesshu.audit.service import walk_chain
from sesshu.backup.manifest import database_state
from sesshu.backup.service import create_backup, read_manifest, restore_backup, verify_backup
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.demo.service import load_demo
from sesshu.domain.errors import Conflict, InvalidInput
from sesshu.ledger import service as ledger
from sesshu.ledger.models import VaccinationRecord
from sesshu.registry.service import import_registry
from tests.conftest import PG_ADMIN_URL
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, write

_names = itertools.count()


@pytest.fixture
def empty_target(settings, backend, tmp_path):
    """Settings naming a brand-new, empty database of the same kind, with the source's key files put back
    (as the operator does before a restore: the audit chain's key among them)."""
    keys = settings.resolved_key_dir
    if backend == "sqlite":
        yield load_settings(var_dir=tmp_path / "restored", database_url=f"sqlite:///{tmp_path / 'restored' / 'r.db'}",
                            key_dir=keys)
        return
    name = f"sesshu_restore_{os.getpid()}_{next(_names)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield load_settings(var_dir=tmp_path / "restored", database_url=PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}",
                        key_dir=keys)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def city(db, settings, operator):
    load_demo(db, settings, actor=operator, residents=40, seed=3, as_of=date(2026, 12, 1))
    return db


def _state(settings) -> dict:
    db = make_database(settings)
    try:
        with db.transaction() as s:
            state = database_state(s.connection())
            state["chain"] = walk_chain(s)
        return state
    finally:
        db.dispose()


def test_backup_restores_into_an_empty_database_equal_to_the_source(city, settings, empty_target, operator, tmp_path):
    before = _state(settings)
    result = create_backup(city, settings, out=tmp_path / "b.tar", actor=operator)
    m = result.manifest
    assert m["keys_included"] is False and m["schema_revision"] == before["schema_revision"]
    assert m["tables"] == before["tables"] and m["audit_head"] == before["audit_head"]
    assert m["tables"]["person"]["rows"] > 0 and m["audit_chain"]["ok"]
    # The key files are nowhere in the backup.
    with tarfile.open(tmp_path / "b.tar") as tar:
        assert sorted(tar.getnames()) == sorted(["manifest.json", m["payload"]["name"]])
    assert oct((tmp_path / "b.tar").stat().st_mode & 0o777) == "0o600"
    # The creation is on record in the source.
    with city.transaction() as s:
        entry = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert entry.action == "backup.create" and m["payload"]["sha256"] in entry.detail

    check = restore_backup(empty_target, path=tmp_path / "b.tar", actor=operator)
    assert check.ok, check.problems
    after = _state(empty_target)
    # Equal to the snapshot, plus exactly the restore's own audit entry on top of the chain.
    log = ("audit_entry", "audit_mac", "audit_head")  # the restore itself is on the log
    assert {k: v for k, v in after["tables"].items() if k not in log} == \
           {k: v for k, v in m["tables"].items() if k not in log}
    assert after["chain"] == (m["audit_chain"]["entries"] + 1, [])
    db2 = make_database(empty_target)
    with db2.transaction() as s:
        last = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    db2.dispose()
    assert last.action == "backup.restore" and last.seq == m["audit_head"]["seq"] + 1


def test_restore_refuses_a_database_that_is_not_empty(city, settings, operator, tmp_path):
    create_backup(city, settings, out=tmp_path / "b.tar", actor=operator)
    before = _state(settings)
    with pytest.raises(Conflict, match="空ではありません"):
        restore_backup(settings, path=tmp_path / "b.tar", actor=operator)
    assert _state(settings) == before


def test_verify_accepts_a_good_file_and_rejects_a_damaged_one(city, settings, operator, tmp_path):
    create_backup(city, settings, out=tmp_path / "b.tar", actor=operator)
    good = verify_backup(tmp_path / "b.tar")
    assert good.ok, good.problems
    # Rewrite the payload with one byte changed: the manifest's payload hash no longer matches.
    with tarfile.open(tmp_path / "b.tar") as tar:
        manifest = tar.extractfile("manifest.json").read()
        name = read_manifest(tmp_path / "b.tar")["payload"]["name"]
        payload = bytearray(tar.extractfile(name).read())
    payload[len(payload) // 2] ^= 0xFF
    with tarfile.open(tmp_path / "bad.tar", "w") as tar:
        for member, data in (("manifest.json", manifest), (name, bytes(payload))):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(InvalidInput, match="壊れています"):
        verify_backup(tmp_path / "bad.tar")


def test_backup_taken_while_imports_run_is_a_consistent_snapshot(city, settings, empty_target, operator, tmp_path):
    """Imports keep committing while the backup runs: the snapshot holds whole batches only, its
    manifest matches the restored database, and the restored chain verifies."""
    with city.transaction() as s:
        atena = s.execute(text("SELECT atena_no FROM person ORDER BY birth_date LIMIT 1")).scalar_one()
        base = s.execute(select(func.count()).select_from(VaccinationRecord)).scalar_one()
    per_file = 30
    files = []
    for k in range(8):
        lines = [",".join([atena, "FLU_ELDER", "", "", "", f"20{10 + k:02d}-{m + 1:02d}-{d + 1:02d}"] + [""] * 15)
                 for m in range(10) for d in range(3)][:per_file]
        files.append(write(tmp_path / f"rec{k}.csv", RECORD_HEADER + "\n" + "\n".join(lines) + "\n"))
    stop = threading.Event()
    imported, errors = [], []

    def importer():
        for f in files:
            if stop.is_set():
                break
            try:
                summary = ledger.import_records(city, settings, path=f, actor=operator)
                imported.append(summary.accepted)
            except Exception as e:  # noqa: BLE001 — reported by the assertion below
                errors.append(repr(e))

    t = threading.Thread(target=importer)
    t.start()
    try:
        while not imported and t.is_alive():
            threading.Event().wait(0.02)
        result = create_backup(city, settings, out=tmp_path / "b.tar", actor=operator)
    finally:
        stop.set()
        t.join()
    assert not errors and imported
    assert all(n == per_file for n in imported)
    in_snapshot = result.manifest["tables"]["vaccination_record"]["rows"] - base
    assert in_snapshot % per_file == 0 and 0 < in_snapshot // per_file <= len(imported)
    check = restore_backup(empty_target, path=tmp_path / "b.tar", actor=operator)
    assert check.ok, check.problems
    assert _state(empty_target)["chain"][1] == []


def run_cli(target_settings, *args):
    env = dict(os.environ, SESSHU_DATABASE_URL=target_settings.resolved_database_url,
               SESSHU_VAR_DIR=str(target_settings.var_dir), SESSHU_KEY_DIR=str(target_settings.resolved_key_dir))
    return subprocess.run([sys.executable, "-m", "sesshu", *args], env=env, capture_output=True, text=True, timeout=120)


def test_backup_commands_create_verify_and_restore(city, settings, empty_target, tmp_path):
    out = tmp_path / "city.tar"
    r = run_cli(settings, "backup", "create", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "鍵ファイル" in r.stdout and out.is_file()
    r = run_cli(settings, "backup", "verify", str(out))
    assert r.returncode == 0 and "正常です" in r.stdout, r.stdout + r.stderr
    r = run_cli(settings, "backup", "restore", str(out))
    assert r.returncode == 2 and "空ではありません" in r.stderr
    r = run_cli(empty_target, "backup", "restore", str(out))
    assert r.returncode == 0 and "一致しています" in r.stdout, r.stdout + r.stderr


def test_backup_verify_exits_1_on_any_bad_backup_as_documented(settings, tmp_path):
    """A file that is not a backup at all: exit 1 like a damaged backup (scripts test for 1). A path with
    no file stays a usage error (2)."""
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"not a tar file at all")
    r = run_cli(settings, "backup", "verify", str(garbage))
    assert r.returncode == 1 and "バックアップに問題があります" in r.stderr, (r.returncode, r.stderr)
