"""The staff dashboard: counts over the whole ledger, no personal data.

- records entered per month (created_at, the last 12 months),
- coverage by vaccine and birth cohort (年度 of birth): residents with at least one active record,
- import error rates (import_batch).

Records per month, active records and residents are running counts that database triggers keep in
the writing transaction (dashboard_count, migration 0016): reading them costs the same at 3,000 or
3,000,000 records. Coverage is one aggregate over the residents of the last COHORTS birth years
(bounded by births, not by the size of the city), import error rates are the last batches. The
result is cached on the Database object; when it is out of date and took long to compute, the page
gets the previous figures (with the time they were computed) while a background thread recomputes
them — see dashboard(). Nothing here is personal data.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, delete, exists, func, insert, select, text
from sqlalchemy.orm import Session

from sesshu.clock import utcnow
from sesshu.dashboard.models import DashboardCount
from sesshu.db import Database
from sesshu.ledger.models import EvaluationQueue, ImportBatch, VaccinationRecord
from sesshu.registry.models import Person

CACHE_SECONDS = 300
# Delta rows of dashboard_count folded into one per key once there are more than this.
FOLD_ROWS = 500
# Childhood vaccines shown in the coverage grid: (label, codes counted for it).
COVERAGE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("B型肝炎", ("HEPB",)),
    ("ロタ", ("ROTA1", "ROTA5")),
    ("ヒブ", ("HIB", "DPTIPVHIB")),
    ("小児肺炎球菌", ("PCV",)),
    ("4種・5種混合", ("DPTIPV", "DPTIPVHIB")),
    ("BCG", ("BCG",)),
    ("MR", ("MR",)),
    ("水痘", ("VAR",)),
)
COHORTS = 7
DAYS = 14


@dataclass
class Coverage:
    cohorts: list[int]  # 年度 of birth, newest first
    groups: list[str]
    residents: dict[int, int]  # cohort → residents born in it
    covered: dict[tuple[int, str], int]  # (cohort, group) → residents with a record


@dataclass
class Dashboard:
    computed_at: datetime
    seconds: float
    residents: int
    records_total: int
    records_this_month: int
    queue: int
    months: list[tuple[str, int]]  # ("2026-01", n) oldest first
    coverage: Coverage
    batches: list[dict] = field(default_factory=list)  # oldest first
    days: list[tuple[date, int]] = field(default_factory=list)  # doses per day, the last DAYS days, oldest first


_lock = threading.Lock()


def _fingerprint(db: Database) -> tuple:
    """Changes whenever a record is entered or a file imported (two primary-key look-ups)."""
    with db.transaction() as s:
        return (s.execute(select(func.max(VaccinationRecord.id))).scalar(),
                s.execute(select(func.max(ImportBatch.id))).scalar())


def fiscal_year(d: date) -> int:
    return d.year if d.month >= 4 else d.year - 1


def _month_starts(today: date, n: int) -> list[date]:
    out, y, m = [], today.year, today.month
    for _ in range(n):
        out.append(date(y, m, 1))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return list(reversed(out))


SYNC_LIMIT_SECONDS = 0.15


def dashboard(db: Database, *, today: date, refresh: bool = False) -> Dashboard:
    """The figures. Recomputed when a record or a batch was added or CACHE_SECONDS passed (voids,
    registry changes); while a recomputation that takes longer than SYNC_LIMIT_SECONDS runs in the
    background, the previous figures are served (the page shows when they were computed), so the
    home page never waits for the aggregates except on the first visit after the server starts.
    The cache lives on the Database object: one per server process."""
    key = (today, _fingerprint(db))
    with _lock:
        hit = getattr(db, "_sesshu_dashboard", None)
    if hit and not refresh:
        fresh = hit[1] == key and time.monotonic() - hit[0] < CACHE_SECONDS
        if fresh:
            return hit[2]
        if hit[2].seconds > SYNC_LIMIT_SECONDS:
            _recompute_in_background(db, today, key)
            return hit[2]
    return _recompute(db, today, key)


def _recompute(db: Database, today: date, key: tuple) -> Dashboard:
    started = time.perf_counter()
    result = _compute(db, today)
    result.seconds = time.perf_counter() - started
    with _lock:
        db._sesshu_dashboard = (time.monotonic(), key, result)
    return result


def _recompute_in_background(db: Database, today: date, key: tuple) -> None:
    with _lock:
        if getattr(db, "_sesshu_dashboard_running", False):
            return
        db._sesshu_dashboard_running = True

    def run() -> None:
        try:
            _recompute(db, today, key)
        finally:
            db._sesshu_dashboard_running = False

    threading.Thread(target=run, daemon=True, name="dashboard").start()


def running_counts(s: Session, *, fold_rows: int = FOLD_ROWS) -> dict[str, int]:
    """The trigger-kept counts (key → total); folds the delta rows when there are many, which only
    rewrites them: the sums stay the same. Each transaction folds the rows it deleted itself
    (DELETE … RETURNING), so two concurrent folds never count a row twice."""
    rows = s.execute(select(func.count()).select_from(DashboardCount)).scalar_one()
    if rows > fold_rows:
        totals: dict[str, int] = {}
        for key, n in s.execute(delete(DashboardCount).returning(DashboardCount.key, DashboardCount.n)):
            totals[key] = totals.get(key, 0) + n
        if totals:
            s.execute(insert(DashboardCount), [{"key": k, "n": n} for k, n in totals.items()])
    return {k: int(n) for k, n in s.execute(select(DashboardCount.key, func.sum(DashboardCount.n))
                                               .group_by(DashboardCount.key)).all()}


def _compute(db: Database, today: date) -> Dashboard:
    starts = _month_starts(today, 12)
    with db.transaction() as s:
        counts = running_counts(s)
        months = [(f"{m:%Y-%m}", counts.get(f"records:{m:%Y-%m}", 0)) for m in starts]
        residents = counts.get("residents", 0)
        records_total = counts.get("active", 0)
        queue = s.execute(select(func.count()).select_from(EvaluationQueue)).scalar_one()
        coverage = _coverage(s, today)
        days = _doses_per_day(s, today)
        batches = [
            {"id": b.id, "file_name": b.file_name, "read": b.rows_read, "rejected": b.rows_rejected,
             "duplicates": b.rows_duplicate, "finished_at": b.finished_at,
             "rate": (b.rows_rejected / b.rows_read) if b.rows_read else 0.0}
            for b in s.execute(select(ImportBatch).where(ImportBatch.kind == "records",
                                                         ImportBatch.finished_at.is_not(None))
                               .order_by(ImportBatch.id.desc()).limit(12)).scalars()]
    return Dashboard(computed_at=utcnow(), seconds=0.0, residents=residents, records_total=records_total,
                     records_this_month=months[-1][1], queue=queue, months=months, coverage=coverage,
                     batches=list(reversed(batches)), days=days)


def _doses_per_day(s: Session, today: date) -> list[tuple[date, int]]:
    """Doses given on each of the last DAYS days (index on the day of the dose; sesshu.counts has the detail)."""
    first = today - timedelta(days=DAYS - 1)
    got = {(d if isinstance(d, date) else date.fromisoformat(str(d))): n for d, n in s.execute(
        select(VaccinationRecord.vaccinated_on, func.count())
        .where(VaccinationRecord.vaccinated_on >= first, VaccinationRecord.vaccinated_on <= today,
               VaccinationRecord.status == "active", VaccinationRecord.screening_result == "vaccinated")
        .group_by(VaccinationRecord.vaccinated_on)).all()}
    return [(first + timedelta(days=i), got.get(first + timedelta(days=i), 0)) for i in range(DAYS)]


def recount(s: Session) -> dict[str, int]:
    """The running counts recomputed from the tables (what the triggers must always agree with)."""
    month = func.strftime("%Y-%m", VaccinationRecord.created_at, "+9 hours") if s.bind.dialect.name == "sqlite" \
        else func.to_char(VaccinationRecord.created_at + text("interval '9 hours'"), "YYYY-MM")
    out = {f"records:{m}": n for m, n in s.execute(select(month, func.count()).group_by(month)).all()}
    out["active"] = s.execute(select(func.count()).select_from(VaccinationRecord)
                              .where(VaccinationRecord.status == "active")).scalar_one()
    out["residents"] = s.execute(select(func.count()).select_from(Person)
                                 .where(Person.registry_status == "resident")).scalar_one()
    return out


def _coverage(s, today: date) -> Coverage:
    """Residents born in the cohorts (index on birth date, status, 宛名番号) and, for each vaccine
    group, whether they have an active record of it — probed per person on the active-record key
    (atena_no, vaccine_code, …), so the cost follows the number of children, not the ledger's size.
    The query's shape differs by backend for the same figures: PostgreSQL turns per-group EXISTS into
    hashes of every record of the vaccine (city-wide), so there one join per person is read; SQLite
    runs EXISTS as per-person probes, and reads that faster than the join."""
    newest = fiscal_year(today)
    cohorts = [newest - i for i in range(COHORTS)]
    first, end = date(cohorts[-1], 4, 1), date(newest + 1, 4, 1)
    in_cohorts = (Person.birth_date >= first, Person.birth_date < end, Person.registry_status == "resident")
    if s.bind.dialect.name == "postgresql":
        codes = sorted({c for _label, group in COVERAGE_GROUPS for c in group})
        flags = [func.max(case((VaccinationRecord.vaccine_code.in_(group), 1), else_=0)).label(f"g{i}")
                 for i, (_label, group) in enumerate(COVERAGE_GROUPS)]
        per_person = (select(Person.birth_date, *flags).select_from(Person)
                      .outerjoin(VaccinationRecord, and_(VaccinationRecord.atena_no == Person.atena_no,
                                                         VaccinationRecord.status == "active",
                                                         VaccinationRecord.vaccine_code.in_(codes)))
                      .where(*in_cohorts).group_by(Person.atena_no, Person.birth_date)).subquery()
        cohort = case(*[(per_person.c.birth_date >= date(y, 4, 1), y) for y in cohorts], else_=0)
        has = [func.sum(per_person.c[f"g{i}"]) for i in range(len(COVERAGE_GROUPS))]
        query = select(cohort, func.count(), *has).group_by(cohort)
    else:
        cohort = case(*[(Person.birth_date >= date(y, 4, 1), y) for y in cohorts], else_=0)
        has = [func.sum(case((exists().where(VaccinationRecord.atena_no == Person.atena_no,
                                              VaccinationRecord.status == "active",
                                              VaccinationRecord.vaccine_code.in_(group)), 1), else_=0))
               for _label, group in COVERAGE_GROUPS]
        # likely(): most persons are residents, so the birth-date range is the selective condition
        # (without ANALYZE statistics SQLite would otherwise read every resident by status).
        query = (select(cohort, func.count(), *has).group_by(text("1"))
                 .where(*in_cohorts[:2], func.likely(in_cohorts[2])))
    residents, covered = {}, {}
    for row in s.execute(query).all():
        y = int(row[0])
        residents[y] = row[1]
        for (label, _codes), n in zip(COVERAGE_GROUPS, row[2:]):
            covered[(y, label)] = int(n or 0)
    return Coverage(cohorts=cohorts, groups=[g for g, _ in COVERAGE_GROUPS], residents=residents, covered=covered)
