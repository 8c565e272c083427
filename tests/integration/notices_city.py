"""A small city for the notice and ticket tests, and a notice run that can be killed (script mode).

`python -m tests.integration.notices_city OUT_DIR [KILL_AT]`: runs the MR notice batch of AS_OF on the
database in SESSHU_DATABASE_URL, three persons per file; KILL_AT "process:N" kills the process inside
chunk N's transaction, "output:N" after chunk N committed but before its PDF is written.
"""
from __future__ import annotations

import os
import signal
import sys
from datetime import date
from pathlib import Path

from sesshu.actor import Actor
from tests.helpers import REGISTRY_HEADER, write

AS_OF = date(2026, 12, 1)
OPERATOR = Actor(login_id="notices-test", kind="os", role="operator")
# Eight children who turn one in November 2026 (MR 1期 opens at 12 months), one of them with a long
# address, plus an adult and a child who moved out (neither is listed).
CHILDREN = [(f"20{i:02d}", f"熊谷　子{i}", f"クマガヤ　コ{i}", "男" if i % 2 else "女", f"2025-11-{i + 1:02d}")
            for i in range(1, 9)]


def load_city(db, settings, tmp_path: Path) -> list[str]:
    from sesshu.registry.service import import_registry

    rows = [f"{a},,{n},{k},{sx},{b},360-00{i:02d},埼玉県熊谷市宮町二丁目{i}番地,,{a},世帯主,{n},住民,,"
            for i, (a, n, k, sx, b) in enumerate(CHILDREN, 1)]
    rows[0] = rows[0].replace("宮町二丁目1番地", "宮町二丁目1番地 サンプルマンション熊谷駅前グランドタワー1203号室")
    rows.append("3001,,大人　一郎,オトナ　イチロウ,男,1980-01-01,360-0100,埼玉県熊谷市筑波一丁目1番地,,3001,世帯主,大人　一郎,住民,,")
    rows.append("3002,,転出　子,テンシュツ　コ,女,2025-11-15,360-0101,埼玉県熊谷市本町1番地,,3002,世帯主,転出　子,転出,転出,2026-10-01")
    path = write(tmp_path / "registry-city.csv", REGISTRY_HEADER + "\n" + "\n".join(rows) + "\n")
    summary = import_registry(db, settings, path=path, actor=OPERATOR)
    assert summary.accepted == len(rows), summary
    return [c[0] for c in CHILDREN]


def main() -> None:
    from sesshu.config import load_settings
    from sesshu.db import make_database
    from sesshu.jobs import run_job
    from sesshu.tickets.notices import NoticeJob, job_key, job_params

    out_dir, kill_at = Path(sys.argv[1]), (sys.argv[2] if len(sys.argv) > 2 else "")

    class KillableNoticeJob(NoticeJob):
        def process(self, s, ctx, chunk_no, units):
            super().process(s, ctx, chunk_no, units)
            if kill_at == f"process:{chunk_no}":
                os.kill(os.getpid(), signal.SIGKILL)

        def write_output(self, s, ctx, chunk_no, units):
            if kill_at == f"output:{chunk_no}":
                os.kill(os.getpid(), signal.SIGKILL)
            super().write_output(s, ctx, chunk_no, units)

    settings = load_settings()
    db = make_database(settings)
    run_job(db, KillableNoticeJob(settings), actor=OPERATOR, key=job_key("MR", AS_OF, 30),
            params=job_params("MR", AS_OF, 30, out_dir), chunk_size=3)


if __name__ == "__main__":
    main()
