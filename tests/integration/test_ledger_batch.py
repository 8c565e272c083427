"""A city whose residents share birth dates and have histories: the nightly evaluation (the
engine's batch path, evaluate_pending) stores for every record the error codes the single-person
engine gives, and 対象者選定 lists exactly the residents whose own evaluation is open."""
from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from sesshu.domain.schedule import DoseFacts, PersonFacts, evaluate
from sesshu.ledger.models import VaccinationRecord
from sesshu.ledger.service import evaluate_pending, import_records
from sesshu.ledger.targets import select_targets
from sesshu.registry.service import import_registry
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, write

AS_OF = date(2025, 10, 15)


@pytest.fixture
def crowded_city(db, settings, operator, tmp_path):
    """300 residents on 13 birth dates (infants, school children, elders) with random doses."""
    rng = random.Random(3)
    births = [date(2024, 9, 30), date(2024, 10, 1), date(2024, 1, 31), date(2023, 11, 15),
              date(2020, 3, 31), date(2019, 4, 2), date(2016, 8, 8), date(2014, 5, 20),
              date(1960, 4, 1), date(1960, 4, 2), date(1960, 12, 24), date(1950, 2, 28), date(1944, 6, 6)]
    reg, rec, people = [REGISTRY_HEADER], [RECORD_HEADER], {}
    for i in range(300):
        b, sex = rng.choice(births), rng.choice("MF")
        atena = str(40000 + i)
        reg.append(f"{atena},,住民 {i},ジュウミン,{'男' if sex == 'M' else '女'},{b.isoformat()},,熊谷市,,,,,,,")
        doses = []
        for _k in range(rng.choice((0, 0, 1, 2, 3))):
            v = rng.choice(("MR", "HIB", "PCV", "VAR", "JE", "FLU_ELDER", "PPSV23"))
            d = b + timedelta(days=rng.randint(60, max(61, (AS_OF - b).days)))
            if d <= AS_OF:
                doses.append(DoseFacts(v, d))
                rec.append(",".join([atena, v, "", "", "", d.isoformat()] + [""] * 15))
        people[atena] = (PersonFacts(b, sex), doses)
    import_registry(db, settings, path=write(tmp_path / "reg.csv", "\n".join(reg) + "\n"), actor=operator)
    import_records(db, settings, path=write(tmp_path / "rec.csv", "\n".join(rec) + "\n"), actor=operator)
    assert evaluate_pending(db, actor=operator, as_of=AS_OF).persons == sum(1 for _p, d in people.values() if d)
    return db, people


def test_stored_error_codes_equal_each_residents_own_evaluation(crowded_city):
    db, people = crowded_city
    with db.transaction() as s:
        stored = {}
        for r in s.execute(select(VaccinationRecord).where(VaccinationRecord.status == "active")).scalars():
            stored.setdefault(r.atena_no, []).append((r.vaccine_code, r.vaccinated_on, r.error_code))
    expected = {}
    for atena, (p, doses) in people.items():
        if doses:
            ev = evaluate(p, doses, AS_OF)
            expected[atena] = sorted((d.vaccine, d.date, ",".join(x.codes)) for d, x in zip(doses, ev.doses))
    assert {a: sorted(v) for a, v in stored.items()} == expected
    assert any(code for v in expected.values() for _v, _d, code in v)  # some doses do break a rule


@pytest.mark.parametrize("vaccine,within", [("MR", 0), ("MR", 60), ("HIB", 30), ("VAR", 0), ("JE", 0),
                                            ("FLU_ELDER", 0), ("PPSV23", 0)])
def test_targets_equal_each_residents_own_evaluation(crowded_city, operator, vaccine, within):
    db, people = crowded_city
    until = AS_OF + timedelta(days=within)
    expected = {}
    for atena, (p, doses) in people.items():
        e = next(x for x in evaluate(p, doses, AS_OF).eligibility if x.vaccine == vaccine)
        if e.status == "eligible" or (e.status == "not_yet" and e.earliest and e.earliest <= until):
            expected[atena] = e
    rows = select_targets(db, actor=operator, vaccine=vaccine, as_of=AS_OF, within_days=within)
    assert {r.atena_no: r.line for r in rows} == expected and expected
