"""Resumable batch jobs: a kill at any moment, then a re-run, gives what an uninterrupted run gives."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.audit.service import walk_chain
from sesshu.domain.errors import Conflict
from sesshu.jobs import job_status, list_jobs, run_job
from tests.integration.jobs_toy import ACTOR, ToyJob

ROOT = Path(__file__).resolve().parents[2]


def _chunks_on_record(db) -> list[list[str]]:
    with db.transaction() as s:
        rows = s.execute(select(AuditEntry.detail).where(AuditEntry.action == "toy.chunk")
                         .order_by(AuditEntry.seq)).scalars()
        return [json.loads(d)["units"] for d in rows]


def _files(out: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(out.iterdir())}


def _run_script(settings, out: Path, kill_at: str = "") -> int:
    env = {**os.environ, "SESSHU_DATABASE_URL": settings.resolved_database_url, "SESSHU_VAR_DIR": str(settings.var_dir)}
    return subprocess.run([sys.executable, "-m", "tests.integration.jobs_toy", str(out), *([kill_at] if kill_at else [])],
                          cwd=ROOT, env=env, timeout=120).returncode


def test_job_runs_every_unit_once_in_chunks(db, tmp_path):
    outcome = run_job(db, ToyJob(tmp_path), actor=ACTOR, key="k", params={"units": 12}, chunk_size=5)
    assert (outcome.status, outcome.total_units, outcome.done_units) == ("done", 12, 12)
    assert [len(c) for c in _chunks_on_record(db)] == [5, 5, 2]
    assert outcome.result == {"files": 3}


def test_rerun_of_a_done_job_changes_nothing(db, tmp_path):
    run_job(db, ToyJob(tmp_path), actor=ACTOR, key="k", params={"units": 7}, chunk_size=5)
    again = run_job(db, ToyJob(tmp_path), actor=ACTOR, key="k", params={"units": 7}, chunk_size=5)
    assert again.already_done and again.status == "done"
    assert len(_chunks_on_record(db)) == 2


def test_same_key_with_other_parameters_is_refused(db, tmp_path):
    run_job(db, ToyJob(tmp_path), actor=ACTOR, key="k", params={"units": 7}, chunk_size=5)
    with pytest.raises(Conflict, match="条件の異なる"):
        run_job(db, ToyJob(tmp_path), actor=ACTOR, key="k", params={"units": 8}, chunk_size=5)


def test_stopping_after_some_chunks_and_continuing(db, tmp_path):
    first = run_job(db, ToyJob(tmp_path), actor=ACTOR, key="k", params={"units": 12}, chunk_size=5, max_chunks=1)
    assert (first.status, first.done_units) == ("running", 5)
    assert job_status(db, first.job_id)["done_units"] == 5
    rest = run_job(db, ToyJob(tmp_path), actor=ACTOR, key="k", params={"units": 12}, chunk_size=5)
    assert rest.resumed and rest.status == "done"
    assert sum(_chunks_on_record(db), []) == [f"P{i:04d}" for i in range(12)]
    assert [j["status"] for j in list_jobs(db, kind="toy")] == ["done"]


@pytest.mark.parametrize("kill_at", ["process:2", "output:2", "output:4"])
def test_kill_9_then_rerun_equals_an_uninterrupted_run(settings, db, tmp_path, kill_at):
    out = tmp_path / "out"
    out.mkdir()
    assert _run_script(settings, out, kill_at) == -9
    assert not list(out.glob("*.part")) or kill_at.startswith("output")
    # No half chunk: whatever is on record is whole chunks of the plan, in order.
    partial = _chunks_on_record(db)
    assert sum(partial, []) == [f"P{i:04d}" for i in range(len(sum(partial, [])))]
    assert _run_script(settings, out) == 0
    killed_files, killed_chunks = _files(out), _chunks_on_record(db)

    reference = tmp_path / "reference"
    reference.mkdir()
    run_job(db, ToyJob(reference), actor=ACTOR, key="toy-2", params={"units": 23}, chunk_size=5)
    assert killed_chunks == _chunks_on_record(db)[len(killed_chunks):]
    assert {k: v for k, v in killed_files.items() if k.endswith(".txt")} == _files(reference)
    with db.transaction() as s:
        assert walk_chain(s)[1] == []
