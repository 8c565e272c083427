"""接種券 in waves at 10,000 … 1,000,000 persons on SQLite: is the memory of a wave flat in its size?

    .venv/bin/python bench/bench_waves_sqlite.py --sizes 10000 100000 1000000 --full 10000 100000

For each size N a city of exactly N residents aged 65–100 is made (an SQLite file under --root, kept for the
next run; persons written straight into the table — a benchmark's bulk path, not the registry import —
with no history, so every one of them is on the 新型コロナ B類 line today and the wave takes the whole line).
Then, each as a child process whose own peak RSS and CPU time are measured (os.wait4):

1. **plan**: `run_wave(..., max_chunks=0)` — the wave's one planning transaction (the line's targets a few
   birth dates at a time, the persons staged, put in post order, the units and one `notice.select` audit
   entry per person written), nothing issued yet;
2. with `--full N`: `sesshu tickets wave` with the same arguments — it finds the planned wave and runs its
   chunks (tickets issued and audited, one PDF of --per-file persons per chunk, mailing.csv), as an
   overnight run resumed after a stop would.

Load average before and after is printed beside each figure (a shared machine). The figures go to stdout
and to ROOT/waves-sqlite.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

VACCINE = "COVID"


def build_city(var: Path, n: int) -> float:
    """An SQLite city of n residents aged 65–100 today, no history (kept: `done` marks it)."""
    from sqlalchemy import insert

    from sesshu.clock import today_jst, utcnow
    from sesshu.config import load_settings
    from sesshu.db import make_database
    from sesshu.migrate import upgrade
    from sesshu.orm import load_all_models
    from sesshu.registry.models import Person

    if (var / "done").exists():
        return 0.0
    var.mkdir(parents=True, exist_ok=True)
    for f in var.glob("*.db*"):
        f.unlink()
    started = time.monotonic()
    settings = load_settings(var_dir=var)
    upgrade(settings)
    load_all_models()
    db = make_database(settings)
    today, now, rng = today_jst(), utcnow(), random.Random(n)
    oldest, span = today.replace(year=today.year - 100), (today.replace(year=today.year - 65) - today.replace(year=today.year - 100)).days
    for start in range(0, n, 20_000):
        rows = []
        for i in range(start, min(n, start + 20_000)):
            born = oldest + timedelta(days=rng.randrange(span))
            town = rng.randrange(200)
            rows.append({"atena_no": f"{i + 1:010d}", "name": f"熊谷　{i}", "name_key": f"熊谷{i}",
                         "name_kana": "クマガヤ　タロウ", "kana_key": "クマガヤタロウ", "sex": "MF"[i % 2],
                         "birth_date": born, "postal_code": f"360-{town:04d}",
                         "address": f"埼玉県熊谷市宮町{town}丁目{rng.randrange(1, 40)}番{rng.randrange(1, 30)}号",
                         "household_no": f"{i + 1:010d}", "relationship": "世帯主", "householder_name": f"熊谷　{i}",
                         "registry_status": "resident", "version": 1, "created_at": now, "updated_at": now})
        with db.transaction() as s:
            s.execute(insert(Person), rows)
    db.dispose()
    (var / "done").write_text(str(n))
    return time.monotonic() - started


def child_plan(var: Path, size: int, out: Path, per_file: int, cache_mb: int | None) -> None:
    """In the child: plan the wave only (no chunk), print what it planned. `cache_mb`: SQLite's page cache
    for this connection instead of sesshu's 256 MB (to tell the cache from the plan's own memory)."""
    from sesshu.actor import os_actor
    from sesshu.clock import today_jst
    from sesshu.config import load_settings
    from sesshu.db import make_database
    from sesshu.orm import load_all_models
    from sesshu.tickets.waves import Wave, run_wave

    load_all_models()
    settings = load_settings(var_dir=var)
    db = make_database(settings)
    if cache_mb is not None and db.is_sqlite:
        from sqlalchemy import event

        @event.listens_for(db.engine, "connect")
        def _cache(dbapi_conn, _record):
            dbapi_conn.execute(f"PRAGMA cache_size=-{cache_mb * 1024}")
    from sqlalchemy import func, select

    from sesshu.jobs.models import BatchJob

    with db.transaction() as s:  # a new wave each run (a plan issues nothing: the same persons again)
        number = 1 + s.execute(select(func.count()).select_from(BatchJob).where(BatchJob.kind == "ticket_waves")).scalar_one()
    t = time.perf_counter()
    outcome = run_wave(db, settings, actor=os_actor(), out_dir=out, per_file=per_file, max_chunks=0,
                       wave=Wave(vaccine=VACCINE, as_of=today_jst(), number=number, size=size))
    print(json.dumps({"planned": outcome.total_units, "status": outcome.status, "wave": number,
                      "seconds": time.perf_counter() - t}))


def measured(cmd: list[str], env: dict) -> tuple[str, float, float, float]:
    """stdout, wall seconds, the child's CPU seconds (user + system), its peak RSS in MB."""
    with tempfile.TemporaryFile() as so, tempfile.TemporaryFile() as se:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=so, stderr=se)
        _, status, usage = os.wait4(proc.pid, 0)
        secs = time.perf_counter() - t
        if os.waitstatus_to_exitcode(status):
            se.seek(0)
            raise SystemExit(se.read().decode()[-3000:])
        so.seek(0)
        return so.read().decode(), secs, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--full", type=int, nargs="*", default=[], help="sizes also run to the end (tickets, PDFs)")
    ap.add_argument("--per-file", type=int, default=1000)
    ap.add_argument("--root", type=Path, default=Path("/tmp/sesshu-waves-sqlite"))
    ap.add_argument("--sqlite-cache-mb", type=int, help="SQLite page cache of the plan's child (default: sesshu's 256 MB)")
    ap.add_argument("--database-url", help="plan on this existing city instead (e.g. the load test's PostgreSQL "
                                           "city; --var-dir its key directory); sizes are then wave sizes")
    ap.add_argument("--var-dir", type=Path)
    ap.add_argument("--child-plan", nargs=3, metavar=("VAR", "SIZE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_plan:
        child_plan(Path(args.child_plan[0]), int(args.child_plan[1]), Path(args.child_plan[2]), args.per_file,
                   args.sqlite_cache_mb)
        return
    figures = []
    for n in args.sizes:
        if args.database_url:
            var, build = args.var_dir, 0.0
            env = dict(os.environ, SESSHU_VAR_DIR=str(var), SESSHU_DATABASE_URL=args.database_url)
        else:
            var = args.root / f"city-{n}"
            build = build_city(var, n)
            env = dict(os.environ, SESSHU_VAR_DIR=str(var))
            env.pop("SESSHU_DATABASE_URL", None)
        out = args.root / f"out-{n}" if args.database_url else var / "out"
        load = round(os.getloadavg()[0], 1)
        cache = ["--sqlite-cache-mb", str(args.sqlite_cache_mb)] if args.sqlite_cache_mb is not None else []
        stdout, secs, cpu, rss = measured([sys.executable, __file__, "--per-file", str(args.per_file), *cache,
                                           "--child-plan", str(var), str(n), str(out)], env)
        plan = json.loads(stdout.strip().splitlines()[-1])
        f = {"size": n, "wave": plan["wave"], "database": "postgresql" if args.database_url else "sqlite",
             "sqlite_cache_mb": args.sqlite_cache_mb, "city_build_seconds": round(build, 1), "step": "plan",
             "persons": plan["planned"],
             "wall_seconds": round(secs, 1), "cpu_seconds": round(cpu, 1),
             "cpu_ms_per_person": round(cpu * 1000 / max(plan["planned"], 1), 3), "peak_rss_mb": round(rss),
             "load_average_1min": [load, round(os.getloadavg()[0], 1)], "cpus": os.cpu_count()}
        figures.append(f)
        print(json.dumps(f, ensure_ascii=False), flush=True)
        if n in args.full:
            load = round(os.getloadavg()[0], 1)
            stdout, secs, cpu, rss = measured(
                [sys.executable, "-m", "sesshu", "tickets", "wave", "--vaccine", VACCINE, "--wave", str(plan["wave"]),
                 "--size", str(n),
                 "--out", str(out), "--per-file", str(args.per_file), "--json"], env)
            result = json.loads(stdout)
            f = {"size": n, "step": "chunks (tickets, PDFs, mailing.csv)", "persons": result["persons"],
                 "files": len(result["files"]), "wall_seconds": round(secs, 1), "cpu_seconds": round(cpu, 1),
                 "persons_per_s": round(result["persons"] / secs, 1),
                 "cpu_ms_per_person": round(cpu * 1000 / max(result["persons"], 1), 2), "peak_rss_mb": round(rss),
                 "load_average_1min": [load, round(os.getloadavg()[0], 1)]}
            figures.append(f)
            print(json.dumps(f, ensure_ascii=False), flush=True)
    args.root.mkdir(parents=True, exist_ok=True)
    (args.root / ("waves-pg.json" if args.database_url else "waves-sqlite.json")).write_text(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
