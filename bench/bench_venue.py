"""Venue mode under load: N stations scan 接種券 and record doses at once, over HTTP, against
`sesshu serve --workers W` on PostgreSQL. Reports scan-to-recorded p50/p95/p99 (the scan's look-up plus
the record, as a station does it: POST /venue/scan then POST /venue/record), each call's percentiles,
the doses recorded per hour, errors, and verifies the audit chain afterwards.

    .venv/bin/python bench/bench_venue.py                                          # the issue's run: 50 stations, 200,000 residents
    .venv/bin/python bench/bench_venue.py --stations 10 --seconds 30 --residents 20000   # a short run

The city is the load test's (`bench/load.py`: database `sesshu_load_<residents>`, built once and kept).
The persons are residents aged 65 or over; each gets a 高齢者インフルエンザ (FLU_ELDER) 接種券 through
the tickets service (`tickets.service.issue`, the same numbers and OCR line as a mailed ticket), and
each station works through its own share of those tickets, so no two stations scan the same ticket.
Stations sign in as clerks (demo accounts, password + TOTP). `--think S` is the mean pause (exponential)
between a station's doses (0: as fast as the server answers — the capacity). Records are real: a rerun
uses the tickets still unused (issue more with a larger `--tickets`).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import build_city, ensure_staff, pct, serving, sign_in_all  # noqa: E402  (the load test's city, server, sign-in)
from load import Stats as LoadStats  # noqa: E402

from sesshu.actor import Actor  # noqa: E402
from sesshu.audit.service import verify_chain  # noqa: E402
from sesshu.clock import today_jst  # noqa: E402
from sesshu.db import make_database  # noqa: E402
from sesshu.orm import load_all_models  # noqa: E402
from sesshu.tickets.models import Ticket  # noqa: E402
from sesshu.tickets.service import TicketWish, issue, ocr_line  # noqa: E402

BENCH = Actor(login_id="bench-venue", kind="os", role="operator")
VACCINE = "FLU_ELDER"


@dataclass
class Stats(LoadStats):
    """The load test's figures, for a station's two calls and the dose from scan to recorded."""

    times: dict[str, list[float]] = field(default_factory=lambda: {"scan": [], "record": [], "scan_to_recorded": [],
                                                                    "baseline_get": [], "baseline_get_idle": []})
    refused: int = 0
    confirmed_invalid: int = 0  # doses judged invalid (e.g. a second flu dose in the season): recorded on a second F2


def ensure_tickets(settings, wanted: int) -> tuple[list[str], float]:
    """OCR lines of unused FLU_ELDER tickets of residents aged 65+ (issued here when there are too few)."""
    db = make_database(settings)
    today = today_jst()
    born_by = date(today.year - 65, today.month, today.day)
    started = time.monotonic()
    with db.engine.connect() as c:
        live = c.execute(text("SELECT count(*) FROM ticket WHERE vaccine = :v AND state = 'issued'"),
                         {"v": VACCINE}).scalar_one()
        missing = max(0, wanted - live)
        atenas = [r[0] for r in c.execute(text(
            "SELECT p.atena_no FROM person p WHERE p.registry_status = 'resident' AND p.birth_date <= :b "
            "AND NOT EXISTS (SELECT 1 FROM ticket t WHERE t.atena_no = p.atena_no AND t.vaccine = :v) "
            "AND NOT EXISTS (SELECT 1 FROM vaccination_record r WHERE r.atena_no = p.atena_no "
            "AND r.vaccinated_on = :d AND r.status = 'active') ORDER BY p.atena_no LIMIT :n"),
            {"b": born_by, "v": VACCINE, "d": today, "n": missing})]
    for i in range(0, len(atenas), 5000):
        with db.transaction() as s:
            issue(s, BENCH, [TicketWish(a, VACCINE, 1, None) for a in atenas[i:i + 5000]], reason="notice")
    issue_seconds = time.monotonic() - started
    with db.transaction() as s:
        tickets = s.execute(select(Ticket).where(Ticket.vaccine == VACCINE, Ticket.state == "issued")
                            .order_by(Ticket.id).limit(wanted)).scalars().all()
        lines = [ocr_line(settings, t) for t in tickets]
    db.dispose()
    return lines, issue_seconds


def station_loop(base: str, csrf: str, cookies, scans: list[str], station: dict, deadline: float, stats: Stats,
                 rng: random.Random, think: float) -> None:
    headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
    day = today_jst().isoformat()
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30, cookies=cookies) as client:
        if think > 0:
            time.sleep(rng.uniform(0, think))
        for scan in scans:
            if time.monotonic() >= deadline:
                return
            try:
                t0 = time.perf_counter()
                r = client.post("/venue/scan", json={"scan": scan, "station": station, "vaccinated_on": day},
                                headers=headers)
                t1 = time.perf_counter()
                stats.add("scan", t1 - t0)
                if r.status_code != 200:
                    stats.error(f"scan {r.status_code}", r.text)
                    continue
                if r.json().get("refusal"):
                    stats.refused += 1
                    continue
                r = client.post("/venue/record", json={"scan": scan, "station": station, "vaccinated_on": day},
                                headers=headers)
                if r.status_code == 400 and r.json().get("code") == "E_CONFIRM_INVALID":
                    # The verdict was shown as a warning; the staff member confirms with a second F2, as the page does.
                    with stats.lock:
                        stats.confirmed_invalid += 1
                    r = client.post("/venue/record", json={"scan": scan, "station": station, "vaccinated_on": day,
                                                           "confirm_invalid": True}, headers=headers)
                t2 = time.perf_counter()
                stats.add("record", t2 - t1)
                if r.status_code != 200:
                    stats.error(f"record {r.status_code}", r.text)
                    continue
                stats.add("scan_to_recorded", t2 - t0)
            except httpx.HTTPError as e:
                stats.error(type(e).__name__)
            if think > 0:
                time.sleep(min(rng.expovariate(1 / think), 4 * think, max(0.0, deadline - time.monotonic())))


def baseline_loop(base: str, cookies, deadline: float, stats: Stats, every: float) -> None:
    """The same run's yardstick: a trivial signed-in page (GET /account/settings: the session check, one
    query, a small template) every `every` seconds, timed like the stations' calls. On a shared machine
    the p95 of the venue calls is read beside this one."""
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30, cookies=cookies) as client:
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            r = client.get("/account/settings")
            if r.status_code == 200:
                stats.add("baseline_get", time.perf_counter() - t0)
            else:
                stats.error(f"baseline {r.status_code}")
            time.sleep(every)


def lock_sampler(url: str, deadline: float, out: dict) -> None:
    """Every 100 ms: how many of the city's backends wait on a lock (PostgreSQL's pg_stat_activity), and
    how many of those wait for the audit chain's head row (the transaction holding it appends last)."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    name = url.rsplit("/", 1)[1]
    samples = waiting = audit_waiting = peak = 0
    with engine.connect() as c:
        while time.monotonic() < deadline:
            n, on_audit = c.execute(text(
                "SELECT count(*), count(*) FILTER (WHERE query ILIKE '%audit_head%') FROM pg_stat_activity "
                "WHERE datname = :n AND wait_event_type = 'Lock'"), {"n": name}).one()
            samples += 1
            waiting += n > 0
            audit_waiting += on_audit > 0
            peak = max(peak, n)
            time.sleep(0.1)
    engine.dispose()
    out.update({"samples": samples, "with_lock_waiters_pct": round(100 * waiting / max(samples, 1), 1),
                "with_audit_head_waiters_pct": round(100 * audit_waiting / max(samples, 1), 1),
                "max_waiting_backends": peak})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stations", type=int, default=50)
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--residents", type=int, default=200_000)
    ap.add_argument("--tickets", type=int, default=20_000, help="unused tickets to have ready (issued if fewer)")
    ap.add_argument("--port", type=int, default=8117)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--think", type=float, default=0.0)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--database", help="PostgreSQL database of the city (default sesshu_load_<residents>)")
    args = ap.parse_args()

    load_all_models()  # every table's mapper, whichever the tickets service touches
    load_before = [round(x, 2) for x in os.getloadavg()]
    name = args.database or f"sesshu_load_{args.residents}"
    var_dir = Path(f"/tmp/{name.replace('_', '-')}")
    var_dir.mkdir(parents=True, exist_ok=True)
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    settings, build_seconds = build_city(url, var_dir, args.residents, args.rebuild)
    logins = ensure_staff(settings, args.stations, prefix="venue", role="clerk", label="会場")
    scans, issue_seconds = ensure_tickets(settings, args.tickets)
    if len(scans) < args.stations:
        raise SystemExit(f"only {len(scans)} unused tickets: not enough persons aged 65+")
    db = make_database(settings)
    with db.engine.connect() as c:
        venue = c.execute(text("SELECT code FROM venue ORDER BY code LIMIT 1")).scalar()
        doctor = c.execute(text("SELECT code FROM doctor ORDER BY code LIMIT 1")).scalar()
    station = {"vaccine_code": VACCINE, "venue_code": venue or "", "doctor_code": doctor or "",
               "lot_no": "BENCH-01", "dose_volume_ml": "0.5"}
    stats = Stats()
    with serving(url, var_dir, args.port, args.workers) as base:
        sessions = [(csrf, cookies) for _login, csrf, cookies in sign_in_all(base, db, settings, logins)]
        shares = [scans[i::args.stations] for i in range(args.stations)]
        with httpx.Client(base_url=base, follow_redirects=False, timeout=30, cookies=sessions[0][1]) as client:
            for i in range(40):  # the yardstick with nothing else running (the first ones warm the worker)
                t0 = time.perf_counter()
                client.get("/account/settings")
                if i >= 10:
                    stats.add("baseline_get_idle", time.perf_counter() - t0)
        started = time.monotonic()
        deadline = started + args.seconds
        locks: dict = {}
        threads = [threading.Thread(target=station_loop, daemon=True, args=(
            base, csrf, cookies, shares[i], station, deadline, stats, random.Random(args.seed * 1000 + i), args.think))
            for i, (csrf, cookies) in enumerate(sessions)]
        threads.append(threading.Thread(target=baseline_loop, daemon=True,
                                        args=(base, sessions[0][1], deadline, stats, 0.5)))
        threads.append(threading.Thread(target=lock_sampler, daemon=True, args=(url, deadline, locks)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, deadline - time.monotonic() + 35))
        elapsed = time.monotonic() - started
    load_after = [round(x, 2) for x in os.getloadavg()]
    chain = verify_chain(db, actor=BENCH)
    db.dispose()
    calls = {}
    for what, values in stats.times.items():
        calls[what] = {"count": len(values), "p50_ms": round(pct(values, 50), 1), "p95_ms": round(pct(values, 95), 1),
                       "p99_ms": round(pct(values, 99), 1),
                       "mean_ms": round(statistics.fmean(values) * 1000, 1) if values else None}
    doses = len(stats.times["scan_to_recorded"])
    report = {"stations": args.stations, "seconds": round(elapsed, 1), "residents": args.residents,
              "server_workers": args.workers, "think_seconds_mean": args.think,
              "load_average_before": load_before, "load_average_after": load_after, "cpu_count": os.cpu_count(),
              "city_build_seconds": round(build_seconds, 1), "ticket_issue_seconds": round(issue_seconds, 1),
              "doses_recorded": doses, "doses_per_hour": round(doses / elapsed * 3600),
              "calls": calls, "refused_scans": stats.refused, "confirmed_invalid_doses": stats.confirmed_invalid, "errors": sum(stats.errors.values()),
              "error_kinds": stats.errors, "error_samples": stats.samples,
              "lock_waits": locks, "audit_chain_ok": chain.ok, "audit_entries": chain.entries}
    print(json.dumps(report, ensure_ascii=False, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    sys.exit(0 if chain.ok and not stats.errors else 1)


if __name__ == "__main__":
    main()
