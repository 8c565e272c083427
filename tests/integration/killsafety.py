"""The kill -9 harness shared by the crash-safety tests of every batch job (tests/integration/test_kill_safety.py).

One seeded city is cloned into a twin database (SQLite: the sqlite3 backup API; PostgreSQL:
CREATE DATABASE … TEMPLATE), with the same key files, so both start byte-identical. The job then runs
as the real CLI (`python -m sesshu …`) in a subprocess: uninterrupted on the reference, and on the twin
killed with SIGKILL — at a named crash point (SESSHU_KILL_AT, sesshu.jobs.crash) or at random moments —
and re-run until it succeeds. After every kill the job's probe checks that no half batch is visible;
at the end both databases must be equal table by table, and both audit chains must verify.

Equal means: every row of every table, in primary-key order, with these normalisations and no others:

* COLUMNS_THAT_DIFFER (listed there, each with its reason) are left out, and of COLUMNS_COMPARED_AS_SET
  only whether they are set is compared;
* integer surrogate keys and the foreign keys that point at them are replaced by their rank in key order
  (PostgreSQL sequences are not transactional: a killed transaction uses up ids, so the re-run's rows get
  later ids; their order, and everything else about them, must be the same);
* ciphertexts (`*_enc`) are compared as (key id, plaintext), since every encryption draws a fresh nonce
  and a key rotation in each database creates its own random new key;
* the twins' own directories are written as <ROOT> in text values (output folders in job parameters);
* the audit log is compared entry by entry on who, what, whom, why and detail — not on seq, time and
  hashes, which chain on the clock — after dropping the entries that truthfully record the interruption
  (`job.resume`, and what a job's spec names); audit_head is then covered by walking both chains.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sqlalchemy import Integer, create_engine, inspect, text

from sesshu.audit.service import walk_chain
from sesshu.backup.manifest import _value, user_tables
from sesshu.config import Settings, load_settings
from sesshu.db import Database, make_database
from sesshu.jobs.crash import ENV as KILL_ENV
from sesshu.keys import load_keyring
from sesshu.mynumber.rotation import ENCRYPTED_COLUMNS

ROOT = Path(__file__).resolve().parents[2]

# (table, column): why it may differ between an uninterrupted run and a killed-and-resumed one.
COLUMNS_THAT_DIFFER: dict[tuple[str, str], str] = {
    # The clock: when a row was written, not what it says.
    ("batch_job", "updated_at"): "time of the job's last progress",
    ("batch_job", "finished_at"): "time the job finished",
    ("batch_job", "created_at"): "time the job was planned",
    ("batch_job_chunk", "committed_at"): "time the chunk committed",
    ("ticket", "issued_at"): "time the ticket was issued",
    ("billing_run", "started_at"): "time the run started",
    ("payment_line", "created_at"): "time the line was computed",
    ("billing_return", "created_at"): "time the return was computed",
    ("provision_batch", "prepared_at"): "time the 副本 batch was prepared",
    ("linkage_person_code", "created_at"): "time the 符号 was created",
    # Randomness by design.
    ("linkage_person_code", "fugo"): "the 符号 is 128 random bits (secrets.token_hex), nothing derived",
    # Covered by walking each chain: its seq and hash depend on the interruption entries and the clock.
    ("audit_head", "last_seq"): "one more entry per resume (job.resume); both chains are walked instead",
    ("audit_head", "last_hash"): "hashes chain over occurred_at; both chains are walked instead",
    ("audit_head", "last_mac"): "the keyed MAC of the head chains over those hashes; both chains are verified instead",
}
# Times of which only whether they are set is compared: that the step they stamp happened.
COLUMNS_COMPARED_AS_SET: dict[tuple[str, str], str] = {
    ("billing_run", "files_at"): "time the month's files were written (set or not is compared)",
}
AUDIT_COMPARED = ("actor", "actor_kind", "action", "atena_no", "purpose", "detail")


@dataclass
class Twin:
    settings: Settings
    db: Database
    root: Path
    extra_env: dict = field(default_factory=dict)  # more settings of the job's process (e.g. the hub's address)

    def env(self, kill_at: str = "") -> dict:
        env = {**os.environ, **self.extra_env, "SESSHU_DATABASE_URL": self.settings.resolved_database_url,
               "SESSHU_VAR_DIR": str(self.settings.var_dir)}
        env.pop(KILL_ENV, None)
        if kill_at:
            env[KILL_ENV] = kill_at
        return env


@dataclass
class JobSpec:
    """A batch job as the harness runs it. `args` may hold "{out}" (a folder in the twin's root)."""

    name: str
    args: list[str]
    # After every kill: raises AssertionError if a half batch is visible in this database.
    probe: Callable[[Database], None]
    # The audit entries (dicts of AUDIT_COMPARED, in order) → those to compare, without the ones that
    # record the interruption itself. job.resume entries are always dropped before.
    audit: Callable[[list[dict]], list[dict]] = lambda entries: entries
    # Expected exit code of a successful run.
    ok: int = 0
    # True if the job's end is recorded, for jobs whose re-run after the end is a new job (a key
    # rotation): a random kill can land after the end, and the operator then has nothing to re-run.
    finished: Callable[[Database], bool] = lambda db: False
    ids_in_detail: dict[str, str] = field(default_factory=dict)  # audit detail key → table of that id
    # More (table, column) → reason, for this job only.
    also_differ: dict[tuple[str, str], str] = field(default_factory=dict)
    module: str = "sesshu"  # `python -m MODULE ARGS`: the CLI, or a small runner module of the tests


def clone(a: Twin, tmp_path: Path, backend: str) -> Twin:
    """The twin: the same database content and the same key files, in its own root."""
    root = tmp_path / "twin"
    var = root / "var"
    shutil.copytree(a.settings.var_dir, var, ignore=shutil.ignore_patterns("sesshu.db*"))
    a.db.dispose()
    if backend == "sqlite":
        target = var / "sesshu.db"
        src = sqlite3.connect(a.settings.resolved_database_url.removeprefix("sqlite:///"))
        dst = sqlite3.connect(target)
        src.backup(dst)
        src.close()
        dst.close()
        url = f"sqlite:///{target}"
    else:
        source_url = a.settings.resolved_database_url
        base, name = source_url.rsplit("/", 1)
        twin_name = f"{name}_twin"
        admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{twin_name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{twin_name}" TEMPLATE "{name}"'))
        admin.dispose()
        url = f"{base}/{twin_name}"
    settings = load_settings(var_dir=var, database_url=url)
    return Twin(settings=settings, db=make_database(settings), root=var)


def drop(twin: Twin, backend: str) -> None:
    twin.db.dispose()
    if backend == "postgresql":
        base, name = twin.settings.resolved_database_url.rsplit("/", 1)
        admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _argv(twin: Twin, spec: JobSpec) -> list[str]:
    return [sys.executable, "-m", spec.module, *(a.replace("{out}", str(twin.root / "out")) for a in spec.args)]


def run(twin: Twin, spec: JobSpec, kill_at: str = "") -> tuple[int, float, str]:
    """(exit code, seconds, stderr) of one run of the job's command."""
    started = time.monotonic()
    p = subprocess.run(_argv(twin, spec), cwd=ROOT, env=twin.env(kill_at), capture_output=True, text=True,
                       timeout=300)
    return p.returncode, time.monotonic() - started, p.stderr


def run_killed_at(twin: Twin, spec: JobSpec, kill_at: str) -> None:
    rc, _, err = run(twin, spec, kill_at)
    assert rc == -signal.SIGKILL, f"{spec.name}: not killed at {kill_at} (exit {rc}): {err[-2000:]}"
    twin.db.dispose()
    spec.probe(twin.db)


def run_killed_randomly(twin: Twin, spec: JobSpec, window: float, seed: int, kills: int = 3) -> list[float]:
    """Start the job and SIGKILL it after a random delay in the window, `kills` times or until a run
    finishes first; probe after every kill. Returns the delays (for the failure message)."""
    rng = random.Random(seed)
    delays = []
    for _ in range(kills):
        if spec.finished(twin.db):
            break  # the last kill came after the job's end
        delay = rng.uniform(0.0, window)
        p = subprocess.Popen(_argv(twin, spec), cwd=ROOT, env=twin.env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=60)
            delays.append(round(delay, 3))
            twin.db.dispose()
            spec.probe(twin.db)
            continue
        assert p.returncode == spec.ok, f"{spec.name}: run failed with {p.returncode} (seed {seed})"
        break  # finished before the kill: a further run would be a new job, not a resume
    return delays


def finish(twin: Twin, spec: JobSpec) -> None:
    if spec.finished(twin.db):
        return
    rc, _, err = run(twin, spec)
    assert rc == spec.ok, f"{spec.name}: re-run failed (exit {rc}): {err[-2000:]}"


# --- the comparison ----------------------------------------------------------------------------------------

def _ranks(conn, tables: list[str]) -> dict[str, dict[int, int]]:
    """For each table with a single integer primary key: key → its rank in key order."""
    insp = inspect(conn)
    out = {}
    for t in tables:
        pk = insp.get_pk_constraint(t).get("constrained_columns") or []
        if len(pk) != 1:
            continue
        col = next(c for c in insp.get_columns(t) if c["name"] == pk[0])
        if not isinstance(col["type"], Integer) or t == "audit_entry":
            continue
        ids = conn.exec_driver_sql(f'SELECT "{pk[0]}" FROM "{t}" ORDER BY "{pk[0]}"').scalars().all()
        out[t] = {v: i for i, v in enumerate(ids, 1)}
    return out


def _decrypt(keys, table: str, column: str, row: dict, blob) -> object:
    if blob is None:
        return None
    blob = bytes(blob)
    for c in ENCRYPTED_COLUMNS:
        if (c.table, c.column) == (table, column):
            class R:  # the aad functions read attributes
                pass
            r = R()
            r.__dict__.update(row)
            return {"key": blob[1], "plain": keys.decrypt(blob, aad=c.aad(r))}
    raise AssertionError(f"{table}.{column}: a ciphertext column the harness does not know")


def state(twin: Twin, spec: JobSpec) -> dict[str, list]:
    """Every table as normalised rows (see the module docstring)."""
    keys = load_keyring(twin.settings)
    root = str(twin.root)
    out: dict[str, list] = {}
    with twin.db.engine.connect() as conn:
        # audit_mac holds one keyed MAC per audit entry (job.resume entries too) over hashes that chain on
        # the clock: like those hashes it is not compared; both chains, MACs included, are verified instead.
        tables = [t for t in user_tables(conn) if t not in ("alembic_version", "audit_mac")]
        ranks = _ranks(conn, tables)
        insp = inspect(conn)
        for t in tables:
            cols = [c["name"] for c in insp.get_columns(t)]
            pk = insp.get_pk_constraint(t).get("constrained_columns") or cols
            fks = {}
            for fk in insp.get_foreign_keys(t):
                if fk["referred_table"] in ranks and len(fk["constrained_columns"]) == 1:
                    fks[fk["constrained_columns"][0]] = fk["referred_table"]
            if t in ranks:
                fks[pk[0]] = t
            quoted = ", ".join(f'"{c}"' for c in cols)
            rows = conn.exec_driver_sql(f'SELECT {quoted} FROM "{t}" ORDER BY '
                                        + ", ".join(f'"{c}"' for c in pk)).all()
            if t == "audit_entry":
                out[t] = _audit_rows(rows, cols, spec, ranks, root)
                continue
            normalised = []
            for row in rows:
                d = dict(zip(cols, row))
                n = {}
                for c in cols:
                    v = d[c]
                    if (t, c) in COLUMNS_THAT_DIFFER or (t, c) in spec.also_differ:
                        continue
                    if (t, c) in COLUMNS_COMPARED_AS_SET:
                        v = v is not None
                    elif c in fks and v is not None:
                        v = ("rank", ranks[fks[c]][v])
                    elif c.endswith("_enc"):
                        v = _decrypt(keys, t, c, d, v)
                    else:
                        v = _value(v)
                        if isinstance(v, str):
                            v = v.replace(root, "<ROOT>")
                    n[c] = v
                normalised.append(n)
            out[t] = normalised
    return out


def _audit_rows(rows, cols, spec: JobSpec, ranks, root: str) -> list[dict]:
    out = []
    for row in rows:
        e = {c: v for c, v in zip(cols, row) if c in AUDIT_COMPARED}
        if e["action"] == "job.resume":
            continue
        detail = json.loads(e["detail"].replace(root, "<ROOT>")) if e["detail"] else {}
        for key, table in ({"job_id": "batch_job"} | spec.ids_in_detail).items():  # every job logs its id
            if isinstance(detail.get(key), int):
                detail[key] = ("rank", ranks[table][detail[key]])
        e["detail"] = detail
        out.append(e)
    return spec.audit(out)


def differences(a: dict[str, list], b: dict[str, list]) -> list[str]:
    problems = []
    for t in sorted(set(a) | set(b)):
        ra, rb = a.get(t, []), b.get(t, [])
        if len(ra) != len(rb):
            problems.append(f"{t}: {len(ra)} rows uninterrupted, {len(rb)} after the kill")
            continue
        for i, (x, y) in enumerate(zip(ra, rb)):
            if x != y:
                cols = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
                problems.append(f"{t}: row {i} differs in {cols}: {[x.get(k) for k in cols]} vs {[y.get(k) for k in cols]}")
                break
    return problems


def chain_verifies(db: Database) -> None:
    with db.transaction() as s:
        count, problems = walk_chain(s)
    assert problems == [] and count > 0, problems


def assert_twins_equal(a: Twin, b: Twin, spec: JobSpec) -> None:
    a.db.dispose()
    b.db.dispose()
    problems = differences(state(a, spec), state(b, spec))
    assert problems == [], f"{spec.name}: the killed-and-resumed database differs:\n" + "\n".join(problems)
    chain_verifies(a.db)
    chain_verifies(b.db)


def check_job_bookkeeping(db: Database, kind: str) -> list[dict]:
    """The sesshu.jobs invariant after a kill: each job's committed chunks are 0…k−1, and its progress
    is exactly their units. Returns the jobs of this kind as dicts (for the job's own probe)."""
    jobs = []
    with db.transaction() as s:
        for job_id, status, total, done, size in s.execute(text(
                "SELECT id, status, total_units, done_units, chunk_size FROM batch_job WHERE kind = :k ORDER BY id"),
                {"k": kind}).all():
            chunks = s.execute(text("SELECT chunk_no, units FROM batch_job_chunk WHERE job_id = :j ORDER BY chunk_no"),
                               {"j": job_id}).all()
            assert [c[0] for c in chunks] == list(range(len(chunks))), chunks
            assert sum(c[1] for c in chunks) == done == min(len(chunks) * size, total), (done, chunks)
            assert status == "running" or done == total
            jobs.append({"id": job_id, "status": status, "total": total, "done": done, "chunk_size": size})
    return jobs
