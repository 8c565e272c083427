"""The eligibility table answers 対象者選定 exactly as the full evaluation does, after every kind of write.

A small city with every kind of person (infants, school children, teenagers, pregnant women, 60–64 with a
designated disability, the elderly) and random histories. After each write — registry import and
changes (birth date, sex, residency), record import, correction, void, raw SQL past the ORM,
conditions, 妊娠届, a rule file activation — the table-backed selection (ledger.targets._collect) must
equal the reference (ledger.targets.full_collect) for every line on a grid of dates and for dates and
windows drawn by hypothesis, and the table must have been the one answering.
"""
from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from sesshu.actor import Actor
from sesshu.approvals import service as approvals
from sesshu.clock import today_jst
from sesshu.conditions.schemas import ConditionEntry
from sesshu.conditions.service import end_condition, record_condition
from sesshu.domain.schedule import PANDEMIC_DIR, default_rules
from sesshu.eligibility import refresh
from sesshu.eligibility.models import EligibilityDirty, EligibilitySpan
from sesshu.eligibility.query import open_on
from sesshu.ledger import service as ledger
from sesshu.ledger import targets
from sesshu.ledger.models import VaccinationRecord
from sesshu.pregnancy.schemas import PregnancyEntry
from sesshu.pregnancy.service import record_pregnancy, withdraw_pregnancy
from sesshu.registry.service import import_registry
from sesshu.rulesets import service as rulesets
from sesshu.rulesets.active import rule_book
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, staff_actor, write
from tests.integration.test_person_conditions import supervisor  # noqa: F401 (fixture)

TODAY = today_jst()
FIRST, LAST = TODAY - timedelta(days=250), TODAY + timedelta(days=300)
LINES = sorted({e.code for e in default_rules().entries} | {"PANDEMIC_EXAMPLE"})
ADMIN = Actor(login_id="setup", kind="os", role="operator")
SEX = {"M": "男", "F": "女"}


def _people(seed: int = 7) -> list[tuple[str, str, date]]:
    rnd = random.Random(seed)
    out = []
    spans = [(40, date(2024, 1, 1), TODAY - timedelta(days=20)),  # infants and toddlers
             (10, date(2018, 1, 1), date(2021, 12, 31)),  # MR 2期, JE
             (12, date(2008, 1, 1), date(2015, 12, 31)),  # HPV, DT, JE 2期
             (6, date(1988, 1, 1), date(1999, 12, 31)),  # 妊娠届
             (6, date(1961, 1, 1), date(1966, 12, 31)),  # 60–64 (designated disability)
             (20, date(1935, 1, 1), date(1962, 12, 31))]  # 高齢者
    n = 0
    for count, lo, hi in spans:
        for _ in range(count):
            n += 1
            b = lo + timedelta(days=rnd.randrange((hi - lo).days))
            sex = "F" if lo.year in (1988,) else rnd.choice("MF")
            out.append((str(5000 + n), sex, b))
    return out


PEOPLE = _people()


def _registry_csv(people, status: dict[str, str] | None = None) -> str:
    status = status or {}
    return REGISTRY_HEADER + "\n" + "".join(
        f"{a},,住民 {a},ジュウミン,{SEX[sx]},{b.isoformat()},,熊谷市本町,,,,,{status.get(a, '')},"
        f"{'転出' if a in status else ''},{'2026-10-01' if a in status else ''}\n" for a, sx, b in people)


def _records_csv(seed: int) -> str:
    rnd = random.Random(seed)
    codes = list(default_rules().vaccines)
    rows = []
    for a, _sx, b in PEOPLE:
        for _ in range(rnd.randrange(0, 6)):
            code = rnd.choice(codes)
            age = (min(TODAY, date(2026, 11, 30)) - b).days
            on = b + timedelta(days=rnd.randrange(1, max(2, age)))
            rows.append(f"{a},{code},,1,,{on.isoformat()},,,,,,,,,,,,,,,\n")
    return RECORD_HEADER + "\n" + "".join(rows)


def _grid() -> list[tuple[str, date, int]]:
    days = sorted({FIRST, TODAY, LAST, date(2026, 10, 1), date(2027, 1, 31), date(2027, 2, 1), date(2027, 4, 1)}
                  & {FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)})
    return [(line, d, w) for line in LINES for d in days for w in (0, 45)]


def assert_table_equals_full(db, draws) -> None:
    with db.transaction() as s:
        book = rule_book(s)
        for line, as_of, within in draws:
            until = as_of + timedelta(days=within)
            assert open_on(s, book, line, as_of, until, ("resident",)) is not None, "the table did not answer"
            got = targets._collect(s, book, line, as_of, until)
            want = targets.full_collect(s, book, line, as_of, until)
            assert got == want, (line, as_of, within, _diff(got, want))


def _diff(got, want):
    g = {(r.atena_no, r.line, r.group) for r in got}
    w = {(r.atena_no, r.line, r.group) for r in want}
    return {"table only": sorted(g - w, key=str), "full only": sorted(w - g, key=str)}


def check(db) -> None:
    """The grid, then dates and windows drawn by hypothesis."""
    assert_table_equals_full(db, _grid())

    @hsettings(max_examples=25, deadline=None, database=None, derandomize=True,
               suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(LINES), st.dates(FIRST, LAST), st.sampled_from([0, 1, 7, 30, 90, 400]))
    def drawn(line, as_of, within):
        assert_table_equals_full(db, [(line, as_of, within)])

    drawn()


@pytest.fixture
def built(db, settings):
    """An empty city with the table built: every person arrives through the writes under test."""
    with db.transaction() as s:
        refresh.rebuild(s, first=FIRST, last=LAST)
    return db


def _records(db, atena_no: str) -> list[VaccinationRecord]:
    with db.transaction() as s:
        out = list(s.execute(select(VaccinationRecord).where(VaccinationRecord.atena_no == atena_no,
                                                             VaccinationRecord.status == "active")).scalars())
        for r in out:
            s.expunge(r)
        return out


def _spans(db) -> int:
    with db.transaction() as s:
        return s.execute(select(func.count()).select_from(EligibilitySpan)).scalar_one()


def test_registry_and_record_writes_keep_the_table_equal_to_a_full_evaluation(built, settings, operator, clerk,
                                                                              tmp_path):
    db = built
    write(tmp_path / "reg.csv", _registry_csv(PEOPLE))
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=operator)
    assert _spans(db) > 0  # the import's persons were evaluated in its own transaction
    check(db)

    write(tmp_path / "rec.csv", _records_csv(seed=3))
    ledger.import_records(db, settings, path=tmp_path / "rec.csv", actor=operator)
    check(db)

    # correction (date and vaccine) and void through the ledger's use cases
    child = next(a for a, _sx, b in PEOPLE if b.year >= 2024 and _records(db, a))
    first = _records(db, child)[0]
    ledger.correct_record(db, settings, actor=clerk, correction=ledger.Correction(
        record_id=first.id, expected_version=first.version, reason="予診票の読み違い",
        changes={"vaccinated_on": first.vaccinated_on + timedelta(days=3)}))
    other = next(a for a, _sx, b in PEOPLE if b.year < 1963 and _records(db, a))
    rec = _records(db, other)[0]
    ledger.void_record(db, actor=clerk, record_id=rec.id, expected_version=rec.version, reason="別人の記録")
    check(db)

    # writes past the ORM (raw SQL): the triggers still mark the persons
    victim, mover = [a for a, _sx, _b in PEOPLE if _records(db, a)][:2]
    with db.transaction() as s:
        s.execute(text("UPDATE vaccination_record SET status = 'voided' WHERE atena_no = :a"), {"a": victim})
        s.execute(text("UPDATE vaccination_record SET vaccinated_on = vaccinated_on + 30 WHERE atena_no = :a"
                       if db.engine.dialect.name == "postgresql" else
                       "UPDATE vaccination_record SET vaccinated_on = date(vaccinated_on, '+30 days') WHERE atena_no = :a"),
                  {"a": mover})
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(EligibilityDirty)).scalar_one() == 0
    check(db)

    # registry changes: a birth date corrected, a sex corrected, a resident moved out
    changed = [(a, ("F" if sx == "M" else "M") if i == 1 else sx, b - timedelta(days=40) if i == 0 else b)
               for i, (a, sx, b) in enumerate(PEOPLE[:3])] + PEOPLE[3:]
    write(tmp_path / "reg2.csv", _registry_csv(changed, status={PEOPLE[2][0]: "転出"}))
    import_registry(db, settings, path=tmp_path / "reg2.csv", actor=operator)
    check(db)


def test_conditions_pregnancies_and_rule_activation_keep_the_table_equal(built, settings, operator,
                                                                         supervisor, tmp_path):  # noqa: F811
    db = built
    write(tmp_path / "reg.csv", _registry_csv(PEOPLE))
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=operator)
    write(tmp_path / "rec.csv", _records_csv(seed=11))
    ledger.import_records(db, settings, path=tmp_path / "rec.csv", actor=operator)

    # 60–64 with a designated disability: FLU_ELDER and the other B類 lines open for them
    sixties = [a for a, _sx, b in PEOPLE if 1961 <= b.year <= 1966]
    entry = ConditionEntry(condition_code="designated_disability", impairment="kidney", evidence_kind="handbook",
                           evidence_grade=1, evidence_no="埼玉第123456号", evidence_issued_on=date(2020, 4, 1),
                           confirmed_on=TODAY, reason="窓口で身体障害者手帳（1級）を確認",
                           valid_from=TODAY - timedelta(days=30))
    held = [record_condition(db, actor=supervisor, atena_no=a, entry=entry) for a in sixties[:2]]
    record_condition(db, actor=supervisor, atena_no=sixties[2],
                     entry=replace(entry, valid_until=TODAY + timedelta(days=40)))  # a span that ends in the period
    check(db)
    end_condition(db, actor=supervisor, atena_no=sixties[0], condition_id=held[0].id, reason="手帳の返還",
                  ended_on=TODAY - timedelta(days=2))
    check(db)

    # 妊娠届: one open now, one opening later, one withdrawn
    mothers = [a for a, sx, b in PEOPLE if 1988 <= b.year <= 1999]
    record_pregnancy(db, actor=supervisor, atena_no=mothers[0],
                     entry=PregnancyEntry(TODAY + timedelta(days=60), TODAY - timedelta(days=100), "母-1"))
    record_pregnancy(db, actor=supervisor, atena_no=mothers[1],
                     entry=PregnancyEntry(TODAY + timedelta(days=150), TODAY - timedelta(days=10), "母-2"))
    gone = record_pregnancy(db, actor=supervisor, atena_no=mothers[2],
                            entry=PregnancyEntry(TODAY + timedelta(days=90), TODAY - timedelta(days=50), "母-3"))
    check(db)
    withdraw_pregnancy(db, actor=supervisor, atena_no=mothers[2], pregnancy_id=gone.id, reason="入力誤り")
    check(db)

    # a rule file activation (a hypothetical pandemic campaign moved into the period): the table is rebuilt
    campaign = (PANDEMIC_DIR / "example.yaml").read_text(encoding="utf-8").replace("2027-", "2026-") \
        .replace("2028-", "2027-")
    boss, boss2 = staff_actor(db, settings, "boss-a")[0], staff_actor(db, settings, "boss-b")[0]
    row = rulesets.propose(db, settings, actor=boss, raw=campaign, reason="政府対策本部決定（仮想例）")
    req = approvals.get_approval(db, settings, actor=boss2, approval_id=row.approval_id)
    approvals.approve(db, settings, actor=boss2, approval_id=row.approval_id, expected_version=req.approval.version)
    with db.transaction() as s:
        book = rule_book(s)
        assert len(book.sets) > 1 and refresh.state(s).book_key == refresh.book_key(book)
    check(db)


def test_the_table_stays_silent_where_it_cannot_answer(built, settings, operator, tmp_path):
    db = built
    write(tmp_path / "reg.csv", _registry_csv(PEOPLE[:10]))
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=operator)
    with db.transaction() as s:
        book = rule_book(s)
        assert open_on(s, book, "MR", LAST + timedelta(days=1), LAST + timedelta(days=1), ("resident",)) is None
        assert open_on(s, book, "MR", FIRST - timedelta(days=1), FIRST, ("resident",)) is None
        assert open_on(s, book, "MR", TODAY, TODAY, ("resident",)) is not None
        s.execute(text("DELETE FROM eligibility_state"))
        assert open_on(s, book, "MR", TODAY, TODAY, ("resident",)) is None


def test_the_rebuild_command_builds_the_table_and_is_audited(db, settings, operator, tmp_path):
    from sesshu.audit.models import AuditEntry
    from tests.integration.test_cli import run

    write(tmp_path / "reg.csv", _registry_csv(PEOPLE[:30]))
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=operator)
    with db.transaction() as s:
        assert refresh.state(s) is None  # not built: selections run the full evaluation
    out = run(settings, "eligibility", "rebuild", "--from", FIRST.isoformat(), "--to", LAST.isoformat())
    assert out.returncode == 0, out.stderr
    assert "30 人" in out.stdout
    with db.transaction() as s:
        st = refresh.state(s)
        assert (st.horizon_from, st.horizon_to) == (FIRST, LAST)
        e = s.execute(select(AuditEntry).where(AuditEntry.action == "eligibility.rebuild")).scalar_one()
        assert '"persons": 30' in e.detail
    assert_table_equals_full(db, [(line, TODAY, 30) for line in LINES])
    bad = run(settings, "eligibility", "rebuild", "--from", LAST.isoformat(), "--to", FIRST.isoformat())
    assert bad.returncode == 2 and "期間の終わりが始まりより前です" in bad.stderr
