"""副本 registration speed over a demo city (SQLite): prepare the first full batch, approve it
(the copies become current), then a 差分 batch after 1% of the records are corrected, and the
answer a provider builds for one person.

    .venv/bin/python bench/bench_linkage.py --residents 30000

The city is built under bench/out/linkage/ (rebuilt every run: preparation changes it).
"""
from __future__ import annotations

import argparse
import shutil
import time
from datetime import date
from pathlib import Path

from sqlalchemy import select, text, update

from sesshu.actor import Actor
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.demo.service import load_demo
from sesshu.ledger.models import VaccinationRecord
from sesshu.ledger.reference import sync_reference_data
from sesshu.linkage import copies as cp
from sesshu.linkage import service as linkage
from sesshu.migrate import upgrade

BENCH = Actor(login_id="bench", kind="os", role="operator")
APPROVER = Actor(login_id="bench-boss", kind="user", role="supervisor", user_id=None)


def _timed(label: str, fn):
    t = time.perf_counter()
    out = fn()
    print(f"{label}: {time.perf_counter() - t:.2f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=3000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "linkage")
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    settings = load_settings(var_dir=args.out)
    upgrade(settings)
    db = make_database(settings)
    sync_reference_data(db)
    load_demo(db, settings, actor=BENCH, residents=args.residents, seed=1, as_of=date(2026, 11, 1))
    with db.transaction() as s:
        records = s.execute(text("SELECT count(*) FROM vaccination_record")).scalar()
    print(f"residents {args.residents}, records {records}")

    def publish(batch):
        # The approval's apply step, as the supervisor's approval runs it (the check step is bookkeeping).
        with db.transaction() as s:
            p = linkage.validate_check(s, {"batch_id": batch.id, "expected_version": batch.version},
                                       Actor(login_id="bench-checker", kind="user", role="clerk"))
        with db.transaction() as s:
            linkage.apply_publish(s, p, APPROVER, None)

    first = _timed("prepare (all records)", lambda: linkage.prepare_batch(db, actor=BENCH))
    _timed(f"approve {first.copies} copies", lambda: publish(first))
    with db.transaction() as s:
        ids = s.execute(select(VaccinationRecord.id).where(VaccinationRecord.id % 100 == 0)).scalars().all()
        s.execute(update(VaccinationRecord).where(VaccinationRecord.id.in_(ids)).values(
            version=VaccinationRecord.version + 1).execution_options(synchronize_session=False))
    diff = _timed(f"prepare 差分 ({len(ids)} corrected)", lambda: linkage.prepare_batch(db, actor=BENCH))
    _timed(f"approve {diff.copies} copies", lambda: publish(diff))
    with db.transaction() as s:
        atena_no = s.execute(text("SELECT atena_no FROM provision_copy LIMIT 1")).scalar()
        _timed("current 副本 of one person (an answer)", lambda: cp.current_copies(s, atena_no))


if __name__ == "__main__":
    main()
