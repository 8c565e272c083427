"""kill -9 in the middle of a monthly run, then the same command again: the result of an uninterrupted run."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sesshu.audit.service import walk_chain
from sesshu.billing.models import BillingReturn, BillingRun, PaymentLine
from sesshu.billing.service import run_month
from sesshu.jobs.models import BatchJobChunk
from tests.integration.billing.city import ACTOR, NOV, TRANSFER
from tests.integration.billing.test_monthly_run import prepare_november

ROOT = Path(__file__).resolve().parents[3]


def _run(settings, kill_at: str = "") -> int:
    env = {**os.environ, "SESSHU_DATABASE_URL": settings.resolved_database_url, "SESSHU_VAR_DIR": str(settings.var_dir)}
    return subprocess.run([sys.executable, "-m", "tests.integration.billing.kill_run", *([kill_at] if kill_at else [])],
                          cwd=ROOT, env=env, timeout=120).returncode


def _state(db):
    with db.transaction() as s:
        lines = sorted((ln.kind, ln.institution_code, ln.record_id, ln.amount) for ln in s.execute(
            select(PaymentLine).where(PaymentLine.month == NOV)).scalars())
        returns = sorted((r.institution_code, r.record_id, r.codes) for r in s.execute(
            select(BillingReturn).where(BillingReturn.month == NOV)).scalars())
    return lines, returns


@pytest.mark.parametrize("kill_at", ["process:0", "process:1"])
def test_kill_9_mid_run_then_rerun_gives_the_uninterrupted_result(settings, db, tmp_path, kill_at):
    prepare_november(db, settings, tmp_path)
    assert _run(settings, kill_at) == -9
    with db.transaction() as s:  # the chunks before the killed one are committed whole, nothing of it
        job_id = s.execute(select(BillingRun.job_id).where(BillingRun.month == NOV)).scalar_one()
        chunks = s.execute(select(func.count()).select_from(BatchJobChunk)
                           .where(BatchJobChunk.job_id == job_id)).scalar_one()
        touched = set(s.execute(select(PaymentLine.institution_code).where(PaymentLine.month == NOV)).scalars())
        touched |= set(s.execute(select(BillingReturn.institution_code).where(BillingReturn.month == NOV)).scalars())
    assert chunks == int(kill_at[-1])
    # Units in order: "-" (records naming no clinic: returns only), then the two clinics.
    assert touched == [set(), {""}][chunks]
    assert _run(settings) == 0
    resumed = _state(db)
    fresh = run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)  # a new, uninterrupted run
    assert fresh.run_no == 2
    assert _state(db) == resumed
    assert fresh.outcome.result["total"] == 13420 + 8960
    with db.transaction() as s:
        assert walk_chain(s)[1] == []
