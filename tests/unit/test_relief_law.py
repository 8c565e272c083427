"""relief/law.py: the pure checks of a relief benefit (class, claim, person, amount)."""
from __future__ import annotations

from datetime import date

from sesshu.audit.lookup import plain_action_label
from sesshu.domain.text import without_review_notes
from sesshu.relief import law

CHILD = law.Person(birth_date=date(2008, 6, 15), died_on=None)


def test_the_class_follows_the_records_category():
    assert [law.class_of_record(c) for c in ("routine_a", "routine_b", "temporary", "pandemic_resident",
                                             "designated", "voluntary", "")] == ["A", "B", "temporary", "temporary",
                                                                                 "temporary", None, None]


def test_age_18_decides_between_the_two_pensions():
    # Reaches 18 on 2026-06-14 (the day before the birthday): June 2026 is the last month of 障害児養育年金.
    assert law.child_pension_end(CHILD) == date(2026, 6, 1)
    ok = dict(vclass="A", claimed=["child_disability_pension", "disability_pension"], person=CHILD)
    assert law.benefit_problems("child_disability_pension", 100000, date(2026, 5, 1), **ok) == []
    assert "障害年金として認定" in law.benefit_problems("child_disability_pension", 100000, date(2026, 7, 1), **ok)[0]
    assert "障害児養育年金として認定" in law.benefit_problems("disability_pension", 100000, date(2026, 5, 1), **ok)[0]
    assert law.benefit_problems("disability_pension", 100000, date(2026, 7, 1), **ok) == []


def test_death_benefits_need_a_death_and_amounts_their_legal_maximum():
    problems = law.benefit_problems("funeral", 212001, date(2026, 5, 1), vclass="A", claimed=["funeral"],
                                    person=CHILD)
    assert any("死亡の記録がありません" in p for p in problems)
    assert any("法令の上限 212,000円" in p and "予防接種法施行令 第19条" in p for p in problems)
    dead = law.Person(birth_date=date(1940, 1, 1), died_on=date(2026, 3, 1))
    assert law.benefit_problems("funeral", 212000, date(2026, 3, 1), vclass="B", claimed=["funeral"], person=dead) == []
    assert "B類疾病の定期接種にはない給付" in law.benefit_problems(
        "death_lump_sum", 1, date(2026, 3, 1), vclass="B", claimed=["death_lump_sum"], person=dead)[0]
    cap, basis = law.maximum("survivor_lump_sum", "B")
    assert cap == 45300000 and "A類の死亡一時金の額を上限" in basis  # no B類 figure found: the A類 bound


def test_staff_and_residents_read_no_codes_or_review_notes():
    assert without_review_notes("第3条: 5年 [check: 公布文で確認]") == "第3条: 5年"
    assert plain_action_label("linkage.exchanges_view") == "情報提供等記録の閲覧"
    assert plain_action_label("newfeature.thing") == "システムに関する処理"
