"""対象者選定: who gets the notice — residents only, eligible now or within the window."""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.domain.errors import InvalidInput
from sesshu.ledger.service import import_records
from sesshu.ledger.targets import select_targets, targets_csv
from sesshu.registry.service import import_registry
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, write


@pytest.fixture
def city(db, settings, operator, tmp_path):
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          # MR 1期: 生後12月–24月.  Born 2024-05-10 → window 2025-05-09 … 2026-05-09.
          "2001,,一期 未接種,イッキ ミセッシュ,男,2024-05-10,,熊谷市本町,,,,,,,\n"
          "2002,,一期 済,イッキ スミ,女,2024-05-11,,熊谷市本町,,,,,,,\n"
          "2003,,転出 太郎,テンシュツ タロウ,男,2024-05-12,,熊谷市本町,,,,,転出,転出,2025-06-01\n"
          "2004,,死亡 花子,シボウ ハナコ,女,2024-05-13,,熊谷市本町,,,,,死亡,死亡,2025-06-01\n"
          # Turns 1 on 2025-07-01 (reach = 2025-06-30): not yet on 2025-06-01, inside a 30-day window.
          "2005,,まもなく 一歳,マモナク イッサイ,男,2024-07-01,,熊谷市本町,,,,,,,\n"
          "2006,,大人 一郎,オトナ イチロウ,男,1980-01-01,,熊谷市本町,,,,,,,\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=operator)
    write(tmp_path / "rec.csv", RECORD_HEADER + "\n2002,MR,1期,1,,2025-05-20,,,,,,,,,,,,,,,\n")
    import_records(db, settings, path=tmp_path / "rec.csv", actor=operator)
    return db


def test_lists_residents_eligible_now(city, operator):
    rows = select_targets(city, actor=operator, vaccine="MR", as_of=date(2025, 6, 1))
    assert [r.atena_no for r in rows] == ["2001"]
    e = rows[0].line
    assert (e.next_dose, e.status, e.earliest, e.legal_until) == (1, "eligible", date(2025, 5, 9), date(2026, 5, 9))


def test_window_adds_those_who_become_eligible(city, operator):
    rows = select_targets(city, actor=operator, vaccine="MR", as_of=date(2025, 6, 1), within_days=30)
    assert [(r.atena_no, r.line.status) for r in rows] == [("2001", "eligible"), ("2005", "not_yet")]
    assert rows[1].line.earliest == date(2025, 6, 30)


def test_product_codes_map_to_their_line_and_unknown_codes_are_refused(city, operator):
    assert [r.atena_no for r in select_targets(city, actor=operator, vaccine="measles", as_of=date(2025, 6, 1))] == ["2001"]
    with pytest.raises(InvalidInput):
        select_targets(city, actor=operator, vaccine="NOPE", as_of=date(2025, 6, 1))


def test_csv_and_audit(city, operator):
    rows = select_targets(city, actor=operator, vaccine="MR", as_of=date(2025, 6, 1), purpose="MR1期 勧奨通知")
    table = list(csv.reader(io.StringIO(targets_csv(rows))))
    assert table[0][:3] == ["宛名番号", "氏名", "氏名カナ"] and table[1][0] == "2001" and table[1][10] == "接種可能"
    with city.transaction() as s:
        e = s.execute(select(AuditEntry).where(AuditEntry.action == "targets.select")).scalar_one()
    assert e.purpose == "MR1期 勧奨通知" and '"rows": 1' in e.detail


@pytest.mark.parametrize("vaccine,within", [("ROTA1", 0), ("MR", 0), ("MR", 45), ("HIB", 10), ("BCG", 0),
                                            ("FLU_ELDER", 0)])
def test_month_probing_finds_exactly_what_checking_everyone_finds(db, settings, operator, tmp_path, vaccine, within):
    """Residents born on every day of a span: select_targets must list exactly those whose
    own evaluation is open, however the windows fall across month ends."""
    from datetime import timedelta

    from sesshu.domain.schedule import PersonFacts, evaluate

    as_of = date(2025, 10, 15)
    start = date(2022, 12, 20) if vaccine != "FLU_ELDER" else date(1960, 6, 1)
    lines = [REGISTRY_HEADER]
    births = []
    for i in range(0, 1100, 1):
        b = start + timedelta(days=i)
        births.append(b)
        lines.append(f"{30000 + i},,住民 {i},ジュウミン,{'男' if i % 2 else '女'},{b.isoformat()},,熊谷市,,,,,,,")
    import_registry(db, settings, path=write(tmp_path / "reg.csv", "\n".join(lines) + "\n"), actor=operator)
    until = as_of + timedelta(days=within)
    expected = []
    for i, b in enumerate(births):
        ev = evaluate(PersonFacts(birth_date=b, sex="M" if i % 2 else "F"), [], as_of)
        e = next(x for x in ev.eligibility if x.vaccine == vaccine)
        if e.status == "eligible" or (e.status == "not_yet" and e.earliest and e.earliest <= until):
            expected.append(str(30000 + i))
    got = [r.atena_no for r in select_targets(db, actor=operator, vaccine=vaccine, as_of=as_of, within_days=within)]
    assert sorted(got) == sorted(expected) and expected
