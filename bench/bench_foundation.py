"""Foundation benchmarks: 予診票 import speed and memory, raw insert speed, search and history latency.

    .venv/bin/python bench/bench_foundation.py --residents 1000000 --records 1000000
    .venv/bin/python bench/bench_foundation.py --again --skip-lookups   # the import again on the same city

Builds a fresh SQLite city under bench/out/ through the real import paths (registry CSV in CP932,
then a CP932 予診票 file drawn from the demo schedule), then measures:
  - end-to-end `sesshu import records` (a child process; its peak RSS is reported): parse, validate,
    store, judge every person the file wrote (schedule engine) and audit, in one transaction,
  - beside it, in the same run: the raw insert of the same rows without validation into the same
    ledger (executemany, then rolled back), before and after the import,
  - kana-prefix search and person-history latency through the audited services (p50/p95).
Figures go to stdout and to bench/out/foundation.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from sesshu.actor import Actor
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.demo.files import generate_record_rows, write_records_csv, write_registry_csv
from sesshu.demo.generator import CityGenerator, generate_masters
from sesshu.demo.service import load_demo_masters
from sesshu.ledger.reference import sync_reference_data
from sesshu.ledger.service import person_history
from sesshu.migrate import upgrade
from sesshu.search.service import SearchCriteria, search_persons

OUT = Path(__file__).parent / "out"
AS_OF = date(2026, 11, 1)
BENCH = Actor(login_id="bench", kind="os", role="operator")


def log(msg: str) -> None:
    print(msg, flush=True)


def run_measured(args: list[str], env: dict) -> tuple[str, float, float]:
    """Run `python -m sesshu ARGS`; return stdout, wall seconds and that process's own peak RSS (MB)."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "sesshu", *args], env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        secs = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(err.read().decode())
        return out.read().decode(), secs, usage.ru_maxrss / 1024


def build_city(residents: int, var: Path) -> tuple:
    if var.exists():
        shutil.rmtree(var)
    var.mkdir(parents=True)
    settings = load_settings(var_dir=var)
    upgrade(settings)
    db = make_database(settings)
    sync_reference_data(db)
    masters = generate_masters(1)
    load_demo_masters(db, masters=masters, actor=BENCH)
    city = CityGenerator(seed=1, as_of=AS_OF, masters=masters)
    persons = (p for hh in city.households(residents) for p in hh.persons)
    reg = var / "registry.csv"
    t = time.perf_counter()
    n = write_registry_csv(reg, persons, encoding="cp932")
    log(f"registry file: {n} persons written in {time.perf_counter() - t:.1f}s")
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "sesshu", "import", "registry", str(reg), "--json"],
                       env=dict(os.environ, SESSHU_VAR_DIR=str(var)), capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr)
    s = json.loads(r.stdout)
    secs = time.perf_counter() - t
    log(f"registry import: {s['accepted']} persons in {secs:.1f}s = {s['accepted'] / secs:,.0f} rows/s")
    return settings, db, masters, {"registry_rows": s["accepted"], "registry_import_s": round(secs, 1)}


def records_file(db, masters, rows: int, path: Path) -> int:
    from sqlalchemy import select

    from sesshu.registry.models import Person

    with db.engine.connect() as c:
        persons = [dict(r._mapping) for r in c.execute(select(Person.atena_no, Person.birth_date, Person.sex))]
    random.Random(7).shuffle(persons)
    t = time.perf_counter()
    n = write_records_csv(path, generate_record_rows(persons, seed=2, as_of=AS_OF, masters=masters, limit=rows),
                          encoding="cp932")
    log(f"records file: {n} rows, {path.stat().st_size / 1e6:.0f} MB (CP932) in {time.perf_counter() - t:.1f}s")
    return n


def import_end_to_end(var: Path, path: Path) -> dict:
    """`sesshu import records` as staff run it, in a child process (peak RSS measured): parse, validate,
    store, the schedule engine for every person the file wrote and the audit, in one transaction; then
    whatever else is queued (nothing here). The child's start (imports, no work) is timed beside it."""
    env = dict(os.environ, SESSHU_VAR_DIR=str(var))
    _out, start_s, _peak = run_measured(["--help"], env)
    stdout, secs, peak = run_measured(["import", "records", str(path), "--json",
                                       "--rejects", str(var / "rejects.csv")], env)
    s = json.loads(stdout)
    rate = s["read"] / secs
    log(f"import end to end (CLI: parse+validate+store+evaluate+audit, one transaction): read {s['read']}, "
        f"accepted {s['accepted']}, rejected {s['rejected']}, duplicates {s['duplicates']}, "
        f"persons judged {s['evaluated_persons']}, error codes {s['error_codes_changed']} in {secs:.1f}s "
        f"= {rate:,.0f} rows/s (of which {start_s:.1f}s the process start); peak RSS {peak:.0f} MB")
    return {"import_rows": s["read"], "import_accepted": s["accepted"], "import_s": round(secs, 2),
            "import_rows_per_s": round(rate), "import_peak_rss_mb": round(peak), "cli_start_s": round(start_s, 2),
            "evaluated_persons": s["evaluated_persons"]}


RAW_COLUMNS = ("atena_no", "vaccine_code", "term", "dose_no", "category", "vaccinated_on", "screening_result",
               "institution_code", "doctor_code", "screening_institution_code", "screening_doctor_code", "venue_code",
               "manufacturer_code", "lot_no", "dose_volume_ml", "billing_month", "first_product", "dt_kind",
               "former_municipality", "ticket_no", "remarks")  # the file's first 21 columns, in its order
RAW_NULLABLE = {i for i, c in enumerate(RAW_COLUMNS) if c.endswith("_code") and c != "vaccine_code"} | {
    RAW_COLUMNS.index("dose_no"), RAW_COLUMNS.index("dose_volume_ml")}
RAW_STAMP_COLUMNS = ("tuberculin_result", "tuberculin_state", "error_code", "status", "version", "created_at",
                     "created_by", "updated_at")


def raw_rows(path: Path, stamp: tuple) -> list[tuple]:
    """The file's cells as they are (blank → NULL where the column takes NULL), no validation."""
    with path.open(encoding="cp932", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        return [tuple(None if (i in RAW_NULLABLE and not v) else v for i, v in enumerate(row[:21])) + stamp
                for row in reader]


def raw_insert(db_file: Path, path: Path, *, trigger: bool) -> dict:
    """The same rows, no validation, into the same ledger (same indexes, foreign keys on, the same
    pragmas as sesshu), one executemany in one transaction, then rolled back. trigger=False sets the
    dashboard's per-row count trigger aside in the transaction, as the import does."""
    rows = raw_rows(path, ("", "", "", "active", 1, "2026-11-26 00:00:00.000000", "bench", "2026-11-26 00:00:00.000000"))
    con = sqlite3.connect(db_file, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "cache_size=-262144",
                   "temp_store=MEMORY"):
        con.execute(f"PRAGMA {pragma}")
    cols = RAW_COLUMNS + RAW_STAMP_COLUMNS
    sql = (f"INSERT INTO vaccination_record ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
           "ON CONFLICT DO NOTHING")
    t = time.perf_counter()
    con.execute("BEGIN IMMEDIATE")
    if not trigger:
        con.execute("DROP TRIGGER dashboard_count_records_ins")
    n = con.executemany(sql, rows).rowcount
    secs = time.perf_counter() - t
    con.execute("ROLLBACK")
    con.close()
    what = "schema as it is, per-row count trigger" if trigger else "count trigger set aside, as the import does"
    log(f"raw insert (no validation, same rows, same ledger, {what}): {n} rows in {secs:.1f}s = {n / secs:,.0f} rows/s")
    key = "raw_with_trigger" if trigger else "raw"
    return {f"{key}_rows_per_s": round(n / secs), f"{key}_s": round(secs, 2)}


def latency(fn, samples: list) -> dict:
    times = []
    for s in samples:
        t = time.perf_counter()
        fn(s)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(len(times) * 0.95) - 1], 2),
            "max_ms": round(times[-1], 2), "n": len(times)}


def search_and_history(settings, db, n: int = 300) -> dict:
    with db.engine.connect() as c:
        keys = [r[0] for r in c.exec_driver_sql("SELECT kana_key FROM person ORDER BY random() LIMIT ?", (n,))]
        atenas = [r[0] for r in c.exec_driver_sql(
            "SELECT DISTINCT atena_no FROM vaccination_record ORDER BY random() LIMIT ?", (n,))]
    rng = random.Random(3)
    prefixes = [k[: rng.choice((2, 3, 4))] for k in keys if k]
    search = latency(lambda p: search_persons(db, actor=BENCH, criteria=SearchCriteria(kana=p), per_page=50), prefixes)
    history = latency(lambda a: person_history(db, settings, actor=BENCH, atena_no=a), atenas)
    log(f"kana prefix search (page of 50, with count and audit row): p50 {search['p50_ms']} ms, "
        f"p95 {search['p95_ms']} ms over {search['n']} queries")
    log(f"person history (person + records + audit row): p50 {history['p50_ms']} ms, p95 {history['p95_ms']} ms")
    return {"search": search, "history": history}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--again", action="store_true",
                    help="import the same file again into the city as the last run built it (no rebuild)")
    ap.add_argument("--skip-lookups", action="store_true", help="leave out the search and history latencies")
    args = ap.parse_args()
    var = args.out / "city"
    pristine = args.out / "city-before-import"
    path = args.out / "records.csv"
    log(f"sesshu foundation benchmark: {args.residents} residents, {args.records} 予診票 rows, cores={os.cpu_count()}, "
        f"load average {os.getloadavg()[0]:.1f}")
    if args.again:
        shutil.rmtree(var)
        shutil.copytree(pristine, var)
        settings = load_settings(var_dir=var)
        figures = {"again": True}
    else:
        settings, db, masters, figures = build_city(args.residents, var)
        records_file(db, masters, args.records, path)
        db.dispose()
        shutil.rmtree(pristine, ignore_errors=True)
        shutil.copytree(var, pristine, ignore=shutil.ignore_patterns("registry.csv"))
    # The raw inserts go into a copy of the ledger as the import finds it, before and after the import.
    before = var / "before-import.db"
    shutil.copy(var / "sesshu.db", before)
    figures |= raw_insert(before, path, trigger=False)
    figures |= raw_insert(before, path, trigger=True)
    figures |= import_end_to_end(var, path)
    again = raw_insert(before, path, trigger=False)
    log(f"raw insert again after the import: {again['raw_rows_per_s']:,} rows/s")
    figures["raw_rows_per_s"] = max(figures["raw_rows_per_s"], again["raw_rows_per_s"])
    before.unlink()
    figures["raw_over_import"] = round(figures["raw_rows_per_s"] / figures["import_rows_per_s"], 2)
    log(f"import end to end {figures['import_rows_per_s']:,} rows/s; raw insert (the faster of the two runs, "
        f"trigger set aside) {figures['raw_rows_per_s']:,} rows/s: raw is {figures['raw_over_import']}x the import")
    if not args.skip_lookups:
        figures |= search_and_history(settings, make_database(settings))
    figures["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    (args.out / "foundation.json").write_text(json.dumps(figures, ensure_ascii=False, indent=2))
    log(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
