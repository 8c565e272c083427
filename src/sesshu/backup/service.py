"""Online backup and restore.

A backup is one tar file holding `manifest.json` and the database payload:
- SQLite: a page copy made with the sqlite3 backup API in a single step, i.e. under one read
  transaction (WAL lets writers carry on meanwhile);
- PostgreSQL: `pg_dump --format=custom` run on a snapshot exported from the transaction that also
  computes the manifest, so the dump and the manifest describe exactly the same state.

The manifest lists, per table, the row count and a SHA-256 over the rows (see manifest.py), the
schema revision, the audit head and the result of walking the audit chain. Key files (data keys,
lookup HMAC key, audit signing key) are never put in the backup: they are kept apart (docs/operations.md).

A restore goes only into an empty database; the restored database is compared with the manifest
and its audit chain is walked, and the restore's own audit entry is written in that same
transaction, so a restore that does not match leaves no entry claiming it was good.
"""
from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.backup.manifest import FORMAT, compare, database_state, user_tables
from sesshu.clock import utc_iso
from sesshu.config import Settings
from sesshu.db import Database, make_database, normalize_url
from sesshu.domain.errors import Conflict, InvalidInput

MANIFEST = "manifest.json"
PAYLOAD = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}


@dataclass
class BackupResult:
    path: Path
    manifest: dict


@dataclass
class CheckResult:
    ok: bool
    manifest: dict
    problems: list[str] = field(default_factory=list)
    audit_entries: int = 0


def _backend(url: str) -> str:
    return "sqlite" if normalize_url(url).startswith("sqlite") else "postgresql"


def _sqlite_path(url: str) -> Path:
    return Path(make_url(normalize_url(url)).database or "")


def pg_tool(name: str) -> str:
    """pg_dump / pg_restore: on PATH, or the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if not candidates:
        raise InvalidInput(f"{name} が見つかりません。PostgreSQL のクライアント（postgresql-client）を導入してください")
    return candidates[-1]


def _libpq(url: str) -> tuple[str, dict]:
    """A libpq connection URL without the password (that goes in PGPASSWORD, not on the command line)."""
    u = make_url(normalize_url(url))
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    plain = u.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return plain, env


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _chain(conn) -> dict:
    with Session(bind=conn) as s:
        entries, problems = audit.walk_chain(s)
    return {"entries": entries, "ok": not problems, "problems": problems[:20]}


# ---------------------------------------------------------------------------------------------- create

def _snapshot_sqlite(settings: Settings, work: Path) -> dict:
    source = _sqlite_path(settings.resolved_database_url)
    if not source.is_file():
        raise InvalidInput(f"データベースファイルがありません: {source}")
    target = work / PAYLOAD["sqlite"]
    src = sqlite3.connect(str(source), timeout=30)
    dst = sqlite3.connect(str(target))
    try:
        src.execute("PRAGMA busy_timeout=30000")
        # pages=-1: everything in one step, i.e. under one read transaction -> a consistent snapshot.
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()
    engine = create_engine(f"sqlite:///{target}")
    try:
        with engine.connect() as conn:
            state = database_state(conn)
            state["audit_chain"] = _chain(conn)
    finally:
        engine.dispose()
    return state


def _snapshot_postgresql(settings: Settings, work: Path) -> dict:
    url = settings.resolved_database_url
    target = work / PAYLOAD["postgresql"]
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            with conn.begin():
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
                libpq, env = _libpq(url)
                # pg_dump reads the very snapshot this transaction holds while we compute the manifest.
                proc = subprocess.Popen([pg_tool("pg_dump"), "--format=custom", f"--snapshot={snapshot}",
                                         "--no-owner", "--no-acl", f"--file={target}", f"--dbname={libpq}"],
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                errors: list[bytes] = []
                reader = threading.Thread(target=lambda: errors.append(proc.communicate()[1]))
                reader.start()
                try:
                    state = database_state(conn)
                    state["audit_chain"] = _chain(conn)
                finally:
                    reader.join()
                if proc.returncode != 0:
                    raise InvalidInput("pg_dump が失敗しました: " + b"".join(errors).decode("utf-8", "replace")[-500:])
    finally:
        engine.dispose()
    return state


def create_backup(db: Database, settings: Settings, *, out: Path, actor: Actor) -> BackupResult:
    """Write a consistent backup of the live database to `out` (a tar file with its manifest)."""
    out = Path(out)
    if out.exists():
        raise InvalidInput(f"出力先のファイルが既にあります: {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    backend = _backend(settings.resolved_database_url)
    with tempfile.TemporaryDirectory(prefix="sesshu-backup-", dir=out.parent) as tmp:
        work = Path(tmp)
        created_at = utc_iso()
        state = _snapshot_sqlite(settings, work) if backend == "sqlite" else _snapshot_postgresql(settings, work)
        payload = work / PAYLOAD[backend]
        manifest = {
            "format": FORMAT, "backend": backend, "created_at": created_at,
            "source": {"database": _describe(settings.resolved_database_url),
                       "municipality_code": settings.municipality_code, "created_by": actor.label},
            "payload": {"name": payload.name, "bytes": payload.stat().st_size, "sha256": _sha256_file(payload)},
            "keys_included": False,
            **state,
        }
        partial = work / "backup.tar"
        with tarfile.open(partial, "w") as tar:
            data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            info.mode = 0o600
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
            tar.add(payload, arcname=payload.name, filter=_private)
        os.chmod(partial, 0o600)
        # The file appears only once its creation is on record (the snapshot itself cannot hold the
        # entry: writing it would take the audit head lock for the whole dump and stop every writer).
        with db.transaction() as s:
            audit.record(s, actor, "backup.create", purpose="バックアップ",
                         detail={"file": out.name, "payload_sha256": manifest["payload"]["sha256"],
                                 "audit_head_seq": (state.get("audit_head") or {}).get("seq"),
                                 "tables": len(state["tables"]),
                                 "rows": sum(t["rows"] for t in state["tables"].values())})
        os.replace(partial, out)
    return BackupResult(path=out, manifest=manifest)


def _private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
    return info


def _describe(url: str) -> str:
    u = make_url(normalize_url(url))
    if u.get_backend_name() == "sqlite":
        return f"sqlite:{u.database}"
    return f"postgresql://{u.host or ''}:{u.port or 5432}/{u.database}"


# ---------------------------------------------------------------------------------------------- read

def read_manifest(path: Path) -> dict:
    try:
        with tarfile.open(path, "r") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest = json.loads(member.read().decode("utf-8"))
    except (tarfile.TarError, KeyError, ValueError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise InvalidInput(f"sesshu のバックアップファイルとして読めません: {path}") from e
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"対応していないバックアップ形式です: {manifest.get('format')}")
    return manifest


def _extract_payload(path: Path, manifest: dict, work: Path) -> Path:
    name = manifest["payload"]["name"]
    if name not in PAYLOAD.values():
        raise InvalidInput("バックアップファイルの中身が正しくありません")
    with tarfile.open(path, "r") as tar:
        member = tar.getmember(name)
        src = tar.extractfile(member)
        target = work / name
        with open(target, "wb") as f:
            shutil.copyfileobj(src, f, 1 << 20)
    if _sha256_file(target) != manifest["payload"]["sha256"]:
        raise InvalidInput("バックアップファイルが壊れています（中身のハッシュが目録と一致しません）")
    return target


def verify_backup(path: Path) -> CheckResult:
    """Check a backup file on its own: payload hash, and for SQLite the full content against the
    manifest and the audit chain; for PostgreSQL that pg_restore can read the archive and that it
    holds the data of every table in the manifest (a full check is a restore into a scratch database)."""
    path = Path(path)
    manifest = read_manifest(path)
    problems: list[str] = []
    entries = 0
    with tempfile.TemporaryDirectory(prefix="sesshu-verify-") as tmp:
        payload = _extract_payload(path, manifest, Path(tmp))
        if manifest["backend"] == "sqlite":
            engine = create_engine(f"sqlite:///{payload}")
            try:
                with engine.connect() as conn:
                    problems += compare(manifest, database_state(conn))
                    chain = _chain(conn)
                    entries = chain["entries"]
                    problems += chain["problems"]
            finally:
                engine.dispose()
        else:
            listing = subprocess.run([pg_tool("pg_restore"), "--list", str(payload)], capture_output=True)
            if listing.returncode != 0:
                problems.append("pg_restore がバックアップを読めません: "
                                + listing.stderr.decode("utf-8", "replace")[-300:])
            else:
                text = listing.stdout.decode("utf-8", "replace")
                for table in manifest["tables"]:
                    if f"TABLE DATA public {table} " not in text:
                        problems.append(f"表 {table} のデータがバックアップにありません")
            entries = manifest.get("audit_chain", {}).get("entries", 0)
    if not manifest.get("audit_chain", {}).get("ok", False):
        problems.append("バックアップ時点で操作記録の連鎖が検証できていません")
    return CheckResult(ok=not problems, manifest=manifest, problems=problems, audit_entries=entries)


# ---------------------------------------------------------------------------------------------- restore

def _ensure_empty(settings: Settings, backend: str) -> None:
    url = settings.resolved_database_url
    if backend == "sqlite":
        path = _sqlite_path(url)
        if not path.exists() or path.stat().st_size == 0:
            return
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            tables = user_tables(conn)
    finally:
        engine.dispose()
    if tables:
        raise Conflict(f"復元先のデータベースが空ではありません（表が {len(tables)} 個あります）。"
                       "既存のデータに上書きする復元はできません。新しく作った空のデータベースを指定してください")


def restore_backup(settings: Settings, *, path: Path, actor: Actor) -> CheckResult:
    """Restore into the (empty) configured database, then prove it equals the manifest."""
    path = Path(path)
    manifest = read_manifest(path)
    backend = _backend(settings.resolved_database_url)
    if manifest["backend"] != backend:
        raise InvalidInput(f"このバックアップは {manifest['backend']} 用です。復元先は {backend} です")
    _ensure_empty(settings, backend)
    with tempfile.TemporaryDirectory(prefix="sesshu-restore-") as tmp:
        payload = _extract_payload(path, manifest, Path(tmp))
        if backend == "sqlite":
            target = _sqlite_path(settings.resolved_database_url)
            target.parent.mkdir(parents=True, exist_ok=True)
            src = sqlite3.connect(str(payload))
            dst = sqlite3.connect(str(target))
            try:
                src.backup(dst, pages=-1)
            finally:
                dst.close()
                src.close()
        else:
            libpq, env = _libpq(settings.resolved_database_url)
            done = subprocess.run([pg_tool("pg_restore"), "--exit-on-error", "--single-transaction", "--no-owner",
                                   "--no-acl", f"--dbname={libpq}", str(payload)], env=env, capture_output=True)
            if done.returncode != 0:
                raise InvalidInput("pg_restore が失敗しました（復元先は変更されていません）: "
                                   + done.stderr.decode("utf-8", "replace")[-500:])
    return check_restored(settings, manifest=manifest, actor=actor, source=path.name)


def check_restored(settings: Settings, *, manifest: dict, actor: Actor, source: str = "") -> CheckResult:
    db = make_database(settings)
    try:
        with db.transaction() as s:
            problems = compare(manifest, database_state(s.connection()))
            entries, chain_problems = audit.walk_chain(s)
            problems += chain_problems
            if problems:
                # Nothing is written: the restored copy is not the source and must not claim to be.
                return CheckResult(ok=False, manifest=manifest, problems=problems, audit_entries=entries)
            audit.record(s, actor, "backup.restore", purpose="復元",
                         detail={"file": source, "backup_created_at": manifest["created_at"],
                                 "payload_sha256": manifest["payload"]["sha256"],
                                 "audit_head_seq": (manifest.get("audit_head") or {}).get("seq"),
                                 "tables": len(manifest["tables"])})
    finally:
        db.dispose()
    return CheckResult(ok=True, manifest=manifest, problems=[], audit_entries=entries)
