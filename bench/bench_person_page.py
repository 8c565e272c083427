"""Where a person page's time goes: SQL, template rendering and the whole request's CPU, for chosen persons.

    .venv/bin/python bench/bench_person_page.py --database-url postgresql://postgres@127.0.0.1:5432/sesshu_scale_3700000 \
        --var-dir bench/out/scale-3700000 --records 91 --records 30

Picks one resident with exactly that many active records per --records (or takes --atena-no), signs in
through the login forms like bench/load.py and requests /persons/<宛名番号> --repeat times (after the
first view, timed on its own). Prints, per person: records, page bytes, the first view's CPU, median request CPU, median render CPU (the
template response) and median SQL time (an SQLAlchemy cursor hook), the wall p50/p95, and beside them a
baseline measured in the same run: the person's row and records fetched raw through the driver. Each
request writes its audit row, as a real view does. --explain prints the plan of each SELECT the page ran
(top node, tables read by a sequential scan, execution time): the page's cost must not grow with the city.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import event, text

sys.path.insert(0, str(Path(__file__).parent))
from load import ensure_staff, sign_in  # noqa: E402  (bench/load.py: staff accounts and the login forms)

from sesshu.config import load_settings  # noqa: E402
from sesshu.db import make_database  # noqa: E402


def _person_with(db, records: int) -> str:
    with db.engine.connect() as c:
        found = c.execute(text("SELECT atena_no FROM vaccination_record WHERE status = 'active' AND atena_no IN "
                               "(SELECT atena_no FROM person TABLESAMPLE SYSTEM (1)) "
                               "GROUP BY atena_no HAVING count(*) = :n LIMIT 1"), {"n": records}).scalar()
    if found is None:
        raise SystemExit(f"no resident with {records} records in a 1% sample")
    return found


def _p95(values: list[float]) -> float:
    values = sorted(values)
    return values[max(0, int(len(values) * 0.95 + 0.5) - 1)]


def _raw_fetch(db, atena: str) -> float:
    """The baseline: the person's row and all their records through the driver, nothing else."""
    t = time.perf_counter()
    with db.engine.connect() as c:
        cur = c.connection.driver_connection.cursor()
        cur.execute("SELECT * FROM person WHERE atena_no = %s", (atena,))
        cur.fetchall()
        cur.execute("SELECT * FROM vaccination_record WHERE atena_no = %s", (atena,))
        cur.fetchall()
    return time.perf_counter() - t


def _explain(db, statements: list[tuple[str, object]]) -> None:
    """EXPLAIN ANALYZE of each SELECT one page view ran, as the page ran it: the plan's top node and the
    tables it scans whole (a Seq Scan on a table that grows with the city would make the page grow with it)."""
    with db.engine.connect() as c:
        cur = c.connection.driver_connection.cursor()
        for statement, params in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) " + statement, params)
            plan = [row[0] for row in cur.fetchall()]
            scans = sorted({line.split(" on ")[1].split()[0] for line in plan if "Seq Scan on" in line})
            head = " ".join(statement.split())[:110]
            print(f"    {plan[0].strip()[:90]:<90} seq scans: {', '.join(scans) or '-':<30} {plan[-1].strip()}\n"
                  f"      {head}")
        c.rollback()


def main() -> None:
    from fastapi.testclient import TestClient

    from sesshu.web.app import create_app

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--var-dir", required=True, type=Path, help="the city's folder (its keys)")
    ap.add_argument("--records", type=int, action="append", default=[], help="a person with this many records")
    ap.add_argument("--atena-no", action="append", default=[])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each SELECT of the last page view")
    args = ap.parse_args()
    settings = load_settings(var_dir=args.var_dir.resolve(), database_url=args.database_url)
    db = make_database(settings)
    persons = list(args.atena_no) + [_person_with(db, n) for n in args.records]
    app = create_app(settings)

    sql: list[float] = []
    started: list[float] = []
    statements: list[tuple[str, object]] = []

    @event.listens_for(app.state.db.engine, "before_cursor_execute")
    def _before(_conn, _cursor, statement, parameters, *_):
        started.append(time.perf_counter())
        statements.append((statement, parameters))

    @event.listens_for(app.state.db.engine, "after_cursor_execute")
    def _after(*_):
        sql.append(time.perf_counter() - started.pop())

    templates = app.state.templates
    plain = templates.TemplateResponse
    render_cpu: list[float] = []

    def timed_template(*a, **k):
        c0 = time.process_time()
        try:
            return plain(*a, **k)
        finally:
            render_cpu.append(time.process_time() - c0)

    templates.TemplateResponse = timed_template
    login = ensure_staff(settings, 1)[0]
    with TestClient(app, base_url="http://localhost", follow_redirects=False) as client:
        sign_in(client, db, settings, login)
        for atena in persons:
            with db.engine.connect() as c:
                n = c.execute(text("SELECT count(*) FROM vaccination_record WHERE atena_no = :a AND status = 'active'"),
                              {"a": atena}).scalar_one()
            c0 = time.process_time()
            client.get(f"/persons/{atena}")  # the first view of this person (then the repeats)
            first = time.process_time() - c0
            cpu, wall, render, sql_ms, raw, size = [], [], [], [], [], 0
            for _ in range(args.repeat):
                sql.clear()
                statements.clear()
                c0, t0 = time.process_time(), time.perf_counter()
                r = client.get(f"/persons/{atena}")
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - t0)
                render.append(render_cpu[-1])
                sql_ms.append(sum(sql))
                size = len(r.content)
                assert r.status_code == 200, r.status_code
                raw.append(_raw_fetch(db, atena))
            page_stmts = list(statements)
            print(f"{atena}: {n} records, page {size / 1000:,.0f} KB, first request CPU {first * 1000:.0f} ms, "
                  f"then request wall p50 {statistics.median(wall) * 1000:.0f} ms / p95 {_p95(wall) * 1000:.0f} ms, "
                  f"CPU {statistics.median(cpu) * 1000:.0f} ms, render {statistics.median(render) * 1000:.0f} ms, "
                  f"SQL {statistics.median(sql_ms) * 1000:.1f} ms in {len(page_stmts)} statements ({args.repeat} requests); "
                  f"baseline in the same run: the person and their records fetched raw "
                  f"{statistics.median(raw) * 1000:.1f} ms (page = {statistics.median(wall) / statistics.median(raw):.0f}×)")
            if args.explain:
                _explain(db, page_stmts)


if __name__ == "__main__":
    main()
