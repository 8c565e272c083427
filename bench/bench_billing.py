"""Monthly 委託料 run speed: N records of one 請求月 spread over 150 institutions (SQLite and PostgreSQL).

    .venv/bin/python bench/bench_billing.py --records 50000 --backend both
    .venv/bin/python bench/bench_billing.py                                  # 5,000 records, SQLite

Builds a fresh database per backend (SQLite under bench/out/billing/, PostgreSQL database
sesshu_bench_billing on 127.0.0.1), with persons, institutions with bank accounts, copay-exempt
decisions and the month's records: mostly valid A類 and B類 doses, some 予診のみ, about 3 % with an
engine error code (returned). Times the run (`billing.service.run_month`, the resumable job) and the
files (`outputs.write_month_files`: a statement PDF per institution, returns, summary, 全銀 file).
Beside them, baselines measured in the same run on the same database (`baselines`): the month's records
read raw through the driver, and one plain reportlab statement-sized page per institution written like
the real files — the ratios hold on a busy machine where the seconds do not.
"""
from __future__ import annotations

import argparse
import io
import random
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from sesshu.actor import Actor
from sesshu.billing.models import InstitutionBankAccount, SubsidyDecision
from sesshu.billing.outputs import write_month_files
from sesshu.billing.service import run_month
from sesshu.clock import utcnow
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.ledger.models import Institution, VaccinationRecord
from sesshu.ledger.reference import sync_reference_data
from sesshu.migrate import upgrade
from sesshu.registry.models import Person

BENCH = Actor(login_id="bench", kind="os", role="operator")
MONTH = "2026-11"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_NAME = "sesshu_bench_billing"
# (vaccine, term, category, birth offset range in days before the dose, screening)
KINDS = [("HIB", "初回", "routine_a", (70, 200)), ("PCV", "初回", "routine_a", (70, 200)),
         ("DPTIPVHIB", "1期初回", "routine_a", (70, 300)), ("MR", "1期", "routine_a", (380, 700)),
         ("BCG", "", "routine_a", (160, 250)), ("FLU_ELDER", "", "routine_b", (66 * 365, 90 * 365)),
         ("COVID", "", "routine_b", (66 * 365, 90 * 365))]


def build(db, records: int, institutions: int) -> None:
    rng = random.Random(10)
    now = utcnow()
    with db.transaction() as s:
        s.execute(Institution.__table__.insert(), [
            dict(code=f"11102{i:05d}", name=f"ベンチ医院{i}", name_kana="", address="熊谷市宮町1-1", phone="", active=True)
            for i in range(institutions)])
        s.execute(InstitutionBankAccount.__table__.insert(), [
            dict(institution_code=f"11102{i:05d}", bank_code="0017", bank_name="ｻｲﾀﾏﾘｿﾅ", branch_code=f"{i % 999:03d}",
                 branch_name="ｸﾏｶﾞﾔ", account_type="1", account_no=f"{i:07d}", holder_kana=f"ﾍﾞﾝﾁｲｲﾝ{i}",
                 import_batch_id=None, updated_at=now, updated_by="bench") for i in range(institutions)])
        persons, recs, exempt = [], [], []
        for n in range(records):
            vaccine, term, category, (lo, hi) = KINDS[n % len(KINDS)]
            on = date(2026, 10, 1) + timedelta(days=rng.randrange(31))
            birth = on - timedelta(days=rng.randint(lo, hi))
            atena = f"{n + 1:010d}"
            persons.append(dict(atena_no=atena, name=f"ベンチ　{n}", name_key=f"ベンチ{n}", name_kana="ベンチ", kana_key="ﾍﾞﾝﾁ",
                                sex="F" if n % 2 else "M", birth_date=birth, household_no=atena, registry_status="resident",
                                version=1, created_at=now, updated_at=now))
            recs.append(dict(atena_no=atena, vaccine_code=vaccine, term=term, dose_no=1, category=category,
                             vaccinated_on=on, screening_result="screened_only" if n % 41 == 0 else "vaccinated",
                             institution_code=f"11102{n % institutions:05d}", billing_month=MONTH,
                             error_code="E_INTERVAL_TOO_SHORT" if n % 33 == 0 else "", status="active", version=1,
                             created_at=now, created_by="bench", updated_at=now))
            if category == "routine_b" and n % 5 == 0:
                exempt.append(dict(atena_no=atena, fiscal_year=2026, household_no=atena, outcome="exempt",
                                   method="matching", reason="ベンチ", basis="{}", decided_by="bench", decided_at=now,
                                   status="current"))
        for i in range(0, records, 10000):
            s.execute(Person.__table__.insert(), persons[i:i + 10000])
            s.execute(VaccinationRecord.__table__.insert(), recs[i:i + 10000])
        if exempt:
            s.execute(SubsidyDecision.__table__.insert(), exempt)


def baselines(db, institutions: int, out: Path) -> tuple[float, float]:
    """What the machine does right now without sesshu's logic, for the ratios: (1) the month's records read
    raw through the driver (every column the run reads, no join, no verdict); (2) one plain reportlab
    statement per institution — a page with the statement's table of fixed text in the same embedded
    Japanese fonts, written 0600 and fsynced like the real files — without the database."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from sesshu.exports.service import write_private
    from sesshu.printing.fonts import GOTHIC, MINCHO, register_fonts

    t = time.perf_counter()
    with db.engine.connect() as c:
        cur = c.connection.driver_connection.cursor()
        cur.execute("SELECT id, atena_no, vaccine_code, term, category, vaccinated_on, screening_result, institution_code, "
                    "screening_institution_code, error_code, status, version, billing_month, lot_no "
                    f"FROM vaccination_record WHERE billing_month = '{MONTH}' AND status = 'active'")
        cur.fetchall()
    raw_read = time.perf_counter() - t
    register_fonts()
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    for i in range(institutions):
        buf = io.BytesIO()
        c = canvas.Canvas(buf, pagesize=A4, invariant=1, pageCompression=1)
        c.setFont(MINCHO, 16)
        c.drawCentredString(298, 650, "予防接種委託料 支払明細書")
        c.setFont(GOTHIC, 9)
        for row in range(12):
            for col, cell in enumerate(("麻しん風しん混合", "1期", "接種", "1,234", "7,000", "0", "8,638,000")):
                c.rect(57 + col * 70, 600 - row * 20, 70, 20)
                c.drawString(60 + col * 70, 606 - row * 20, cell)
        c.drawString(57, 300, f"ベンチ医院{i}　熊谷市宮町1-1")
        c.showPage()
        c.save()
        write_private(out / f"raw-{i}.pdf", buf.getvalue())
    return raw_read, time.perf_counter() - t


def bench(backend: str, records: int, institutions: int, out: Path) -> dict:
    if backend == "sqlite":
        var = out / "sqlite"
        shutil.rmtree(var, ignore_errors=True)
        var.mkdir(parents=True)
        settings = load_settings(var_dir=var, database_url=f"sqlite:///{var / 'bench.db'}")
    else:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{PG_NAME}"'))
        admin.dispose()
        var = out / "postgresql"
        shutil.rmtree(var, ignore_errors=True)
        var.mkdir(parents=True)
        settings = load_settings(var_dir=var, database_url=PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_NAME}")
    upgrade(settings)
    db = make_database(settings)
    sync_reference_data(db)
    t = time.perf_counter()
    build(db, records, institutions)
    built = time.perf_counter() - t
    t, cpu = time.perf_counter(), time.process_time()
    result = run_month(db, actor=BENCH, month=MONTH, transfer_date=date(2026, 12, 25))
    run_s, run_cpu = time.perf_counter() - t, time.process_time() - cpu
    t, cpu = time.perf_counter(), time.process_time()
    files = write_month_files(db, actor=BENCH, month=MONTH, out_dir=var / "files", municipality="熊谷市")
    files_s, files_cpu = time.perf_counter() - t, time.process_time() - cpu
    raw_read_s, raw_pdf_s = baselines(db, institutions, var / "raw")
    db.dispose()
    r = result.outcome.result
    return {"backend": backend, "records": records, "institutions": institutions, "build_s": round(built, 1),
            "run_s": round(run_s, 2), "run_cpu_s": round(run_cpu, 2), "files_s": round(files_s, 2),
            "files_cpu_s": round(files_cpu, 2), "raw_read_s": round(raw_read_s, 3), "raw_pdf_s": round(raw_pdf_s, 3),
            "paid": r["paid_records"], "returns": r["returns"],
            "total_yen": r["total"], "files": len(files["files"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--institutions", type=int, default=150)
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "billing")
    args = ap.parse_args()
    for backend in (("sqlite", "postgresql") if args.backend == "both" else (args.backend,)):
        f = bench(backend, args.records, args.institutions, args.out)
        print(f"{f['backend']:<10} {f['records']:>7} records / {f['institutions']} institutions: "
              f"run + files {f['run_s'] + f['files_s']:.2f} s = run {f['run_s']} s (this process's CPU {f['run_cpu_s']} s) "
              f"+ files {f['files_s']} s (CPU {f['files_cpu_s']} s, {f['files']} files)  paid {f['paid']}, "
              f"returned {f['returns']}, total {f['total_yen']:,} yen  [build {f['build_s']} s]", flush=True)
        print(f"{'':<10} baselines in the same run: raw read of the month's records {f['raw_read_s']} s "
              f"(run = {f['run_s'] / f['raw_read_s']:.0f}×), {f['institutions']} plain reportlab statement pages "
              f"{f['raw_pdf_s']} s (files = {f['files_s'] / f['raw_pdf_s']:.1f}×)", flush=True)


if __name__ == "__main__":
    main()
