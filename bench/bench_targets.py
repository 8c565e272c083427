"""対象者選定 speed: the eligibility table's range query beside the full re-evaluation, in the same run.

    .venv/bin/python bench/bench_targets.py --residents 300000
    .venv/bin/python bench/bench_targets.py --residents 300000 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/sesshu_targets_300000

The demo city is built once (SQLite under bench/out/targets/, or the PostgreSQL database named) and
re-used when it exists with the same size. Then, each figure printed beside its baseline:
 1. what the write hook costs while the table is not built (baseline): one record correction (mean of
    --writes) and a --import-rows 予診票 import;
 2. `sesshu eligibility rebuild` over the default period (persons/s);
 3. the same writes with the table built (the hook refreshes the persons in the same transaction);
 4. per vaccine: select_targets (the table; audit, purpose binding and 利用停止 included) and the
    full re-evaluation (ledger.targets.full_collect, the reference) at the same as_of and window, and
    whether both name the same persons.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select, text

from sesshu.actor import Actor
from sesshu.clock import today_jst
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.demo.service import load_demo
from sesshu.eligibility import refresh
from sesshu.ledger import service as ledger
from sesshu.ledger.models import VaccinationRecord
from sesshu.ledger.reference import sync_reference_data
from sesshu.ledger.targets import _window, full_collect, select_targets
from sesshu.migrate import upgrade
from sesshu.registry.models import Person
from sesshu.rulesets.active import rule_book

BENCH = Actor(login_id="bench", kind="os", role="operator")
RECORD_HEADER = ("宛名番号,接種種別,期,回数,接種区分,接種年月日,予診区分,接種医療機関コード,接種医師コード,予診医療機関コード,"
                 "予診医師コード,実施場所コード,ワクチン会社,LotNo,接種量,請求月,初回ワクチン区分,二混合区分,合併前市町村,券番号,備考")


def _city(args, settings) -> None:
    marker = args.out / f"city-{args.residents}{'-pg' if args.database_url else ''}.done"
    if marker.exists():
        return
    if args.database_url:
        from sqlalchemy import create_engine

        name = args.database_url.rsplit("/", 1)[1]
        admin = create_engine(args.database_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    elif args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    upgrade(settings)
    db = make_database(settings)
    sync_reference_data(db)
    t = time.perf_counter()
    s = load_demo(db, settings, actor=BENCH, residents=args.residents, seed=1, as_of=args.as_of)
    print(f"demo city: {s.persons} residents, {s.records} records in {time.perf_counter() - t:.0f}s", flush=True)
    marker.touch()
    db.dispose()


def _vaccine_for(birth: date, day: date) -> str:
    """A plausible vaccine for the age: the refresh touches the lines that vaccine can change."""
    age = (day - birth).days // 365
    return "HIB" if age < 6 else "JE" if age < 16 else "MR" if age < 65 else "FLU_ELDER"


def _write_costs(db, settings, args, label: str, day_offset: int) -> dict:
    """One record correction (mean of --writes, each its own transaction) and one --import-rows import."""
    with db.transaction() as s:
        # children's records (the costliest persons to refresh), spread over the ledger
        recs = list(s.execute(select(VaccinationRecord.id).join(Person, Person.atena_no == VaccinationRecord.atena_no)
                              .where(VaccinationRecord.status == "active", Person.birth_date > date(2020, 1, 1),
                                     VaccinationRecord.vaccinated_on < args.as_of - timedelta(days=30))
                              .order_by(VaccinationRecord.id).limit(args.writes * 50)).scalars())[::50]
    times = []
    for rid in recs:
        with db.transaction() as s:
            r = s.get(VaccinationRecord, rid)
            version, on = r.version, r.vaccinated_on
        t = time.perf_counter()
        # the date moves a day (the person's history changes: the hook refreshes them)
        ledger.correct_record(db, settings, actor=BENCH, correction=ledger.Correction(
            record_id=rid, expected_version=version, reason="ベンチマーク",
            changes={"vaccinated_on": on + timedelta(days=1 if day_offset % 2 else -1)}))
        times.append(time.perf_counter() - t)
    write_ms = 1000 * sum(times) / max(1, len(times))
    # an import of --import-rows rows for distinct residents (a vaccine and date no one has yet)
    with db.transaction() as s:
        people = list(s.execute(select(Person.atena_no, Person.birth_date).where(Person.registry_status == "resident")
                                .order_by(Person.atena_no)).all())
    rnd = random.Random(day_offset)
    chosen = rnd.sample(people, min(args.import_rows, len(people)))
    day = args.as_of - timedelta(days=day_offset)
    path = args.out / f"import-{label}.csv"
    path.write_text(RECORD_HEADER + "\n" + "".join(
        f"{a},{_vaccine_for(b, day)},,1,,{max(day, b).isoformat()},,,,,,,,,,,,,,,\n" for a, b in chosen), encoding="utf-8")
    t = time.perf_counter()
    summary = ledger.import_records(db, settings, path=path, actor=BENCH)
    secs = time.perf_counter() - t
    print(f"[{label}] record correction: {write_ms:7.1f} ms (mean of {len(times)}); "
          f"import of {len(chosen)} rows: {secs:6.2f}s ({summary.accepted} accepted, "
          f"{len(chosen) / secs:,.0f} rows/s)", flush=True)
    return {"correction_ms": round(write_ms, 1), "import_rows": len(chosen), "import_s": round(secs, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=300_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "targets")
    ap.add_argument("--database-url", default=None, help="PostgreSQL database (dropped and built if the city is new)")
    ap.add_argument("--vaccines", default="MR,HIB,HPV,JE,FLU_ELDER,PPSV23,PCV20_ELDER,ROTA1,RSV_MATERNAL")
    ap.add_argument("--as-of", type=date.fromisoformat, default=today_jst())
    ap.add_argument("--within", type=int, default=30)
    ap.add_argument("--writes", type=int, default=20)
    ap.add_argument("--import-rows", type=int, default=10_000)
    ap.add_argument("--skip-baseline", action="store_true", help="do not time the full re-evaluation")
    args = ap.parse_args()
    overrides = {"var_dir": args.out}
    if args.database_url:
        overrides["database_url"] = args.database_url
    settings = load_settings(**overrides)
    _city(args, settings)
    db = make_database(settings)
    figures: dict = {"residents": args.residents, "backend": db.engine.dialect.name, "as_of": args.as_of.isoformat()}

    with db.transaction() as s:
        s.execute(text("DELETE FROM eligibility_state"))  # not built: the writes' baseline
        s.execute(text("DELETE FROM eligibility_span"))
    figures["writes_without_table"] = _write_costs(db, settings, args, "table not built", 3)

    first, last = refresh.default_period(args.as_of)
    t = time.perf_counter()
    with db.transaction() as s:
        persons, spans = refresh.rebuild(s, first=first, last=last)
    secs = time.perf_counter() - t
    print(f"rebuild {first}..{last}: {persons} persons, {spans} spans in {secs:.1f}s "
          f"({persons / secs:,.0f} persons/s)", flush=True)
    figures["rebuild"] = {"persons": persons, "spans": spans, "seconds": round(secs, 1)}

    figures["writes_with_table"] = _write_costs(db, settings, args, "table built", 5)

    with db.transaction() as s:
        rule_book(s)  # the process compiles the rule book once: not part of any selection's time
    figures["targets"] = {}
    for vaccine in args.vaccines.split(","):
        t = time.perf_counter()
        rows = select_targets(db, actor=BENCH, vaccine=vaccine, as_of=args.as_of, within_days=args.within)
        table_s = time.perf_counter() - t
        entry = {"rows": len(rows), "table_s": round(table_s, 3)}
        line = f"targets {vaccine:<12} {args.as_of} +{args.within}d: table {len(rows):>7} in {table_s:7.3f}s"
        if not args.skip_baseline:
            with db.transaction() as s:
                book = rule_book(s)
                code, until = _window(book, vaccine, args.as_of, args.within)
                t = time.perf_counter()
                full = full_collect(s, book, code, args.as_of, until)
                full_s = time.perf_counter() - t
            # select_targets drops 利用停止 persons and applies purpose binding; the operator sees all
            same = sorted(r.atena_no for r in rows) == sorted(r.atena_no for r in full)
            entry.update(full_rows=len(full), full_s=round(full_s, 2), same=same)
            line += f" | full re-evaluation {len(full):>7} in {full_s:7.2f}s ({full_s / max(table_s, 1e-6):5.0f}x)" \
                    f" same={same}"
        figures["targets"][vaccine] = entry
        print(line, flush=True)
    (args.out / f"targets-{args.residents}-{figures['backend']}.json").write_text(json.dumps(figures, indent=2))
    db.dispose()


if __name__ == "__main__":
    main()
