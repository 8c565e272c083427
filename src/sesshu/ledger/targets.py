"""対象者選定: residents who may receive a vaccination now or within a window — the mailing list
for notices. Uses the schedule engine on each candidate's full history."""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.access.tasks import VACCINATION_TASKS
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.conditions.facts import conditions_on, load_resident_spans
from sesshu.db import Database
from sesshu.disclosure.suspension import drop_suspended
from sesshu.domain.errors import InvalidInput
from sesshu.domain.schedule import EligibilityResult, PersonFacts, RuleSet, evaluate
from sesshu.domain.schedule.book import RuleBook, group_of, is_tokutei
from sesshu.domain.schedule.engine import _new_line as new_line  # EligibilityResult, built fast
from sesshu.eligibility.query import open_on
from sesshu.exports import service as exports
from sesshu.exports.service import ExportedFile
from sesshu.ledger.evaluation import evaluate_rows
from sesshu.ledger.models import VaccinationRecord
from sesshu.pregnancy.facts import load_resident_pregnancies
from sesshu.registry.models import Person
from sesshu.rulesets.active import rule_book

_BATCH = 2000


def line_codes(rules: RuleSet) -> dict[str, str]:
    """Every code a user may ask for → the eligibility line that answers it (HPV9 → HPV, …)."""
    out = {}
    for e in rules.entries:
        out[e.code] = e.code
        for v in e.vaccines:
            out.setdefault(v, e.code)
    return out


@dataclass
class TargetRow:
    """A resident on the list, and the eligibility line that put them there."""

    atena_no: str
    name: str
    name_kana: str
    sex: str
    birth_date: date
    postal_code: str
    address: str
    household_no: str
    line: EligibilityResult
    group: str = ""  # a campaign's 接種順位 that opened the line for them ("" for routine lines)


def _open_within(line, as_of: date, until: date) -> bool:
    if line.status == "eligible":
        return True
    return line.status == "not_yet" and line.earliest is not None and line.earliest <= until


def _is_open(rules: RuleSet, birth: date, sex: str, line: str, as_of: date, until: date,
             conditions: frozenset[str] = frozenset()) -> bool:
    ev = evaluate(PersonFacts(birth_date=birth, sex=sex, conditions=conditions), [], as_of, rules,
                  lines=frozenset((line,)))
    return any(_open_within(e, as_of, until) for e in ev.eligibility)


def _probe_birth_groups(s, rules: RuleSet, line: str, as_of: date, until: date) -> set[tuple[date, str]]:
    """(birth date, sex) groups whose empty history is open within the window.

    Legal windows depend only on birth date and sex; doses only use terms up or push the next
    date later. So a group closed for a person with no doses is closed for everyone in it, and
    only the open groups need their members' histories evaluated.

    Probing every group of a large city costs seconds, so months are probed first (their first
    and last day): an open birth-date range is never shorter than a month (the narrowest window,
    rota's 18 weeks, is longer), so it touches a probed day in its own month or a neighbour's.
    Only the groups in those months are probed one by one.
    """
    groups = s.execute(select(Person.birth_date, Person.sex).where(Person.registry_status == "resident")
                       .distinct()).all()
    months = {(b.year, b.month) for b, _ in groups}
    sexes = sorted({sx for _, sx in groups})
    open_months = set()
    for y, m in months:
        first = date(y, m, 1)
        last = (date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1))
        if any(_is_open(rules, d, sx, line, as_of, until) for d in (first, last) for sx in sexes):
            open_months.add((y, m))
    near = {(y + (m + k - 1) // 12, (m + k - 1) % 12 + 1) for y, m in open_months for k in (-1, 0, 1)}
    return {(b, sx) for b, sx in groups if (b.year, b.month) in near and _is_open(rules, b, sx, line, as_of, until)}


def select_targets(db: Database, *, actor: Actor, vaccine: str, as_of: date, within_days: int = 0,
                   purpose: str = "対象者選定") -> list[TargetRow]:
    with db.transaction() as s:
        book = rule_book(s)
        line, until = _window(book, vaccine, as_of, within_days)
        found = access.scoped(s, actor, tasks=VACCINATION_TASKS).keep(_collect(s, book, line, as_of, until))
        # 利用停止請求: persons who asked to stop use are left out, each refusal on record.
        rows = drop_suspended(s, actor, found, use="targets.select", detail={"vaccine": line})
        audit.record(s, actor, "targets.select", purpose=purpose,
                     detail={"vaccine": line, "as_of": as_of, "within_days": within_days, "rows": len(rows),
                             "suspended_skipped": len(found) - len(rows)})
    return rows


def export_targets(db: Database, *, actor: Actor, vaccine: str, as_of: date, within_days: int = 0,
                   purpose: str, password: str) -> ExportedFile:
    """The target list as a password-protected ZIP of its CSV; logged with rows, purpose and file hash."""
    purpose = exports.prepare(actor, purpose=purpose, password=password)
    with db.transaction() as s:
        book = rule_book(s)
        line, until = _window(book, vaccine, as_of, within_days)
        found = access.scoped(s, actor, tasks=VACCINATION_TASKS).keep(_collect(s, book, line, as_of, until))
        rows = drop_suspended(s, actor, found, use="targets.export",
                              detail={"vaccine": line})
        return exports.export_csv(s, actor, action="targets.export", csv_text=targets_csv(rows), rows=len(rows),
                                  purpose=purpose, password=password, stem=f"targets_{line}_{as_of:%Y%m%d}",
                                  detail={"vaccine": line, "as_of": as_of, "within_days": within_days})


def collect_targets(s: Session, *, vaccine: str, as_of: date, within_days: int = 0) -> tuple[str, list[TargetRow]]:
    """(eligibility line, rows) in the caller's transaction, for callers that act on the list (notices)."""
    book = rule_book(s)
    line, until = _window(book, vaccine, as_of, within_days)
    return line, _collect(s, book, line, as_of, until)


def collect_target_batches(s: Session, *, vaccine: str, as_of: date, within_days: int = 0,
                           persons_per_batch: int = 2000) -> tuple[str, Iterator[list[TargetRow]]]:
    """The same list, oldest first, whole birth dates at a time of about `persons_per_batch` residents — for
    a caller that must not hold a whole city's list (a wave of 1,000,000 tickets): each batch is sorted by
    (birth date, 宛名番号), and its size does not grow with the city. Always the full evaluation, batch by
    batch: the eligibility table's query returns a whole line at once (see docs/eligibility.md)."""
    book = rule_book(s)
    line, until = _window(book, vaccine, as_of, within_days)
    return line, _collect_batches(s, book, line, as_of, until, persons_per_batch=persons_per_batch)


def collect_with_book(s: Session, book: RuleBook, line: str, as_of: date) -> list[TargetRow]:
    """Residents for whom ``line`` is open on as_of under ``book`` (a rule file's preview, before it is active)."""
    return _collect(s, book, line, as_of, as_of)


def _window(book: RuleBook, vaccine: str, as_of: date, within_days: int) -> tuple[str, date]:
    codes = line_codes(book.at(as_of))
    line = codes.get(vaccine.strip().upper())
    if line is None:
        raise InvalidInput(f"接種種別「{vaccine}」は判定できません（{', '.join(sorted(set(codes.values())))}）")
    if within_days < 0:
        raise InvalidInput("期間は0日以上で指定してください")
    return line, as_of + timedelta(days=within_days)


def _condition_holders(s: Session, rules: RuleSet, spans: dict[str, tuple], line: str, as_of: date,
                       until: date) -> dict[str, date]:
    """Residents whose conditions on as_of (the B類 60–64 criterion) open the line, whatever their
    birth group says, with their birth dates. Holders are few, so each (birth date, sex,
    conditions) group of theirs is probed on its own."""
    if not spans:
        return {}
    facts = {a: (b, sx) for a, b, sx in s.execute(select(Person.atena_no, Person.birth_date, Person.sex)
                                                  .where(Person.atena_no.in_(list(spans))))}
    probed: dict[tuple, bool] = {}
    out: dict[str, date] = {}
    for a, person_spans in spans.items():
        held = conditions_on(person_spans, as_of)
        if not held or a not in facts:
            continue
        key = (*facts[a], held)
        if key not in probed:
            probed[key] = _is_open(rules, *facts[a], line, as_of, until, held)
        if probed[key]:
            out[a] = facts[a][0]
    return out


def _pregnancy_line(rules, line: str) -> bool:
    return any(e.code == line and e.pregnancy for e in rules.entries)


def _pregnant_residents(s: Session, pregnancies: dict[str, tuple]) -> dict[str, date]:
    """Residents with a 妊娠届 still to deliver, with their birth dates: the only candidates of a
    pregnancy line (RSウイルス 母子免疫), whose window the birth date does not decide."""
    if not pregnancies:
        return {}
    return {a: b for a, b in s.execute(select(Person.atena_no, Person.birth_date)
                                       .where(Person.atena_no.in_(list(pregnancies))))}


def _statuses(rules: RuleSet, line: str) -> tuple[str, ...]:
    # 特定接種 is for the listed staff wherever they live: 住登外者 (registered through the two-person check) too.
    return ("resident", "non_resident") if is_tokutei(rules, line) else ("resident",)


def _collect(s: Session, book: RuleBook, line: str, as_of: date, until: date) -> list[TargetRow]:
    """The list from the eligibility table (sesshu.eligibility: a range query), or — where the table
    cannot answer (not built, other rules, as_of outside its period) — from the full evaluation."""
    found = open_on(s, book, line, as_of, until, _statuses(book.at(as_of), line))
    if found is None:
        return full_collect(s, book, line, as_of, until)
    # rows unpacked as tuples (query._COLS order): attribute access per column costs more than the query
    rows = [TargetRow(a, name, kana, sex, birth, postal, address, household,
                      new_line(line, next_dose, status, earliest, sf, su, legal), group)
            for (a, name, kana, sex, birth, postal, address, household, status, next_dose, earliest, sf, su, legal,
                 group) in found]
    return rows  # already in the order below (eligibility.query sorts in SQL)


def full_collect(s: Session, book: RuleBook, line: str, as_of: date, until: date) -> list[TargetRow]:
    """The list by evaluating every candidate's history (the reference the table must equal)."""
    rows = [r for batch in _collect_batches(s, book, line, as_of, until) for r in batch]
    rows.sort(key=lambda r: (r.line.earliest or as_of, r.atena_no))
    return rows


def _birth_batches(s: Session, statuses: tuple[str, ...], births: list[date],
                   persons_per_batch: int | None) -> Iterator[list[date]]:
    """The birth dates in order, _BATCH at a time — or, with persons_per_batch, as many whole birth dates as
    hold about that many residents (one count per birth date of the city, one query)."""
    if persons_per_batch is None:
        for i in range(0, len(births), _BATCH):
            yield births[i:i + _BATCH]
        return
    per_birth = dict(s.execute(select(Person.birth_date, func.count()).where(Person.registry_status.in_(statuses))
                               .group_by(Person.birth_date)).all())
    part: list[date] = []
    persons = 0
    for b in births:
        if part and (persons + per_birth.get(b, 0) > persons_per_batch or len(part) >= _BATCH):
            yield part
            part, persons = [], 0
        part.append(b)
        persons += per_birth.get(b, 0)
    if part:
        yield part


def _collect_batches(s: Session, book: RuleBook, line: str, as_of: date, until: date,
                     persons_per_batch: int | None = None) -> Iterator[list[TargetRow]]:
    """The line's targets a few birth dates at a time (_birth_batches), oldest first (by birth date, 宛名番号)."""
    rules = book.at(as_of)
    statuses = _statuses(rules, line)
    spans = load_resident_spans(s, statuses)  # one query: residents with a condition on record
    if _pregnancy_line(rules, line):
        # the window ends 22 days before the expected delivery: earlier deliveries cannot be open
        pregnancies = load_resident_pregnancies(s, delivered_after=as_of)
        wanted: set = set()
        holders = _pregnant_residents(s, pregnancies)
    else:
        pregnancies = {}
        wanted = _probe_birth_groups(s, rules, line, as_of, until)
        holders = _condition_holders(s, rules, spans, line, as_of, until)
    births = sorted({b for b, _ in wanted} | set(holders.values()))
    only = frozenset((line,))
    for part in _birth_batches(s, statuses, births, persons_per_batch):
        rows: list[TargetRow] = []
        persons = [p for p in s.execute(
            select(Person.atena_no, Person.name, Person.name_kana, Person.sex, Person.birth_date,
                   Person.postal_code, Person.address, Person.household_no)
            .where(Person.registry_status.in_(statuses), Person.birth_date.in_(part)))
            if (p.birth_date, p.sex) in wanted or p.atena_no in holders]
        history: dict[str, list] = {}
        ids = [p.atena_no for p in persons]
        for j in range(0, len(ids), _BATCH):
            for r in s.execute(select(VaccinationRecord.id, VaccinationRecord.atena_no,
                                      VaccinationRecord.vaccine_code, VaccinationRecord.vaccinated_on,
                                      VaccinationRecord.screening_result)
                               .where(VaccinationRecord.atena_no.in_(ids[j:j + _BATCH]),
                                      VaccinationRecord.status == "active")):
                history.setdefault(r.atena_no, []).append(r)
        for p in persons:
            result = evaluate_rows(p.birth_date, p.sex, history.get(p.atena_no, []), as_of, only,
                                   spans=spans.get(p.atena_no, ()), pregnancies=pregnancies.get(p.atena_no, ()),
                                   book=book)
            for e in result.eligibility:
                if e.vaccine == line and _open_within(e, as_of, until):
                    held = conditions_on(spans.get(p.atena_no, ()), as_of)
                    rows.append(TargetRow(p.atena_no, p.name, p.name_kana, p.sex, p.birth_date, p.postal_code,
                                          p.address, p.household_no, e,
                                          group_of(book, rules, line, p.birth_date, p.sex, held,
                                                   e.earliest or as_of)))
        rows.sort(key=lambda r: (r.birth_date, r.atena_no))
        yield rows


CSV_HEADER = ["宛名番号", "氏名", "氏名カナ", "性別", "生年月日", "郵便番号", "住所", "世帯番号", "接種種別", "次回",
              "状態", "接種可能日", "標準的な期間（から）", "標準的な期間（まで）", "定期接種の期限", "接種順位"]
_STATUS = {"eligible": "接種可能", "not_yet": "期間内に対象"}
_SEX = {"M": "男", "F": "女"}


def targets_csv(rows: list[TargetRow]) -> str:
    buf = io.StringIO()
    w = exports.CsvWriter(buf)
    w.writerow(CSV_HEADER)
    for r in rows:
        e = r.line
        w.writerow([r.atena_no, r.name, r.name_kana, _SEX.get(r.sex, ""), r.birth_date.isoformat(), r.postal_code,
                    r.address, r.household_no, e.vaccine, e.next_dose or "", _STATUS.get(e.status, e.status),
                    *[(d.isoformat() if d else "") for d in (e.earliest, e.standard_from, e.standard_until,
                                                            e.legal_until)], r.group])
    return buf.getvalue()
