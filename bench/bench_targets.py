"""対象者選定 speed: `select_targets` over a demo city (default 300,000 residents, SQLite).

    .venv/bin/python bench/bench_targets.py --residents 300000

The city is built once under bench/out/targets/ (re-used when it exists with the same size).
Prints, per vaccine, the number of residents listed and the wall time.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from datetime import date
from pathlib import Path

from sesshu.actor import Actor
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.demo.service import load_demo
from sesshu.ledger.reference import sync_reference_data
from sesshu.ledger.targets import select_targets
from sesshu.migrate import upgrade

BENCH = Actor(login_id="bench", kind="os", role="operator")
AS_OF = date(2026, 11, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=300_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "targets")
    ap.add_argument("--vaccines", default="MR,HIB,HPV,JE,FLU_ELDER,PPSV23")
    args = ap.parse_args()
    marker = args.out / f"city-{args.residents}.done"
    settings = load_settings(var_dir=args.out)
    if not marker.exists():
        if args.out.exists():
            shutil.rmtree(args.out)
        args.out.mkdir(parents=True)
        upgrade(settings)
        db = make_database(settings)
        sync_reference_data(db)
        t = time.perf_counter()
        s = load_demo(db, settings, actor=BENCH, residents=args.residents, seed=1, as_of=AS_OF)
        print(f"demo city: {s.persons} residents, {s.records} records in {time.perf_counter() - t:.0f}s", flush=True)
        marker.touch()
        db.dispose()
    db = make_database(settings)
    figures = {}
    for vaccine in args.vaccines.split(","):
        t = time.perf_counter()
        rows = select_targets(db, actor=BENCH, vaccine=vaccine, as_of=AS_OF, within_days=30)
        secs = time.perf_counter() - t
        figures[vaccine] = {"rows": len(rows), "seconds": round(secs, 2)}
        print(f"targets {vaccine:<10} as of {AS_OF} (+30 days): {len(rows):>7} residents in {secs:6.2f}s", flush=True)
    (args.out / "targets.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
