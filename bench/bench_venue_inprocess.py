"""Venue mode in-process: what one dose costs the server, without HTTP — the scan (`venue.look_up`) and the
F2 (`venue.record_scan`, with a second F2 confirming a dose judged invalid, as the station does) on the load
test's PostgreSQL city, timed, profiled (cProfile, top by own time) and with the database statements of the
first dose counted and timed (SQLAlchemy cursor events).

    .venv/bin/python bench/bench_venue_inprocess.py --residents 200000 --doses 30

Run it with another tree's `src` on PYTHONPATH (e.g. `git archive <commit> src | tar -x -C /tmp/old`) alternately
with this one to compare two versions under the same load. Uses `bench_venue`'s tickets and a clerk account.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import event, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_venue import VACCINE, ensure_tickets  # noqa: E402
from load import build_city, ensure_staff  # noqa: E402

from sesshu.actor import Actor  # noqa: E402
from sesshu.db import make_database  # noqa: E402
from sesshu.domain.errors import InvalidInput  # noqa: E402
from sesshu.orm import load_all_models  # noqa: E402
from sesshu.venue import service as venue  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--residents", type=int, default=200_000)
    ap.add_argument("--database", help="PostgreSQL database of the city (default sesshu_load_<residents>)")
    ap.add_argument("--doses", type=int, default=30)
    args = ap.parse_args()
    load_all_models()
    name = args.database or f"sesshu_load_{args.residents}"
    var = Path(f"/tmp/{name.replace('_', '-')}")
    var.mkdir(parents=True, exist_ok=True)
    settings, _ = build_city(f"postgresql://postgres@127.0.0.1:5432/{name}", var, args.residents, False)
    login = ensure_staff(settings, 1, prefix="venue", role="clerk", label="会場")[0]
    scans, _ = ensure_tickets(settings, args.doses + 1)
    db = make_database(settings)
    with db.engine.connect() as c:
        uid = c.execute(text("SELECT id FROM staff_user WHERE login_id = :l"), {"l": login}).scalar_one()
    actor = Actor(login_id=login, kind="user", role="clerk", user_id=uid)
    station = venue.Station.from_dict({"vaccine_code": VACCINE, "lot_no": "BENCH-01", "dose_volume_ml": "0.5"})
    phase: dict = {"now": None}
    count: Counter = Counter()
    took: Counter = Counter()
    seen: Counter = Counter()

    @event.listens_for(db.engine, "before_cursor_execute")
    def _before(conn, cursor, statement, params, context, executemany):
        context._bench_t0 = time.perf_counter()
        if phase["now"]:
            count[phase["now"]] += 1

    @event.listens_for(db.engine, "after_cursor_execute")
    def _after(conn, cursor, statement, params, context, executemany):
        if phase["now"]:
            key = statement.split("\n")[0][:90]
            took[key] += time.perf_counter() - context._bench_t0
            seen[key] += 1

    def dose(scan: str) -> tuple[float, float]:
        t0 = time.perf_counter()
        venue.look_up(db, settings, actor=actor, station=station, scan=scan)
        t1 = time.perf_counter()
        if phase["now"]:
            phase["now"] = "record"
        try:
            venue.record_scan(db, settings, actor=actor, station=station, scan=scan)
        except InvalidInput as e:  # E_CONFIRM_INVALID: the second F2
            if e.code != "E_CONFIRM_INVALID":
                raise
            venue.record_scan(db, settings, actor=actor, station=station, scan=scan, confirm_invalid=True)
        return t1 - t0, time.perf_counter() - t1

    dose(scans[-1])  # warm: the rule book, the masters' statements
    times: dict[str, list[float]] = {"scan": [], "record": []}
    profile = cProfile.Profile()
    for i, scan in enumerate(scans[:args.doses]):
        phase["now"] = "scan" if i == 0 else None
        profile.enable()
        a, b = dose(scan)
        profile.disable()
        phase["now"] = None
        times["scan"].append(a)
        times["record"].append(b)
    print("statements of the first dose:", dict(count))
    for key, secs in took.most_common(25):
        print(f"{secs * 1000 / seen[key]:7.2f} ms x{seen[key]:3d}  {key}")
    for what, values in times.items():
        print(f"{what}: median {statistics.median(values) * 1000:.1f} ms, mean {statistics.fmean(values) * 1000:.1f} ms")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(20)
    print(out.getvalue())
    db.dispose()


if __name__ == "__main__":
    main()
