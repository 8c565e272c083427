"""Daily counts (日次集計): doses per day by vaccine, age band, venue and — where the person holds one on
the day — person condition (priority groups are kept as person conditions), the coverage of 1st and 2nd
doses among residents by age band, and the tickets still unused. Counts only, no personal data; the CSV
for the prefecture's daily report is an audited export (a plain CSV is allowed for aggregates, see
sesshu.exports.service).

Works for any vaccine line the schedule rules know (`tickets.catalog.line_vaccines` maps a line to its
vaccine codes), routine or campaign.
"""
from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import yaml
from sqlalchemy import func, select

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.conditions.facts import conditions_on, load_spans
from sesshu.db import Database
from sesshu.domain.errors import InvalidInput
from sesshu.domain.jdates import reach_age
from sesshu.exports.service import log_export
from sesshu.ledger.models import VaccinationRecord, Vaccine, Venue
from sesshu.ledger.reference import CATEGORIES
from sesshu.registry.models import Person
from sesshu.tokutei.service import NO_LIST, staff_jobs
from sesshu.tickets.catalog import line_info, line_vaccines
from sesshu.tickets.models import Ticket

PURPOSE = "日次の接種実績の集計（都道府県への報告）"
MAX_DAYS = 31
NO_GROUP = ""
# 接種区分 and 職種区分 last: 特定接種 doses are counted apart from 住民接種, by the 職種区分 of the staff list the
# person is on that day (issue 19); a 特定接種 dose of a person on no list counts under NO_LIST.
CSV_HEADER = ["接種日", "接種種別", "年齢階級", "実施場所コード", "区分（対象者の状態）", "回数", "接種回数", "接種区分",
              "職種区分"]
DESIGNATED = "designated"


def code_names(db: Database) -> dict[int, dict[str, str]]:
    """The names staff read beside the codes the report groups by: {report column: {code: name}} for the
    vaccine (1) and the venue (3) columns (masters only, no personal data)."""
    with db.transaction() as s:
        return {1: dict(s.execute(select(Vaccine.code, Vaccine.name)).all()),
                3: dict(s.execute(select(Venue.code, Venue.name)).all())}


@lru_cache(maxsize=1)
def bands() -> list[dict]:
    return yaml.safe_load((Path(__file__).parent / "bands.yaml").read_text(encoding="utf-8"))["bands"]


def band_of(birth: date, on: date) -> str:
    """The label of the age band of a person born on `birth`, on the day `on` (reach(N歳))."""
    for b in reversed(bands()):
        if reach_age(birth, b["from"]) <= on:
            return b["label"]
    return bands()[0]["label"]


@dataclass
class DailyReport:
    day_from: date
    day_to: date
    vaccine: str  # the line ("" = every vaccine)
    # (day, vaccine code, band, venue, group, dose_no, 接種区分 label, 職種区分 label) → doses
    doses: Counter = field(default_factory=Counter)
    residents_by_band: dict[str, int] = field(default_factory=dict)
    covered_by_band: dict[tuple[str, int], int] = field(default_factory=dict)  # (band, n doses ≥) → persons
    tickets_outstanding: dict[int, int] = field(default_factory=dict)  # dose_no → unused tickets

    def per_day(self) -> list[tuple[date, int]]:
        totals: Counter = Counter()
        for key, n in self.doses.items():
            totals[key[0]] += n
        days = (self.day_to - self.day_from).days + 1
        return [(self.day_from + timedelta(days=i), totals[self.day_from + timedelta(days=i)]) for i in range(days)]

    def totals_by(self, index: int) -> list[tuple[str, int]]:
        out: Counter = Counter()
        for key, n in self.doses.items():
            out[key[index]] += n
        return sorted(out.items(), key=lambda kv: (-kv[1], str(kv[0])))

    def csv_text(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(CSV_HEADER)
        for (day, code, band, venue, group, dose_no, category, job), n in sorted(
                self.doses.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
            w.writerow([day.isoformat(), code, band, venue, group, dose_no or "", n, category, job])
        return buf.getvalue()

    def by_category(self) -> list[tuple[str, int]]:
        """Doses by 接種区分 (住民接種 and 特定接種 apart)."""
        return self.totals_by(6)

    def designated_by_job(self) -> list[tuple[str, int | None, int]]:
        """特定接種 doses by 職種区分 and dose number: (職種区分, 回数, doses)."""
        out: Counter = Counter()
        for key, n in self.doses.items():
            if key[7]:
                out[(key[7], key[5])] += n
        return [(job, dose_no, n) for (job, dose_no), n in sorted(out.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))]


def _codes(vaccine: str) -> frozenset[str] | None:
    return line_vaccines(line_info(vaccine).code) if vaccine else None


def _range(day_from: date, day_to: date) -> None:
    if day_to < day_from:
        raise InvalidInput("集計期間の終わりが始まりより前です")
    if (day_to - day_from).days + 1 > MAX_DAYS:
        raise InvalidInput(f"集計期間は{MAX_DAYS}日以内で指定してください")


def daily_report(db: Database, *, actor: Actor, day_from: date, day_to: date, vaccine: str = "") -> DailyReport:
    """The figures of the period (counts only; the look-up is on record)."""
    _range(day_from, day_to)
    codes = _codes(vaccine)
    out = DailyReport(day_from=day_from, day_to=day_to, vaccine=line_info(vaccine).code if vaccine else "")
    with db.transaction() as s:
        access.require_some_task(s, actor)
        q = (select(VaccinationRecord.atena_no, VaccinationRecord.vaccinated_on, VaccinationRecord.vaccine_code,
                    VaccinationRecord.venue_code, VaccinationRecord.dose_no, Person.birth_date,
                    VaccinationRecord.category)
             .join(Person, Person.atena_no == VaccinationRecord.atena_no)
             .where(VaccinationRecord.vaccinated_on >= day_from, VaccinationRecord.vaccinated_on <= day_to,
                    VaccinationRecord.status == "active", VaccinationRecord.screening_result == "vaccinated"))
        if codes is not None:
            q = q.where(VaccinationRecord.vaccine_code.in_(sorted(codes)))
        rows = s.execute(_scoped(s, actor, q)).all()
        spans = {}
        ids = sorted({r[0] for r in rows})
        for i in range(0, len(ids), 5000):
            spans.update(load_spans(s, ids[i:i + 5000]))
        jobs = staff_jobs(s, sorted({r[0] for r in rows if r[6] == DESIGNATED}))
        for atena, on, code, venue, dose_no, birth, category in rows:
            held = conditions_on(spans.get(atena, ()), on)
            job = ""
            if category == DESIGNATED:
                job = next((label for group, label in jobs.get(atena, ()) if group in held), NO_LIST)
            label = CATEGORIES.get(category, category or "")
            for group in (sorted(held) or [NO_GROUP]):
                out.doses[(on, code, band_of(birth, on), venue or "", group, dose_no, label, job)] += 1
        if codes is not None:
            _coverage(s, actor, out, codes, day_to)
            out.tickets_outstanding = dict(s.execute(
                select(Ticket.dose_no, func.count()).where(Ticket.vaccine == out.vaccine, Ticket.state == "issued")
                .group_by(Ticket.dose_no)).all())
        audit.record(s, actor, "counts.daily_view", purpose=PURPOSE,
                     detail={"from": day_from, "to": day_to, "vaccine": out.vaccine, "doses": sum(out.doses.values())})
    return out


def _scoped(s, actor: Actor, q):
    """Only the persons of the actor's 事務 are counted (purpose binding applies to aggregates too)."""
    visible = access.person_filter(access.scope_of(s, actor), Person.atena_no)
    return q if visible is None else q.where(visible)


def _coverage(s, actor: Actor, out: DailyReport, codes: frozenset[str], as_of: date) -> None:
    """Residents by age band on `as_of`, and how many of them have ≥1 and ≥2 doses of the line."""
    births = s.execute(_scoped(s, actor, select(Person.birth_date, func.count())
                                       .where(Person.registry_status == "resident").group_by(Person.birth_date))).all()
    for birth, n in births:
        band = band_of(birth, as_of)
        out.residents_by_band[band] = out.residents_by_band.get(band, 0) + n
    per_person = (select(VaccinationRecord.atena_no, func.count().label("n"))
                  .where(VaccinationRecord.vaccine_code.in_(sorted(codes)), VaccinationRecord.status == "active",
                         VaccinationRecord.screening_result == "vaccinated", VaccinationRecord.vaccinated_on <= as_of)
                  .group_by(VaccinationRecord.atena_no)).subquery()
    capped = (func.least(per_person.c.n, 2) if s.bind.dialect.name == "postgresql"
              else func.min(per_person.c.n, 2)).label("capped")
    q = (select(Person.birth_date, capped, func.count()).join(per_person, per_person.c.atena_no == Person.atena_no)
         .where(Person.registry_status == "resident").group_by(Person.birth_date, capped))
    for birth, n, persons in s.execute(_scoped(s, actor, q)).all():
        band = band_of(birth, as_of)
        for k in range(1, int(n) + 1):
            out.covered_by_band[(band, k)] = out.covered_by_band.get((band, k), 0) + persons


def export_daily_csv(db: Database, *, actor: Actor, day_from: date, day_to: date, vaccine: str = "",
                     purpose: str = PURPOSE) -> tuple[bytes, DailyReport]:
    """The prefecture's daily report as CSV (UTF-8 with BOM, CRLF), on record as an export with its hash."""
    report = daily_report(db, actor=actor, day_from=day_from, day_to=day_to, vaccine=vaccine)
    content = report.csv_text().encode("utf-8-sig")
    name = f"daily_{report.vaccine or 'all'}_{day_from:%Y%m%d}_{day_to:%Y%m%d}.csv"
    with db.transaction() as s:
        log_export(s, actor, document="日次の接種実績（都道府県への報告）", purpose=purpose,
                   rows=len(report.doses), sha256=hashlib.sha256(content).hexdigest(), file=name,
                   detail={"from": day_from, "to": day_to, "vaccine": report.vaccine})
    return content, report
