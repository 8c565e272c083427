"""Run November's billing in a process of its own, optionally killing itself with SIGKILL inside the
transaction of chunk N ("process:N") — so a test can check that a re-run resumes to the same result.

    python -m tests.integration.billing.kill_run [process:N]
"""
from __future__ import annotations

import os
import signal
import sys

from sesshu.billing.service import BillingJob, run_month
from tests.integration.billing.city import ACTOR, NOV, TRANSFER


class KillingJob(BillingJob):
    def __init__(self, kill_at: str):
        super().__init__()
        self.kill_at = kill_at

    def process(self, s, ctx, chunk_no, units):
        super().process(s, ctx, chunk_no, units)
        if self.kill_at == f"process:{chunk_no}":
            s.flush()  # the lines are sent to the database, not committed
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    from sesshu.config import load_settings
    from sesshu.db import make_database

    kill_at = sys.argv[1] if len(sys.argv) > 1 else ""
    db = make_database(load_settings())
    run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER, chunk_size=1, job=KillingJob(kill_at))


if __name__ == "__main__":
    main()
