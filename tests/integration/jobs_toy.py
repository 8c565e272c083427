"""A small job for the runner's tests: each chunk writes one audit entry and, once committed, one file.

Run as a script (`python -m tests.integration.jobs_toy OUT_DIR [KILL_AT]`) so a test can kill it with
SIGKILL at a chosen moment: "process:N" inside chunk N's transaction, "output:N" after chunk N committed
but before its file is written.
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from sesshu.actor import Actor
from sesshu.audit import service as audit

ACTOR = Actor(login_id="jobs-test", kind="os", role="operator")


class ToyJob:
    kind = "toy"
    label = "テスト用の処理"

    def __init__(self, out_dir: Path, kill_at: str = ""):
        self.out_dir, self.kill_at = Path(out_dir), kill_at

    def _maybe_die(self, where: str, chunk_no: int) -> None:
        if self.kill_at == f"{where}:{chunk_no}":
            os.kill(os.getpid(), signal.SIGKILL)

    def plan(self, s, ctx):
        return [f"P{i:04d}" for i in range(ctx.params["units"])]

    def process(self, s, ctx, chunk_no, units):
        audit.record(s, ctx.actor, "toy.chunk", purpose="テスト", detail={"chunk": chunk_no, "units": units})
        self._maybe_die("process", chunk_no)

    def write_output(self, s, ctx, chunk_no, units):
        self._maybe_die("output", chunk_no)
        path = self.out_dir / f"chunk-{chunk_no:03d}.txt"
        tmp = path.with_suffix(".part")
        tmp.write_text("\n".join(units) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def finish(self, s, ctx):
        return {"files": len(list(self.out_dir.glob("chunk-*.txt")))}


def main() -> None:
    from sesshu.config import load_settings
    from sesshu.db import make_database
    from sesshu.jobs import run_job

    out_dir, kill_at = Path(sys.argv[1]), (sys.argv[2] if len(sys.argv) > 2 else "")
    db = make_database(load_settings())
    run_job(db, ToyJob(out_dir, kill_at), actor=ACTOR, key="toy-1", params={"units": 23}, chunk_size=5)


if __name__ == "__main__":
    main()
