"""The eligibility table at city scale on PostgreSQL: 対象者選定 as a range query at 300k and 3.7M residents.

    .venv/bin/python bench/bench_eligibility_scale.py --seed-residents 10000 --scales 300000,3700000

Building and evaluating a 3.7M city takes hours on a 2-core machine (docs/operations.md §6), so the
city is grown from a real one: a demo city of --seed-residents is loaded, its table rebuilt (timed),
and then every person is copied K times under new 宛名番号 (atena_no + a 4-digit copy number) with
their eligibility spans — and, up to --records-up-to residents, their records, so that the full
re-evaluation baseline lists exactly the same persons. A copy has the same birth date, sex and history
as its original, so its spans are what a rebuild would write (the equality the baseline checks).
Copies are written with triggers off (session_replication_role = replica): they are bench data, not writes.

Per scale and line: select_targets (the table; audit, purpose binding, 利用停止 included) beside the
full re-evaluation (ledger.targets.full_collect) where the records were copied too.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).parent))

from sesshu.actor import Actor  # noqa: E402
from sesshu.clock import today_jst  # noqa: E402
from sesshu.config import load_settings  # noqa: E402
from sesshu.db import make_database  # noqa: E402
from sesshu.demo.service import load_demo  # noqa: E402
from sesshu.eligibility import refresh  # noqa: E402
from sesshu.ledger.reference import sync_reference_data  # noqa: E402
from sesshu.ledger.targets import _window, full_collect, select_targets  # noqa: E402
from sesshu.migrate import upgrade  # noqa: E402
from sesshu.rulesets.active import rule_book  # noqa: E402

BENCH = Actor(login_id="bench", kind="os", role="operator")
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"


def _columns(c, table: str) -> list[str]:
    return [r[0] for r in c.execute(text(
        "SELECT column_name FROM information_schema.columns WHERE table_name = :t ORDER BY ordinal_position"),
        {"t": table})]


def _grow(engine, copies_from: int, copies_to: int, with_records: bool) -> None:
    """Copies number copies_from+1 … copies_to of every original person (and spans, and records)."""
    if copies_to <= copies_from:
        return
    with engine.begin() as c:
        c.execute(text("SET LOCAL session_replication_role = replica"))
        k = "lpad(k::text, 4, '0')"
        series = f"generate_series({copies_from + 1}, {copies_to}) AS k"
        orig = "length(p.atena_no) = 10"
        cols = _columns(c, "person")
        sel = [f"p.atena_no || {k}" if x == "atena_no" else "NULL" if x in ("my_number_enc", "my_number_hmac")
               else f"p.{x}" for x in cols]
        c.execute(text(f"INSERT INTO person ({', '.join(cols)}) SELECT {', '.join(sel)} FROM person p, {series} "
                       f"WHERE {orig}"))
        cols = [x for x in _columns(c, "eligibility_span") if x != "id"]
        sel = [f"p.atena_no || {k}" if x == "atena_no" else f"p.{x}" for x in cols]
        c.execute(text(f"INSERT INTO eligibility_span ({', '.join(cols)}) SELECT {', '.join(sel)} "
                       f"FROM eligibility_span p, {series} WHERE {orig}"))
        if with_records:
            cols = [x for x in _columns(c, "vaccination_record") if x != "id"]
            sel = [f"p.atena_no || {k}" if x == "atena_no" else "NULL" if x in ("ticket_id",) else f"p.{x}"
                   for x in cols]
            c.execute(text(f"INSERT INTO vaccination_record ({', '.join(cols)}) SELECT {', '.join(sel)} "
                           f"FROM vaccination_record p, {series} WHERE {orig}"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE person"))
        c.execute(text("ANALYZE eligibility_span"))
        c.execute(text("ANALYZE vaccination_record"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed-residents", type=int, default=10_000)
    ap.add_argument("--scales", default="300000,3700000")
    ap.add_argument("--records-up-to", type=int, default=300_000,
                    help="copy records (and time the full re-evaluation) up to this many residents")
    ap.add_argument("--vaccines", default="MR,HIB,HPV,JE,FLU_ELDER,PCV20_ELDER,ROTA1,ZOSTER_RZV")
    ap.add_argument("--as-of", type=date.fromisoformat, default=today_jst())
    ap.add_argument("--within", type=int, default=30)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "eligibility")
    ap.add_argument("--reuse", action="store_true", help="keep the database of an earlier run (no rebuild)")
    args = ap.parse_args()
    name = f"sesshu_elig_{args.seed_residents}"
    url = f"{PG}/{name}"
    args.out.mkdir(parents=True, exist_ok=True)
    settings = load_settings(var_dir=args.out, database_url=url)
    figures: dict = {"seed_residents": args.seed_residents, "as_of": args.as_of.isoformat(), "scales": {}}
    if not args.reuse:
        admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        upgrade(settings)
        db = make_database(settings)
        sync_reference_data(db)
        t = time.perf_counter()
        s = load_demo(db, settings, actor=BENCH, residents=args.seed_residents, seed=1, as_of=args.as_of)
        print(f"demo city: {s.persons} residents, {s.records} records in {time.perf_counter() - t:.0f}s", flush=True)
        first, last = refresh.default_period(args.as_of)
        t = time.perf_counter()
        with db.transaction() as s:
            persons, spans = refresh.rebuild(s, first=first, last=last)
        secs = time.perf_counter() - t
        print(f"rebuild {first}..{last}: {persons} persons, {spans} spans in {secs:.1f}s "
              f"({persons / secs:,.0f} persons/s)", flush=True)
        figures["rebuild"] = {"persons": persons, "spans": spans, "seconds": round(secs, 1)}
        db.dispose()
    db = make_database(settings)
    with db.transaction() as s:
        rule_book(s)  # the process compiles the rule book once: not part of any selection's time
    with db.engine.connect() as c:
        originals = c.execute(text("SELECT count(*) FROM person WHERE length(atena_no) = 10")).scalar_one()
        have = c.execute(text("SELECT count(*) FROM person")).scalar_one() // max(1, originals) - 1
    for scale in [int(x) for x in args.scales.split(",")]:
        copies = max(0, round(scale / originals) - 1)
        t = time.perf_counter()
        with_records = scale <= args.records_up_to
        _grow(db.engine, have, copies, with_records)
        have = max(have, copies)
        with db.engine.connect() as c:
            residents = c.execute(text("SELECT count(*) FROM person")).scalar_one()
            spans = c.execute(text("SELECT count(*) FROM eligibility_span")).scalar_one()
        print(f"--- {residents:,} persons, {spans:,} spans (grown in {time.perf_counter() - t:.0f}s; "
              f"records copied: {with_records})", flush=True)
        rows_out = {}
        for vaccine in args.vaccines.split(","):
            t = time.perf_counter()
            rows = select_targets(db, actor=BENCH, vaccine=vaccine, as_of=args.as_of, within_days=args.within)
            table_s = time.perf_counter() - t
            entry = {"rows": len(rows), "table_s": round(table_s, 3)}
            line = f"targets {vaccine:<12} +{args.within}d: table {len(rows):>8} in {table_s:7.3f}s"
            if with_records:
                with db.transaction() as s:
                    book = rule_book(s)
                    code, until = _window(book, vaccine, args.as_of, args.within)
                    t = time.perf_counter()
                    full = full_collect(s, book, code, args.as_of, until)
                    full_s = time.perf_counter() - t
                same = sorted(r.atena_no for r in rows) == sorted(r.atena_no for r in full)
                entry.update(full_rows=len(full), full_s=round(full_s, 2), same=same)
                line += f" | full re-evaluation {len(full):>8} in {full_s:7.2f}s ({full_s / max(table_s, 1e-6):5.0f}x) same={same}"
            rows_out[vaccine] = entry
            print(line, flush=True)
        figures["scales"][residents] = rows_out
        (args.out / f"scale-{args.seed_residents}.json").write_text(json.dumps(figures, indent=2))
    db.dispose()


if __name__ == "__main__":
    main()
