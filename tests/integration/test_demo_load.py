"""Demo city: deterministic, complete, consistent with the schedule, and loadable only once."""
from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from sqlalchemy import func, select

from sesshu.retention.personkeys import open_number
from sesshu.audit.models import AuditEntry
from sesshu.audit.service import verify_chain
from sesshu.auth.models import StaffUser
from sesshu.demo.files import generate_record_rows, write_records_csv, write_registry_csv
from sesshu.demo.generator import generate_city, generate_masters
from sesshu.demo.service import DEMO_ACCOUNTS, load_demo, load_demo_masters
from sesshu.domain import my_number
from sesshu.domain.errors import Conflict
from sesshu.domain.jdates import fiscal_year, hpv_window, mr2_window, reach_age, reach_months
from sesshu.keys import load_keyring
from sesshu.ledger.models import Institution, VaccinationRecord
from sesshu.ledger.service import import_records
from sesshu.registry.models import Person
from sesshu.registry.service import import_registry

AS_OF = date(2025, 11, 20)
RESIDENTS = 300
CHILD_ONLY = {"HIB", "PCV", "HEPB", "ROTA1", "ROTA5", "DPTIPVHIB", "DPTIPV", "DPT", "BCG", "MR", "VAR", "JE", "DT",
              "HPV2", "HPV4", "HPV9"}
ELDER_ONLY = {"FLU_ELDER", "PPSV23", "PCV20_ELDER", "COVID"}


def _city(seed: int, residents: int = RESIDENTS):
    return list(generate_city(residents=residents, seed=seed, as_of=AS_OF))


def test_same_seed_gives_the_same_city_and_another_seed_does_not():
    first, again, other = _city(11), _city(11), _city(12)
    assert [h.persons for h in first] == [h.persons for h in again]
    assert [h.records for h in first] == [h.records for h in again]
    assert [p["name"] for h in first for p in h.persons] != [p["name"] for h in other for p in h.persons]


def test_city_has_exactly_the_residents_asked_for_with_unique_valid_numbers():
    persons = [p for h in _city(3, 2000) for p in h.persons]
    assert len(persons) == 2000
    assert len({p["atena_no"] for p in persons}) == 2000
    assert all(len(p["atena_no"]) == 10 and p["atena_no"].isdigit() for p in persons)
    numbers = [p["my_number"] for p in persons]
    assert len(set(numbers)) == 2000 and all(my_number.is_valid(n) for n in numbers)
    ages = Counter(min((AS_OF - p["birth_date"]).days // 365 // 15, 5) for p in persons)
    assert ages[0] < ages[3] and ages[0] < ages[4]  # a census-like pyramid: fewer children than 45–74
    assert all(p["address"].startswith("埼玉県熊谷市") and p["postal_code"].startswith("360-")
               for p in persons if p["registry_status"] != "non_resident")


def _check_against_schedule(r, birth: date, sex: str) -> None:
    on, v = r.vaccinated_on, r.vaccine_code
    assert birth <= on <= AS_OF
    age = AS_OF.year - birth.year - ((AS_OF.month, AS_OF.day) < (birth.month, birth.day))
    if v in CHILD_ONLY:
        assert age <= 17
    if v in ELDER_ONLY:
        assert on > reach_age(birth, 65), (v, birth, on)  # none for the under-65s, so none for the under-60s
    if v == "MR":
        lo, hi = (reach_age(birth, 1), reach_months(birth, 24)) if r.term == "1期" else mr2_window(birth)
        assert lo < on <= hi
    if v in ("HIB", "PCV", "DPTIPV", "DPTIPVHIB"):
        assert reach_months(birth, 2) < on
    if v in ("BCG", "HEPB"):
        assert on < reach_age(birth, 1)
    if v == "VAR":
        assert reach_age(birth, 1) < on <= reach_months(birth, 36)
    if v == "DT":
        assert reach_age(birth, 11) < on < reach_age(birth, 13)
    if v.startswith("HPV"):
        lo, hi = hpv_window(birth)
        assert sex == "F" and lo <= on <= hi
    if v == "COVID":
        assert on >= date(2024, 10, 1) and on.month in (10, 11, 12, 1, 2, 3)
    if r.institution_code:
        nxt = date(on.year + on.month // 12, on.month % 12 + 1, 1)
        assert r.billing_month == f"{nxt.year:04d}-{nxt.month:02d}"


def test_load_writes_a_consistent_city_with_audit_and_demo_accounts(db, settings, operator):
    summary = load_demo(db, settings, actor=operator, residents=RESIDENTS, seed=5, as_of=AS_OF)

    assert summary.persons == RESIDENTS and summary.records > 0 and summary.households > 0
    assert summary.institutions >= 40 and summary.doctors >= summary.institutions
    assert 3 <= summary.manufacturers and summary.lots > 0
    keys = load_keyring(settings)
    with db.transaction() as s:
        persons = {p.atena_no: p for p in s.execute(select(Person)).scalars()}
        records = s.execute(select(VaccinationRecord)).scalars().all()
        assert len(persons) == RESIDENTS and len(records) == summary.records
        assert s.execute(select(func.count()).select_from(Institution)).scalar_one() == summary.institutions
        numbers = [open_number(s, keys, p.atena_no, p.my_number_enc) for p in persons.values()]
        loads = s.execute(select(AuditEntry).where(AuditEntry.action == "demo.load")).scalars().all()
        users = {u.login_id: u for u in s.execute(select(StaffUser)).scalars()}
    assert len(set(numbers)) == RESIDENTS and all(my_number.is_valid(n) for n in numbers)
    for r in records:
        p = persons[r.atena_no]  # every record's person exists
        _check_against_schedule(r, p.birth_date, p.sex)
    keys_seen = Counter((r.atena_no, r.vaccine_code, r.vaccinated_on) for r in records)
    assert max(keys_seen.values()) == 1
    flu_per_season = Counter((r.atena_no, fiscal_year(r.vaccinated_on)) for r in records
                             if r.vaccine_code == "FLU_ELDER" and r.screening_result == "vaccinated")
    assert max(flu_per_season.values(), default=1) == 1
    assert len(loads) == 1 and '"persons": 300' in loads[0].detail
    assert verify_chain(db, actor=operator).ok
    for login_id, _name, role in DEMO_ACCOUNTS:
        assert users[login_id].is_demo and users[login_id].role == role
    assert all(login.totp_secret for login in summary.logins)


def test_second_load_is_refused_and_changes_nothing(db, settings, operator):
    load_demo(db, settings, actor=operator, residents=50, seed=5, as_of=AS_OF)
    with pytest.raises(Conflict, match="デモデータは読み込めません"):
        load_demo(db, settings, actor=operator, residents=50, seed=5, as_of=AS_OF)
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(Person)).scalar_one() == 50
        assert s.execute(select(func.count()).select_from(StaffUser)).scalar_one() == len(DEMO_ACCOUNTS)
    assert verify_chain(db, actor=operator).ok


def test_written_registry_file_imports_without_rejects(db, settings, operator, tmp_path):
    persons = [p for h in _city(8) for p in h.persons]
    path = tmp_path / "registry.csv"
    assert write_registry_csv(path, persons, encoding="cp932") == RESIDENTS

    summary = import_registry(db, settings, path=path, actor=operator)

    assert (summary.read, summary.accepted, summary.rejected) == (RESIDENTS, RESIDENTS, 0)


def test_generated_record_rows_import_without_rejects(db, settings, operator, tmp_path):
    load_demo(db, settings, actor=operator, residents=RESIDENTS, seed=5, as_of=AS_OF)
    with db.transaction() as s:
        persons = s.execute(select(Person.atena_no, Person.birth_date, Person.sex)).all()
    path = tmp_path / "yoshinhyo.csv"
    rows = generate_record_rows(persons, seed=6, as_of=AS_OF, masters=generate_masters(5), limit=400)
    assert write_records_csv(path, rows, encoding="cp932") == 400

    summary = import_records(db, settings, path=path, actor=operator)

    assert summary.read == 400 and summary.rejected == 0
    assert summary.accepted + summary.duplicates == 400 and summary.accepted > 300


def test_masters_alone_load_once_and_then_are_left_as_they_are(db, operator):
    masters = generate_masters(5)

    first = load_demo_masters(db, masters=masters, actor=operator)
    again = load_demo_masters(db, masters=masters, actor=operator)

    assert first["institutions"] == len(masters.institutions) and first["doctors"] == len(masters.doctors)
    assert set(again.values()) == {0}
    assert verify_chain(db, actor=operator).ok
