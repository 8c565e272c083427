"""The schedule engine applied to the ledger: each record's エラーコード and each person's 接種可能範囲.

The engine itself is pure (sesshu.domain.schedule); this module loads facts from the database,
writes error codes back (only where they changed) and never commits — callers own the transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Sequence

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from sesshu.conditions.facts import ConditionSpan, conditions_on, load_spans
from sesshu.domain.schedule import (
    DoseFacts,
    EligibilityResult,
    Evaluation,
    PersonFacts,
    RuleSet,
    evaluate,
    evaluate_many,
)
from sesshu.domain.schedule.book import RuleBook
from sesshu.ledger.models import EvaluationQueue, Lot, Product, VaccinationRecord
from sesshu.pregnancy.facts import load_pregnancies
from sesshu.registry.models import Person
from sesshu.rulesets.active import rule_book


@dataclass(frozen=True)
class RecordVerdict:
    record_id: int
    status: str
    dose_number: int | None
    codes: tuple[str, ...]
    reasons: tuple[str, ...]
    rules: str = ""  # the rule file version that judged it (RuleSet.version_of)

    @property
    def error_code(self) -> str:
        return ",".join(self.codes)


@dataclass
class PersonEvaluation:
    verdicts: dict[int, RecordVerdict]
    eligibility: list[EligibilityResult]
    rules: RuleSet | None = None  # the set the forecast used (eligibility lines cite rules.version_of)


def person_facts(birth_date: date, sex: str, conditions: frozenset[str] = frozenset(),
                 pregnancies: Sequence[date] = ()) -> PersonFacts:
    return PersonFacts(birth_date=birth_date, sex=sex, conditions=conditions, pregnancies=tuple(pregnancies))


def _dose(r) -> DoseFacts:
    return DoseFacts(vaccine=r.vaccine_code, date=r.vaccinated_on, product=getattr(r, "product", None))


def lot_products(s: Session, lots) -> dict[str, str]:
    """Product name of each lot number (ledger lot → product master); lots without one are absent."""
    lots = sorted({x for x in lots if x})
    out: dict[str, str] = {}
    for i in range(0, len(lots), 5000):
        out.update(s.execute(select(Lot.lot_no, Product.name).join(Product, Product.code == Lot.product_code)
                             .where(Lot.lot_no.in_(lots[i:i + 5000]))).all())
    return out


SCREENED_ONLY = "screened_only"


def _split(rows: list) -> tuple[list, list]:
    """The records that are doses, and the 予診のみ visits (screened, not vaccinated). Every row must
    say which it is: a caller that forgot the column would silently count visits as doses."""
    doses, visits = [], []
    for r in rows:
        (visits if r.screening_result == SCREENED_ONLY else doses).append(r)
    return doses, visits


def _judge_visits(birth_date: date, sex: str, doses: list, visits: list, as_of: date,
                  spans: Sequence[ConditionSpan], result: PersonEvaluation, book: RuleBook,
                  pregnancies: Sequence[date] = ()) -> PersonEvaluation:
    """A 予診のみ visit never counts in a series (the next dose is still the same one). Its verdict is
    the one the dose would have had on that day — whether the visit fell in the window, which decides
    the 予診のみ fee — judged among the real doses only."""
    for v in visits:
        probe = _evaluate_doses(birth_date, sex, [*doses, v], as_of, frozenset(), spans, book, pregnancies)
        result.verdicts[v.id] = probe.verdicts[v.id]
    return result


def evaluate_rows(birth_date: date, sex: str, rows: list, as_of: date,
                  lines: frozenset[str] | None = None, spans: Sequence[ConditionSpan] = (), *,
                  book: RuleBook, pregnancies: Sequence[date] = ()) -> PersonEvaluation:
    """rows: active records (id, vaccine_code, vaccinated_on, screening_result) of one person, any order.
    lines: only these eligibility lines are forecast (all doses are still judged).
    spans: the person's conditions (sesshu.conditions.facts): each dose is judged with the
    conditions that held on its date, the forecast with those that hold on as_of.
    book: the rules in force (sesshu.rulesets.active.rule_book): each dose is judged by the rules in
    force on its date, the forecast by those in force on as_of.
    pregnancies: the expected delivery dates of the person's 妊娠届 (sesshu.pregnancy.facts).
    予診のみ records are judged but are not doses (see _judge_visits)."""
    doses, visits = _split(rows)
    result = _evaluate_doses(birth_date, sex, doses, as_of, lines, spans, book, pregnancies)
    return (_judge_visits(birth_date, sex, doses, visits, as_of, spans, result, book, pregnancies)
            if visits else result)


def _evaluate_doses(birth_date: date, sex: str, rows: list, as_of: date,
                    lines: frozenset[str] | None, spans: Sequence[ConditionSpan], book: RuleBook,
                    pregnancies: Sequence[date] = ()) -> PersonEvaluation:
    doses = [_dose(r) for r in rows]
    rules = book.at(as_of)
    if not spans and book.single:
        return _person_evaluation(rows, evaluate(person_facts(birth_date, sex, pregnancies=pregnancies), doses,
                                                 as_of, rules, lines=lines), rules)
    now, per_row = _judging_keys(rows, as_of, spans, book)
    # Other keys only judge doses: their forecast is never shown (lines=∅).
    evs = {k: evaluate(person_facts(birth_date, sex, k[1], pregnancies), doses, as_of, k[0],
                       lines=lines if k == now else frozenset())
           for k in dict.fromkeys([now, *per_row])}
    return _merge(rows, evs, now, per_row)


def evaluate_people(people: list[tuple], as_of: date,
                    lines: frozenset[str] | None = None, *, book: RuleBook) -> list[PersonEvaluation]:
    """evaluate_rows for many persons at once, in the same order: each item is (birth_date, sex, rows),
    (birth_date, sex, rows, spans) or (birth_date, sex, rows, spans, pregnancies). The engine's batch
    path shares the work of persons with the same birth date, sex, conditions and pregnancies.
    予診のみ records are judged as in evaluate_rows."""
    split = [_split(p[2]) for p in people]
    results = _evaluate_people([(p[0], p[1], doses, *p[3:]) for p, (doses, _v) in zip(people, split)], as_of,
                               lines, book)
    return [_judge_visits(p[0], p[1], doses, visits, as_of, p[3] if len(p) > 3 else (), result, book,
                          p[4] if len(p) > 4 else ())
            if visits else result
            for p, (doses, visits), result in zip(people, split, results)]


def _evaluate_people(people: list[tuple], as_of: date, lines: frozenset[str] | None,
                     book: RuleBook) -> list[PersonEvaluation]:
    rules = book.at(as_of)
    if book.single and not any(len(p) > 3 and p[3] for p in people):
        evs = evaluate_many([(person_facts(p[0], p[1], pregnancies=p[4] if len(p) > 4 else ()),
                              [_dose(r) for r in p[2]]) for p in people], as_of, rules, lines=lines)
        return [_person_evaluation(p[2], ev, rules) for p, ev in zip(people, evs)]
    by_rules: dict[RuleSet, list] = {}  # rule set → [(plan index, key, facts, doses)]
    plans = []
    for p in people:
        b, sex, rows = p[0], p[1], p[2]
        spans = p[3] if len(p) > 3 else ()
        pregnancies = p[4] if len(p) > 4 else ()
        doses = [_dose(r) for r in rows]
        now, per_row = _judging_keys(rows, as_of, spans, book)
        plans.append((rows, now, per_row, {}))
        for k in dict.fromkeys([now, *per_row]):
            by_rules.setdefault(k[0], []).append((len(plans) - 1, k, person_facts(b, sex, k[1], pregnancies), doses))
    for rs, items in by_rules.items():
        # evaluate_many forecasts one set of lines for all: for keys other than "now" it is not shown.
        evs = evaluate_many([(facts, doses) for _i, _k, facts, doses in items], as_of, rs, lines=lines)
        for (i, k, _f, _d), ev in zip(items, evs):
            plans[i][3][k] = ev
    return [_merge(rows, evs, now, per_row) for rows, now, per_row, evs in plans]


_Key = tuple  # (RuleSet, frozenset of conditions)


def _judging_keys(rows: list, as_of: date, spans: Sequence[ConditionSpan],
                  book: RuleBook) -> tuple[_Key, list[_Key]]:
    """The rules and conditions in force on as_of, and on each record's date."""
    now = book.at(as_of)
    return ((now, conditions_on(spans, as_of)),
            [(_rules_for(book, now, r), conditions_on(spans, r.vaccinated_on)) for r in rows])


def _rules_for(book: RuleBook, now: RuleSet, r) -> RuleSet:
    """The set in force on the record's date — or the current one when the files that judge its vaccine
    are the same versions in both: a campaign or amendment then costs a second evaluation only for the
    persons with doses it judges, not for everyone with a dose before its date."""
    then = book.at(r.vaccinated_on)
    return now if then is now or then.judged_by(r.vaccine_code) == now.judged_by(r.vaccine_code) else then


def _verdict(r, d, rules: RuleSet) -> RecordVerdict:
    return RecordVerdict(r.id, d.status, d.dose_number, tuple(d.codes), tuple(d.reasons),
                         rules.version_of(r.vaccine_code))


def _merge(rows: list, evs: dict[_Key, Evaluation], now: _Key, per_row: list[_Key]) -> PersonEvaluation:
    """Each record's verdict from the evaluation under the rules and conditions of its date."""
    verdicts = {r.id: _verdict(r, evs[k].doses[i], k[0]) for i, (r, k) in enumerate(zip(rows, per_row))}
    return PersonEvaluation(verdicts=verdicts, eligibility=evs[now].eligibility, rules=now[0])


def _person_evaluation(rows: list, ev: Evaluation, rules: RuleSet) -> PersonEvaluation:
    verdicts = {r.id: _verdict(r, d, rules) for r, d in zip(rows, ev.doses)}
    return PersonEvaluation(verdicts=verdicts, eligibility=ev.eligibility, rules=rules)


_RECORD_COLS = (VaccinationRecord.id, VaccinationRecord.atena_no, VaccinationRecord.vaccine_code,
                VaccinationRecord.vaccinated_on, VaccinationRecord.screening_result, VaccinationRecord.error_code,
                Product.name.label("product"))


@dataclass(frozen=True)
class VerdictChange:
    record_id: int
    atena_no: str
    vaccine_code: str
    vaccinated_on: date
    before: str  # stored error code ("" = valid)
    after: RecordVerdict


def verdict_changes(s: Session, atena_nos: list[str], as_of: date, book: RuleBook) -> list[VerdictChange]:
    """The stored verdicts of these persons' records that the engine under ``book`` would change."""
    if not atena_nos:
        return []
    s.flush()  # as Session.execute would; the rows are read through the connection (no ORM loading per row)
    conn = s.connection()
    persons = {p.atena_no: p for p in conn.execute(
        select(Person.atena_no, Person.birth_date, Person.sex).where(Person.atena_no.in_(atena_nos)))}
    by_person: dict[str, list] = {}
    # the lot's product (outer joins: most records have none) decides where a product has its own rule
    for r in conn.execute(select(*_RECORD_COLS)
                       .outerjoin(Lot, Lot.lot_no == VaccinationRecord.lot_no)
                       .outerjoin(Product, Product.code == Lot.product_code)
                       .where(VaccinationRecord.atena_no.in_(atena_nos), VaccinationRecord.status == "active")):
        by_person.setdefault(r.atena_no, []).append(r)
    people = [(persons[a], rows) for a, rows in by_person.items() if a in persons]
    spans = load_spans(s, [p.atena_no for p, _rows in people])
    pregnancies = load_pregnancies(s, [p.atena_no for p, _rows in people if p.sex == "F"])
    # Only the dose verdicts are compared: skip the forecast (lines=∅), the costly half.
    results = evaluate_people([(p.birth_date, p.sex, rows, spans.get(p.atena_no, ()),
                                pregnancies.get(p.atena_no, ())) for p, rows in people],
                              as_of, lines=frozenset(), book=book)
    return [VerdictChange(r.id, r.atena_no, r.vaccine_code, r.vaccinated_on, r.error_code or "", v)
            for (_p, rows), result in zip(people, results) for r in rows
            if (v := result.verdicts[r.id]).error_code != (r.error_code or "")]


def reevaluate_persons(s: Session, atena_nos: list[str], as_of: date) -> int:
    """Re-run the engine for these persons and store changed error codes. Returns records changed."""
    changes = [{"rid": c.record_id, "code": c.after.error_code}
               for c in verdict_changes(s, atena_nos, as_of, rule_book(s))]
    if not changes:
        return 0
    # Error codes are the engine's verdict, not a clerk's change: no version bump.
    conn = s.connection()
    if conn.dialect.name == "postgresql":
        # One statement, not one per record: each UPDATE statement also runs the dashboard's statement
        # trigger (migration 0016), which made a large import's engine pass cost a query per record.
        conn.exec_driver_sql(
            "UPDATE vaccination_record r SET error_code = v.code "
            "FROM unnest(%s::integer[], %s::varchar[]) AS v(id, code) WHERE r.id = v.id",
            ([c["rid"] for c in changes], [c["code"] for c in changes]))
    else:
        conn.execute(update(VaccinationRecord.__table__).where(VaccinationRecord.__table__.c.id == bindparam("rid"))
                     .values(error_code=bindparam("code")), changes)
    return len(changes)


def queue_persons(s: Session, atena_nos: list[str], now) -> None:
    """Put persons on the evaluation queue (once each) in the caller's transaction."""
    if not atena_nos:
        return
    conn = s.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f") if conn.dialect.name == "sqlite" else now
    conn.exec_driver_sql(
        f"INSERT INTO evaluation_queue (atena_no, queued_at) VALUES ({mark}, {mark}) ON CONFLICT DO NOTHING",
        [(a, stamp) for a in dict.fromkeys(atena_nos)])


def take_queue(s: Session, limit: int) -> list[str]:
    return list(s.execute(select(EvaluationQueue.atena_no).order_by(EvaluationQueue.atena_no).limit(limit)).scalars())


def clear_queue(s: Session, atena_nos: list[str]) -> None:
    s.execute(delete(EvaluationQueue).where(EvaluationQueue.atena_no.in_(atena_nos)))
