"""Load test: N signed-in staff loop search → person page → record entry against a demo city on
PostgreSQL, for a bounded time, on 127.0.0.1 only. Reports throughput and p50/p95/p99 per page,
the error count, and verifies the audit chain afterwards (exit 1 on an error, a broken chain, or a run
in which no record entry went through).

    .venv/bin/python bench/load.py                                   # the issue's run: 50 staff, 600 s, 200,000 residents
    .venv/bin/python bench/load.py --staff 10 --seconds 60 --residents 20000   # a short run

The city is built in its own database (`sesshu_load_<residents>` on 127.0.0.1:5432) and kept for
the next run with the same size (`--rebuild` to start again). Staff are demo accounts (is_demo,
signed in with password + TOTP exactly like a person at the keyboard); each works on its own share
of persons, so their corrections do not collide. Record entry is the 職権修正 form: the record's own
page (GET /records/{id}/edit, linked from the person page, timed as "edit") and its POST
/records/{id}/correct, the write path on main today.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import httpx
from sqlalchemy import create_engine, text

from sesshu.actor import Actor
from sesshu.audit.service import verify_chain
from sesshu.auth.service import create_user, demo_totp_code
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.demo.service import _demo_tasks, load_demo
from sesshu.migrate import upgrade

HOST = "127.0.0.1"  # never anything else: this script loads only the server it starts itself
BENCH = Actor(login_id="bench-load", kind="os", role="operator")
PASSWORD = "kumagaya-Load-2026"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
RECORD_FORM = re.compile(r'action="/records/(\d+)/correct".*?name="expected_version" value="(\d+)"', re.S)
PERSON_LINK = re.compile(r'href="/persons/(\d+)"')
EDIT_LINK = re.compile(r'href="/records/(\d+)/edit"')


@dataclass
class Stats:
    times: dict[str, list[float]] = field(default_factory=lambda: {"search": [], "person": [], "edit": [], "entry": []})
    errors: dict[str, int] = field(default_factory=dict)
    conflicts: int = 0
    samples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, page: str, seconds: float) -> None:
        with self.lock:
            self.times[page].append(seconds)

    def error(self, what: str, body: str = "") -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1
            if body and len(self.samples) < 5:  # the first few answers, to see why
                m = re.search(r'class="msg error"[^>]*>([^<]*)<', body)
                self.samples.append(f"{what}: {m.group(1) if m else body[:200]}")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100 * len(values) + 0.5)) - 1))
    return values[k] * 1000


def build_city(url: str, var_dir: Path, residents: int, rebuild: bool) -> tuple[object, float]:
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    name = url.rsplit("/", 1)[1]
    marker = var_dir / f"city-{residents}.done"
    with admin.connect() as c:
        exists = c.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is not None
        if rebuild or not exists or not marker.exists():
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
            marker.unlink(missing_ok=True)
    admin.dispose()
    settings = load_settings(var_dir=var_dir, database_url=url)
    seconds = 0.0
    if not marker.exists():
        upgrade(settings)
        started = time.monotonic()
        load_demo(make_database(settings), settings, actor=BENCH, residents=residents, seed=1, as_of=date(2026, 11, 1))
        seconds = time.monotonic() - started
        with make_database(settings).engine.begin() as c:
            c.execute(text("ANALYZE"))
        marker.write_text(str(residents))
    return settings, seconds


def ensure_staff(settings, n: int, *, prefix: str = "load", role: str = "supervisor",
                 label: str = "負荷") -> list[str]:
    """N demo accounts PREFIX-000…, created once (the venue benchmark's stations are clerks)."""
    db = make_database(settings)
    logins = []
    with db.engine.connect() as c:
        have = {r[0] for r in c.execute(text("SELECT login_id FROM staff_user WHERE login_id LIKE :p"),
                                        {"p": f"{prefix}-%"})}
    for i in range(n):
        login = f"{prefix}-{i:03d}"
        if login not in have:
            create_user(db, settings, actor=BENCH, login_id=login, display_name=f"{label} {i:03d}", role=role,
                        password=PASSWORD, is_demo=True, tasks=_demo_tasks(role))
        logins.append(login)
    db.dispose()
    return logins


def work_items(settings, staff: int, per_staff: int, seed: int) -> list[list[tuple[str, str]]]:
    """(kana prefix, atena_no) pairs for persons who have records, a separate share per staff member."""
    engine = create_engine(settings.database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as c:
        rows = c.execute(text(
            "SELECT p.atena_no, p.name_kana FROM person p WHERE p.registry_status = 'resident' AND EXISTS "
            "(SELECT 1 FROM vaccination_record r WHERE r.atena_no = p.atena_no AND r.status = 'active') "
            "ORDER BY md5(p.atena_no || :s) LIMIT :n"), {"s": str(seed), "n": staff * per_staff}).all()
    engine.dispose()
    shares = [[] for _ in range(staff)]
    for i, (atena, kana) in enumerate(rows):
        shares[i % staff].append((kana.replace("　", " ").split(" ")[0][:3], atena))
    return shares


def sign_in(client: httpx.Client, db, settings, login: str) -> str:
    page = client.get("/login")
    r = client.post("/login", data={"login_id": login, "password": PASSWORD, "csrf_token": CSRF.search(page.text)[1]})
    if r.status_code != 303 or r.headers.get("location") != "/login/totp":
        raise RuntimeError(f"{login}: password step answered {r.status_code}")
    for _ in range(3):
        page = client.get("/login/totp")
        code = demo_totp_code(db, settings, login_id=login)  # the demo tooling (`sesshu demo totp`)
        r = client.post("/login/totp", data={"code": code, "csrf_token": CSRF.search(page.text)[1]})
        if r.status_code == 303 and r.headers.get("location") == "/":
            return CSRF.search(client.get("/").text)[1]
        time.sleep(31 - time.time() % 30)  # this 30 s step was already used by this account: wait for the next
    raise RuntimeError(f"{login}: TOTP step refused")


@contextmanager
def serving(url: str, var_dir: Path, port: int, workers: int):
    """`sesshu serve --workers N` on 127.0.0.1 for the city's database; yields the base URL, stops it after."""
    env = dict(os.environ, SESSHU_DATABASE_URL=url, SESSHU_VAR_DIR=str(var_dir), SESSHU_SESSION_IDLE_MINUTES="60")
    server = subprocess.Popen([sys.executable, "-m", "sesshu", "serve", "--host", HOST, "--port", str(port),
                               "--workers", str(workers)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://{HOST}:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the server did not start")
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def sign_in_all(base: str, db, settings, logins: list[str]) -> list[tuple[str, str, object]]:
    """(login, CSRF token, cookies) of each account, signed in through the forms."""
    sessions = []
    for login in logins:
        with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as c:
            sessions.append((login, sign_in(c, db, settings, login), c.cookies))
    return sessions


def staff_loop(base: str, login: str, items: list[tuple[str, str]], csrf: str, cookies, deadline: float,
               stats: Stats, rng: random.Random, think: float = 0.0) -> None:
    def pause() -> None:
        # A person reads the answer before the next step: exponential with the given mean, capped at 4×.
        if think > 0:
            time.sleep(min(rng.expovariate(1 / think), 4 * think, max(0.0, deadline - time.monotonic())))

    with httpx.Client(base_url=base, follow_redirects=False, timeout=30, cookies=cookies) as client:
        k = 0
        if think > 0:
            time.sleep(rng.uniform(0, think))  # staff do not all start on the same second
        while time.monotonic() < deadline:
            kana, atena = items[k % len(items)]
            k += 1
            try:
                t = time.perf_counter()
                r = client.get("/search?" + urlencode({"kana": kana}))
                stats.add("search", time.perf_counter() - t)
                if r.status_code != 200:
                    stats.error(f"search {r.status_code}", r.text)
                    continue
                pause()
                t = time.perf_counter()
                r = client.get(f"/persons/{atena}")
                stats.add("person", time.perf_counter() - t)
                if r.status_code != 200:
                    stats.error(f"person {r.status_code}", r.text)
                    continue
                # The person page links each record to its own 職権修正 page (the forms left the person page).
                records = EDIT_LINK.findall(r.text)
                if not records:
                    stats.error("person page without a record")
                    continue
                pause()
                t = time.perf_counter()
                r = client.get(f"/records/{rng.choice(records)}/edit")
                stats.add("edit", time.perf_counter() - t)
                if r.status_code != 200:
                    stats.error(f"edit {r.status_code}", r.text)
                    continue
                forms = RECORD_FORM.findall(r.text)
                if not forms:
                    stats.error("record page without its correction form")
                    continue
                record_id, version = forms[0]
                t = time.perf_counter()
                r = client.post(f"/records/{record_id}/correct", data={
                    "csrf_token": csrf, "atena_no": atena, "expected_version": version,
                    "reason": "負荷試験: 備考の記入", "remarks": f"load {login} {time.time_ns()}", "orig_remarks": "__"})
                stats.add("entry", time.perf_counter() - t)
                if r.status_code == 409:
                    stats.conflicts += 1
                elif r.status_code != 303:
                    stats.error(f"entry {r.status_code}", r.text)
                pause()
            except httpx.HTTPError as e:
                stats.error(type(e).__name__)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--staff", type=int, default=50)
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--residents", type=int, default=200_000)
    ap.add_argument("--port", type=int, default=8113)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="uvicorn worker processes of the server (default: one per core)")
    ap.add_argument("--think", type=float, default=0.0,
                    help="mean seconds a staff member spends reading/typing before the next request (0: none)")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args()

    var_dir = Path(f"/tmp/sesshu-load-{args.residents}")
    var_dir.mkdir(parents=True, exist_ok=True)
    url = f"postgresql://postgres@127.0.0.1:5432/sesshu_load_{args.residents}"
    settings, build_seconds = build_city(url, var_dir, args.residents, args.rebuild)
    logins = ensure_staff(settings, args.staff)
    shares = work_items(settings, args.staff, 40, args.seed)
    stats = Stats()
    db = make_database(settings)
    with serving(url, var_dir, args.port, args.workers) as base:
        sessions = sign_in_all(base, db, settings, logins)
        started = time.monotonic()
        deadline = started + args.seconds
        threads = [threading.Thread(target=staff_loop, args=(base, login, shares[i], csrf, cookies, deadline, stats,
                                                              random.Random(args.seed * 1000 + i), args.think), daemon=True)
                   for i, (login, csrf, cookies) in enumerate(sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, deadline - time.monotonic() + 35))
        elapsed = time.monotonic() - started
    chain = verify_chain(db, actor=BENCH)
    db.dispose()
    pages = {}
    for page, values in stats.times.items():
        pages[page] = {"requests": len(values), "per_second": round(len(values) / elapsed, 1),
                       "p50_ms": round(pct(values, 50), 1), "p95_ms": round(pct(values, 95), 1),
                       "p99_ms": round(pct(values, 99), 1),
                       "mean_ms": round(statistics.fmean(values) * 1000, 1) if values else None}
    total = sum(len(v) for v in stats.times.values())
    report = {"staff": args.staff, "seconds": round(elapsed, 1), "residents": args.residents,
              "server_workers": args.workers, "think_seconds_mean": args.think,
              "load_average_after": [round(x, 2) for x in os.getloadavg()],
              "city_build_seconds": round(build_seconds, 1), "requests": total,
              "requests_per_second": round(total / elapsed, 1), "loops": len(stats.times["entry"]),
              "pages": pages, "errors": sum(stats.errors.values()), "error_kinds": stats.errors, "error_samples": stats.samples,
              "conflicts": stats.conflicts, "audit_chain_ok": chain.ok, "audit_entries": chain.entries,
              "cpu_count": os.cpu_count()}
    print(json.dumps(report, ensure_ascii=False, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    sys.exit(0 if chain.ok and not stats.errors and stats.times["entry"] else 1)  # a run that wrote nothing failed


if __name__ == "__main__":
    main()
