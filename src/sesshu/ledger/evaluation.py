"""The schedule engine applied to the ledger: each record's エラーコード and each person's 接種可能範囲.

The engine itself is pure (sesshu.domain.schedule); this module loads facts from the database,
writes error codes back (only where they changed) and never commits — callers own the transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from sesshu.domain.schedule import (
    DoseFacts,
    EligibilityResult,
    Evaluation,
    PersonFacts,
    evaluate,
    evaluate_many,
)
from sesshu.ledger.models import EvaluationQueue, VaccinationRecord
from sesshu.registry.models import Person


@dataclass(frozen=True)
class RecordVerdict:
    record_id: int
    status: str
    dose_number: int | None
    codes: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def error_code(self) -> str:
        return ",".join(self.codes)


@dataclass
class PersonEvaluation:
    verdicts: dict[int, RecordVerdict]
    eligibility: list[EligibilityResult]


def person_facts(birth_date: date, sex: str) -> PersonFacts:
    return PersonFacts(birth_date=birth_date, sex=sex)


def _dose(r) -> DoseFacts:
    return DoseFacts(vaccine=r.vaccine_code, date=r.vaccinated_on, product=None)


def evaluate_rows(birth_date: date, sex: str, rows: list, as_of: date,
                  lines: frozenset[str] | None = None) -> PersonEvaluation:
    """rows: active records (id, vaccine_code, vaccinated_on) of one person, any order.
    lines: only these eligibility lines are forecast (all doses are still judged)."""
    ev: Evaluation = evaluate(person_facts(birth_date, sex), [_dose(r) for r in rows], as_of, lines=lines)
    return _person_evaluation(rows, ev)


def evaluate_people(people: list[tuple[date, str, list]], as_of: date,
                    lines: frozenset[str] | None = None) -> list[PersonEvaluation]:
    """evaluate_rows for many persons (birth_date, sex, rows) at once, in the same order: the
    engine's batch path shares the work of persons born on the same day."""
    evs = evaluate_many([(person_facts(b, sex), [_dose(r) for r in rows]) for b, sex, rows in people],
                        as_of, lines=lines)
    return [_person_evaluation(rows, ev) for (_b, _sex, rows), ev in zip(people, evs)]


def _person_evaluation(rows: list, ev: Evaluation) -> PersonEvaluation:
    verdicts = {r.id: RecordVerdict(r.id, d.status, d.dose_number, tuple(d.codes), tuple(d.reasons))
                for r, d in zip(rows, ev.doses)}
    return PersonEvaluation(verdicts=verdicts, eligibility=ev.eligibility)


_RECORD_COLS = (VaccinationRecord.id, VaccinationRecord.atena_no, VaccinationRecord.vaccine_code,
                VaccinationRecord.vaccinated_on, VaccinationRecord.error_code)


def reevaluate_persons(s: Session, atena_nos: list[str], as_of: date) -> int:
    """Re-run the engine for these persons and store changed error codes. Returns records changed."""
    if not atena_nos:
        return 0
    persons = {p.atena_no: p for p in s.execute(
        select(Person.atena_no, Person.birth_date, Person.sex).where(Person.atena_no.in_(atena_nos)))}
    by_person: dict[str, list] = {}
    for r in s.execute(select(*_RECORD_COLS).where(VaccinationRecord.atena_no.in_(atena_nos),
                                                   VaccinationRecord.status == "active")):
        by_person.setdefault(r.atena_no, []).append(r)
    changes = []
    people = [(persons[a], rows) for a, rows in by_person.items() if a in persons]
    # Only the dose verdicts are stored here: skip the forecast (lines=∅), the costly half.
    results = evaluate_people([(p.birth_date, p.sex, rows) for p, rows in people], as_of, lines=frozenset())
    for (_p, rows), result in zip(people, results):
        for r in rows:
            code = result.verdicts[r.id].error_code
            if code != r.error_code:
                changes.append({"rid": r.id, "code": code})
    if changes:
        # Error codes are the engine's verdict, not a clerk's change: no version bump.
        s.connection().execute(
            update(VaccinationRecord.__table__).where(VaccinationRecord.__table__.c.id == bindparam("rid"))
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
