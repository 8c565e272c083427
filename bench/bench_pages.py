"""Server time of each staff page on a demo city, signed in as the demo clerk (and supervisor).

    .venv/bin/python bench/bench_pages.py                       # 3,000 residents, SQLite
    .venv/bin/python bench/bench_pages.py --residents 200000    # the issue's size (loading takes minutes)
    .venv/bin/python bench/bench_pages.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/sesshu_bench
    .venv/bin/python bench/bench_pages.py --residents 200000 --reuse   # measure again on the city loaded last time

Loads the demo city (sesshu.demo) into a fresh database under bench/out/pages/ (or the given
PostgreSQL database, which is emptied first; --reuse keeps the city of the previous run with the same
backend and size, upgraded to the current migrations), signs in through the real login forms, and requests
each page --repeat times in-process (FastAPI TestClient: the whole server-side work — session,
permission, service, audit row, template — without the network). Prints p50/p95/max per page and
writes bench/out/pages-<backend>.json. The target of issue 8 is < 200 ms per page at 200,000 residents.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from sesshu.actor import Actor
from sesshu.clock import today_jst
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.demo.service import DEMO_PASSWORD, load_demo
from sesshu.ledger.models import VaccinationRecord
from sesshu.ledger.reference import sync_reference_data
from sesshu.migrate import upgrade
from sesshu.registry.models import Person
from sesshu.web.app import create_app

OUT = Path(__file__).parent / "out"
BENCH = Actor(login_id="bench", kind="os", role="operator")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def log(msg: str) -> None:
    print(msg, flush=True)


def _fresh_pg(url: str) -> None:
    admin_url, name = url.rsplit("/", 1)
    engine = create_engine(admin_url + "/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def _sign_in(client: TestClient, login_id: str, secret: str) -> str:
    page = client.get("/login")
    r = client.post("/login", data={"login_id": login_id, "password": DEMO_PASSWORD,
                                    "csrf_token": CSRF.search(page.text).group(1)})
    assert r.status_code == 303, r.text[:300]
    page = client.get("/login/totp")
    r = client.post("/login/totp", data={"code": pyotp.TOTP(secret).now(),
                                         "csrf_token": CSRF.search(page.text).group(1)})
    assert r.status_code == 303 and r.headers["location"] == "/", r.text[:300]
    return CSRF.search(client.get("/").text).group(1)


def _measure(client: TestClient, method: str, url: str, repeat: int, **kw) -> dict:
    client.request(method, url, **kw)  # warm-up: template compilation, first query plans
    times, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        r = client.request(method, url, **kw)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        assert r.status_code < 400, f"{method} {url}: {r.status_code} {r.text[:300]}"
    times.sort()
    # CPU time of this process (the whole server side on SQLite; without the PostgreSQL backend's own
    # work): on a shared machine it shows what the wall time would be without waiting for a core.
    return {"p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
            "max_ms": round(times[-1], 1), "cpu_p50_ms": round(statistics.median(cpu), 1), "first_ms": None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--residents", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--database-url", default="", help="PostgreSQL URL (emptied first); default a fresh SQLite file")
    ap.add_argument("--reuse", action="store_true",
                    help="measure on the city loaded by the previous run (same backend, size and seed)")
    args = ap.parse_args()

    backend = "postgresql" if args.database_url else "sqlite"
    var = OUT / f"pages-{backend}"
    city = {"residents": args.residents, "seed": args.seed, "database_url": args.database_url}
    saved = var / "city.json"
    reuse = args.reuse and saved.exists() and json.loads(saved.read_text())["city"] == city
    if not reuse:
        shutil.rmtree(var, ignore_errors=True)
        var.mkdir(parents=True)
        if args.database_url:
            _fresh_pg(args.database_url)
    settings = load_settings(var_dir=var, database_url=args.database_url or f"sqlite:///{var / 'sesshu.db'}")
    upgrade(settings)
    db = make_database(settings)
    if reuse:
        loaded = json.loads(saved.read_text())
        secrets, persons, records = loaded["secrets"], loaded["persons"], loaded["records"]
        log(f"demo city of the previous run: {persons:,} persons, {records:,} records ({db.engine.dialect.name})")
    else:
        sync_reference_data(db)
        t = time.perf_counter()
        summary = load_demo(db, settings, actor=BENCH, residents=args.residents, seed=args.seed, as_of=today_jst())
        persons, records = summary.persons, summary.records
        log(f"demo city: {persons:,} persons, {records:,} records in {time.perf_counter() - t:.0f} s "
            f"({db.engine.dialect.name})")
        secrets = {lg.login_id: lg.totp_secret for lg in summary.logins}
        # Demo TOTP secrets of a throw-away bench database, kept next to it for --reuse.
        saved.write_text(json.dumps({"city": city, "secrets": secrets, "persons": persons, "records": records}))
    with db.transaction() as s:
        # A child with several records: the person page's worst ordinary case.
        atena_no = s.execute(select(VaccinationRecord.atena_no).group_by(VaccinationRecord.atena_no)
                             .order_by(text("count(*) DESC")).limit(1)).scalar_one()
        kana = s.execute(select(Person.name_kana).where(Person.atena_no == atena_no)).scalar_one()
    db.dispose()

    app = create_app(settings)
    results: dict[str, dict] = {}
    with TestClient(app, follow_redirects=False) as client:
        csrf = _sign_in(client, "demo", secrets["demo"])
        check = {"json": {"atena_no": atena_no, "vaccinated_on": "R5.8.3", "vaccine_code": "MR"},
                 "headers": {"X-CSRF-Token": csrf, "Accept": "application/json"}}
        # The dashboard's first computation (no cache) on its own: it is what the first visitor waits for.
        t = time.perf_counter()
        client.get("/dashboard?refresh=1")
        cold = (time.perf_counter() - t) * 1000
        pages = [
            ("home (menu + dashboard, cached)", "GET", "/", {}),
            ("dashboard recomputed (?refresh=1)", "GET", "/dashboard?refresh=1", {}),
            ("search page, kana prefix (1 char)", "GET", "/search?kana=" + kana[:1], {}),
            ("search as you type, kana (2 chars)", "GET", "/search/results?kana=" + kana[:2], {}),
            ("search by birth date", "GET", "/search/results?birth_date=R5.4.1", {}),
            ("search by 宛名番号", "GET", "/search/results?atena_no=" + atena_no, {}),
            ("person page", "GET", f"/persons/{atena_no}", {}),
            ("record entry form", "GET", f"/records/new?atena_no={atena_no}", {}),
            ("record entry verdict (POST /records/check)", "POST", "/records/check", check),
            ("import page", "GET", "/imports", {}),
            ("account settings", "GET", "/account/settings", {}),
            ("approvals", "GET", "/approvals", {}),
        ]
        for name, method, url, kw in pages:
            results[name] = _measure(client, method, url, args.repeat, **kw)
        results["dashboard recomputed (?refresh=1)"]["first_ms"] = round(cold, 1)
    with TestClient(app, follow_redirects=False) as client:
        _sign_in(client, "demo-security", secrets["demo-security"])
        for name, url in (("audit entries of the person", f"/audit/entries?atena_no={atena_no}"),
                          ("users administration", "/admin/accounts")):
            results[name] = _measure(client, "GET", url, args.repeat)
    app.state.db.dispose()

    log(f"\n{'page':48} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'cpu p50':>8}")
    for name, r in results.items():
        flag = "" if r["p95_ms"] < 200 else "  > 200 ms"
        log(f"{name:48} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['max_ms']:8.1f} {r['cpu_p50_ms']:8.1f}{flag}")
    log(f"(load average while measuring: {' '.join(f'{x:.1f}' for x in os.getloadavg())})")
    log(f"(dashboard's first computation, no cache: {cold:.0f} ms)")
    out = {"residents": persons, "records": records, "backend": db.engine.dialect.name,
           "repeat": args.repeat, "pages": results}
    (OUT / f"pages-{backend}.json").write_text(json.dumps(out, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
