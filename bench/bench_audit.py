"""Audit review at scale (SQLite): verify a 1,000,000-entry chain with its signed checkpoints, and run
the anomaly report over a month of 1,000,000 entries.

    .venv/bin/python bench/bench_audit.py [--entries 1000000]

Builds bench/out/audit/sesshu.db afresh: one month (October 2026) of a 40-person office — person
views and searches in business hours, a little overtime and weekend work, a few heavy viewers,
login failures — hash-chained exactly as `sesshu.audit.service.record` does, written with
executemany for speed. Then it times, through the real services: checkpoint creation for the 31
days, `verify_log` (whole chain + checkpoints), the anomaly report for the month, and a few
lookups. Figures go to stdout and bench/out/audit.json.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from sesshu.actor import Actor
from sesshu.audit.anomalies import anomaly_report
from sesshu.audit.checkpoints import create_checkpoints, verify_log
from sesshu.audit.lookup import LookupCriteria, search_entries
from sesshu.audit.service import GENESIS, entry_hash
from sesshu.clock import JST, utc_iso
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.migrate import upgrade

OUT = Path(__file__).parent / "out"
MONTH = date(2026, 10, 1)
ACTOR = Actor(login_id="bench", kind="os", role="operator")


def _moments(n: int, rng: random.Random):
    """n timestamps over October 2026, sorted: ~95 % in business hours on weekdays."""
    days = [MONTH + timedelta(days=i) for i in range(31)]
    weekdays = [d for d in days if d.weekday() < 5]
    weekend = [d for d in days if d.weekday() >= 5]
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.95:
            d, minute = rng.choice(weekdays), rng.randint(8 * 60 + 30, 17 * 60 + 14)
        elif r < 0.99:
            d = rng.choice(weekdays)
            minute = rng.choice([rng.randint(17 * 60 + 15, 21 * 60), rng.randint(7 * 60, 8 * 60 + 29)])
        else:
            d, minute = rng.choice(weekend), rng.randint(9 * 60, 18 * 60)
        out.append(datetime(d.year, d.month, d.day, minute // 60, minute % 60, rng.randint(0, 59),
                            rng.randint(0, 999999), tzinfo=JST))
    out.sort()
    return out


def build(path: Path, n: int) -> None:
    if path.parent.exists():
        shutil.rmtree(path.parent)
    path.parent.mkdir(parents=True)
    settings = load_settings(var_dir=path.parent, database_url=f"sqlite:///{path}")
    upgrade(settings)
    rng = random.Random(7)
    staff = [f"staff{i:02d}" for i in range(40)]
    con = sqlite3.connect(path)
    prev, rows = GENESIS, []
    t0 = time.perf_counter()
    for seq, moment in enumerate(_moments(n, rng), start=1):
        occurred_at = utc_iso(moment)
        r = rng.random()
        who = rng.choice(staff)
        if r < 0.002:
            action, atena, purpose = "auth.login_failed", None, "ログイン"
            detail = json.dumps({"client": f"10.0.0.{rng.randint(1, 60)}", "reason": "bad_password"})
        elif r < 0.15:
            action, atena, purpose, detail = "person.search", None, "対象者の検索", json.dumps({"rows": rng.randint(0, 50)})
        else:
            who = rng.choice(staff[:3]) if rng.random() < 0.1 else who  # three heavy viewers
            action, atena, purpose = "person.view", str(rng.randint(1, 120000)), "接種履歴の確認"
            detail = json.dumps({"records": rng.randint(0, 20)})
        h = entry_hash(prev, seq, occurred_at, who, "user", action, atena, purpose, detail)
        rows.append((seq, occurred_at, who, "user", action, atena, purpose, detail, prev, h))
        prev = h
        if len(rows) == 50000:
            con.executemany("INSERT INTO audit_entry VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            rows.clear()
    con.executemany("INSERT INTO audit_entry VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    con.execute("UPDATE audit_head SET last_seq = ?, last_hash = ?", (n, prev))
    con.commit()
    con.close()
    print(f"built {n:,} entries in {time.perf_counter() - t0:.1f}s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    args = ap.parse_args()
    path = OUT / "audit" / "sesshu.db"
    build(path, args.entries)
    settings = load_settings(var_dir=path.parent, database_url=f"sqlite:///{path}")
    db = make_database(settings)
    figures: dict[str, float] = {"entries": args.entries}

    def timed(name, fn):
        t = time.perf_counter()
        out = fn()
        figures[name] = round(time.perf_counter() - t, 3)
        print(f"{name:<32} {figures[name]:8.3f} s")
        return out

    timed("checkpoints_create_s", lambda: create_checkpoints(db, settings, actor=ACTOR, today=date(2026, 11, 1)))
    report = timed("verify_chain_and_checkpoints_s", lambda: verify_log(db, settings, actor=ACTOR))
    assert report.ok, report.problems[:5]
    figures["verified_entries"] = report.entries
    anomalies = timed("anomaly_report_month_s", lambda: anomaly_report(
        db, settings, actor=ACTOR, date_from=MONTH, date_to=date(2026, 10, 31)))
    figures.update(off_hours=len(anomalies.off_hours), failures_by_account=len(anomalies.failures_by_account),
                   failures_by_client=len(anomalies.failures_by_client), view_volume=len(anomalies.view_volume))
    timed("lookup_person_s", lambda: search_entries(db, actor=ACTOR, criteria=LookupCriteria.parse(atena_no="4242")))
    timed("lookup_actor_day_s", lambda: search_entries(db, actor=ACTOR, criteria=LookupCriteria.parse(
        actor="staff07", date_from="2026-10-15", date_to="2026-10-15")))
    timed("lookup_action_month_s", lambda: search_entries(db, actor=ACTOR, criteria=LookupCriteria.parse(
        action="auth.login_failed", date_from="2026-10-01", date_to="2026-10-31")))
    print(json.dumps({k: v for k, v in figures.items() if not k.endswith("_s")}, ensure_ascii=False))
    (OUT / "audit.json").write_text(json.dumps(figures, indent=2) + "\n")
    db.dispose()


if __name__ == "__main__":
    main()
