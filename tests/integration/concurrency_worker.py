"""A separate process that appends to the audit chain: person views and small 予診票 imports.

Used by test_concurrency.py: `python -m tests.integration.concurrency_worker DB_URL VAR_DIR FILES_DIR WORKER N ATENA...`.
Prints one line per action it finished, so the test knows how many entries to expect."""
from __future__ import annotations

import sys
from pathlib import Path

from sesshu.actor import Actor
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.ledger import service as ledger
from tests.helpers import RECORD_HEADER, write


def record_file(directory: Path, worker: int, k: int, atena: str) -> Path:
    """Two rows for one person on dates no other worker or batch uses."""
    lines = [",".join([atena, "FLU_ELDER", "", "", "", f"{2000 + worker}-{k % 12 + 1:02d}-{day:02d}"] + [""] * 15)
             for day in (1 + 2 * (k // 12), 2 + 2 * (k // 12))]
    return write(directory / f"w{worker}-{k}.csv", RECORD_HEADER + "\n" + "\n".join(lines) + "\n")


def main(url: str, var_dir: str, files: str, worker: int, n: int, atenas: list[str]) -> None:
    settings = load_settings(database_url=url, var_dir=Path(var_dir))
    db = make_database(settings)
    actor = Actor(login_id=f"worker{worker}", kind="os", role="operator")
    try:
        for k in range(n):
            atena = atenas[k % len(atenas)]
            if k % 2 == 0:
                ledger.person_history(db, settings, actor=actor, atena_no=atena)
                print("view", flush=True)
            else:
                summary = ledger.import_records(db, settings, path=record_file(Path(files), worker, k, atena),
                                                actor=actor)
                print(f"import {summary.accepted}", flush=True)
    finally:
        db.dispose()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6:])
