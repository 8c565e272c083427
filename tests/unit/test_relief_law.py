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


def test_death_benefits_need_a_death_and_are_checked_against_the_table_of_the_date_of_death():
    problems = law.benefit_problems("funeral", 212001, date(2026, 5, 1), vclass="A", claimed=["funeral"],
                                    person=CHILD)
    assert any("死亡の記録がありません" in p for p in problems)
    died_2023 = law.Person(birth_date=date(1960, 1, 1), died_on=date(2023, 6, 30))
    ok = dict(vclass="A", claimed=["funeral", "death_lump_sum"], person=died_2023)
    # Paid in 2026, but a death in 令和5年度: that year's 葬祭料 212,000円 and 死亡一時金 45,300,000円 apply.
    assert law.benefit_problems("funeral", 212000, date(2026, 5, 1), **ok) == []
    refused = law.benefit_problems("funeral", 212001, date(2026, 5, 1), **ok)
    assert len(refused) == 1 and "法令の上限 212,000円" in refused[0] and "令和5年度の額 212,000円" in refused[0]
    assert "予防接種法施行令" in refused[0] and "uchinada" in refused[0]
    assert law.benefit_problems("death_lump_sum", 45_300_000, date(2026, 5, 1), **ok) == []
    assert "法令の上限 45,300,000円" in law.benefit_problems("death_lump_sum", 45_300_001, date(2026, 5, 1), **ok)[0]
    # A death on 2023-03-31 falls in 令和4年度: no table of its own; the 令和2年度 figure raised for the
    # Aprils of 2021 and 2022 — 209,000 × 1.04² rounded up to 100 yen = 226,100.
    march = law.Person(birth_date=date(1960, 1, 1), died_on=date(2023, 3, 31))
    cap, basis = law.maximum("funeral", "A", march.died_on)
    assert cap == 226100 and "令和4年度の額は未確認" in basis and "令和2年度の額に年4%の改定幅を2年分" in basis


def test_b_class_has_its_own_table_and_benefit_set():
    dead = law.Person(birth_date=date(1940, 1, 1), died_on=date(2024, 5, 10))
    ok = dict(vclass="B", person=dead)
    # 死亡一時金 is an A類・臨時 benefit; B類 has 遺族年金 or 遺族一時金 (予防接種法 第16条第2項第4号).
    assert "B類疾病の定期接種にはない給付" in law.benefit_problems(
        "death_lump_sum", 1, date(2024, 6, 1), claimed=["death_lump_sum"], **ok)[0]
    # 遺族一時金 令和6年度 7,783,200円 (施行令 第26条), not the A類 死亡一時金 as before.
    assert law.benefit_problems("survivor_lump_sum", 7_783_200, date(2024, 6, 1), claimed=["survivor_lump_sum"],
                                **ok) == []
    refused = law.benefit_problems("survivor_lump_sum", 7_783_300, date(2024, 6, 1), claimed=["survivor_lump_sum"],
                                   **ok)
    assert len(refused) == 1 and "法令の上限 7,783,200円" in refused[0] and "第26条" in refused[0]
    # 遺族年金 2,594,400円/年 (第24条) → 216,200円/月.
    assert law.maximum("survivor_pension", "B", date(2024, 6, 1))[0] == 216200
    assert "第24条" in law.maximum("survivor_pension", "B", date(2024, 6, 1))[1]
    # B類 障害年金 follows the PMDA level (1級 3,045,600円 in 令和7年度), far below A類 (5,340,000円 + 介護加算).
    adult = law.Person(birth_date=date(1950, 1, 1), died_on=None)
    assert law.maximum("disability_pension", "B", date(2025, 6, 1))[0] == 3_045_600 // 12
    assert law.maximum("disability_pension", "A", date(2025, 6, 1))[0] > 5_340_000 // 12
    assert "法令の上限 253,800円" in law.benefit_problems(
        "disability_pension", 400000, date(2025, 6, 1), vclass="B", claimed=["disability_pension"], person=adult)[0]
    # The law gives B類 a 障害児養育年金 too (第16条第2項第2号).
    assert law.benefit_problems("child_disability_pension", 50000, date(2025, 6, 1), vclass="B",
                                claimed=["child_disability_pension"], person=CHILD) == []
    assert law.claim_problems(["child_disability_pension"], "B", CHILD) == []
    # 臨時 uses the A類 amounts.
    assert law.maximum("disability_pension", "temporary", date(2024, 6, 1)) == law.maximum(
        "disability_pension", "A", date(2024, 6, 1))


def test_the_table_changes_on_the_first_of_april():
    # 障害児養育年金 1級 + 介護加算: 令和5年度 (1,617,600 + 846,200) / 12; 令和6年度 1,669,200 (施行令 第12条)
    # + the 令和5年度 介護加算 raised by 4% (the 令和6年度 介護加算 was not found) = 880,100.
    assert law.maximum("child_disability_pension", "A", date(2024, 3, 1))[0] == (1_617_600 + 846_200) // 12
    cap, basis = law.maximum("child_disability_pension", "A", date(2024, 4, 1))
    assert cap == (1_669_200 + 880_100) // 12
    assert "令和6年度" in basis and "介護加算 880,100円（令和6年度の額は未確認" in basis and "第12条" in basis
    ok = dict(vclass="A", claimed=["child_disability_pension"], person=CHILD)
    month_2024 = (1_669_200 + 880_100) // 12
    assert law.benefit_problems("child_disability_pension", month_2024, date(2024, 4, 1), **ok) == []
    assert "法令の上限 205,316円" in law.benefit_problems("child_disability_pension", month_2024, date(2024, 3, 1),
                                                         **ok)[0]
    # 遺族年金: 令和6年度 from 2024-04; before that the 令和2年度 figure raised for the Aprils of 2021–2023.
    assert law.maximum("survivor_pension", "B", date(2024, 4, 1))[0] == 2_594_400 // 12
    assert law.maximum("survivor_pension", "B", date(2024, 3, 31))[0] == 2_764_500 // 12
    # Beyond the last table (令和8年度): an outer bound, said as such.
    cap, basis = law.maximum("survivor_lump_sum", "B", date(2026, 4, 1))
    assert cap == 8_418_400 and "令和8年度の額は未確認" in basis


def test_the_medical_allowance_is_the_amount_of_its_months_days():
    def check(amount, month, outpatient, inpatient, vclass="A", **kw):
        return law.allowance_problems(amount, month, law.CareDays(outpatient, inpatient), vclass=vclass, **kw)

    may = date(2024, 5, 1)  # 令和6年度: 施行令 第11条 36,900円 / 38,900円
    assert check(36900, may, 2, 0) == [] and check(38900, may, 3, 0) == []  # 通院 3日 is the boundary
    assert check(36900, may, 0, 7) == [] and check(38900, may, 0, 8) == []  # 入院 8日 is the boundary
    assert check(38900, may, 1, 1) == []  # 通院 and 入院 in the same month
    wrong = check(38900, may, 2, 0)
    assert len(wrong) == 1 and "通院2日（3日未満）のため、月額 36,900円" in wrong[0] and "第11条" in wrong[0]
    assert "入院7日（8日未満）のため、月額 36,900円" in check(38900, may, 0, 7)[0]
    assert "同じ月に通院（1日）と入院（1日）のため、月額 38,900円" in check(36900, may, 1, 1)[0]
    # The month decides the year: March 2024 is 令和5年度 (35,800円 / 37,800円).
    assert check(37800, date(2024, 3, 1), 5, 0) == []
    assert "月額 37,800円" in check(38900, date(2024, 3, 1), 5, 0)[0]
    # B類: the A類 amounts (「A類疾病の額に準ずる」).
    assert check(36900, may, 1, 0, vclass="B") == []
    # The days must fit the month; a month without care gets nothing; not before the vaccination, not after
    # the decision.
    assert "2024年2月の日数（29日）を超えて" in check(38900, date(2024, 2, 1), 20, 10)[0]
    assert "通院・入院の日がありません" in check(36900, may, 0, 0)[0]
    assert "接種の月より前" in check(36900, may, 1, 0, vaccinated_on=date(2024, 6, 3))[0]
    assert "決定の日より後" in check(36900, may, 1, 0, decided_on=date(2024, 4, 30))[0]
    assert "通院日数・入院日数を入力" in law.allowance_problems(36900, may, None, vclass="A")[0]
    # A year without its own figures (令和8年度): not more than the estimated bound.
    assert check(40000, date(2026, 5, 1), 5, 0) == []
    assert "上限 42,100円を超えて" in check(42200, date(2026, 5, 1), 5, 0)[0]
    # benefit_problems asks the same of a decision's 医療手当.
    adult = law.Person(birth_date=date(1990, 1, 1), died_on=None)
    assert law.benefit_problems("medical_allowance", 38900, may, vclass="A", claimed=["medical_allowance"],
                                person=adult, care=law.CareDays(0, 9)) == []
    assert "月額 36,900円" in law.benefit_problems("medical_allowance", 38900, may, vclass="A",
                                                   claimed=["medical_allowance"], person=adult,
                                                   care=law.CareDays(0, 2))[0]


def test_a_survivor_pension_lasts_ten_years_less_the_disability_pension_received():
    # 予防接種法施行令 第24条: 10年を限度; a 障害年金 received before shortens it, by seven years at most.
    assert law.survivor_pension_end(date(2024, 6, 1)) == date(2034, 5, 1)
    assert law.survivor_pension_end(date(2024, 6, 1), 30) == date(2031, 11, 1)
    assert law.survivor_pension_end(date(2024, 6, 1), 200) == date(2027, 5, 1)  # 120 − 84 months


def test_staff_and_residents_read_no_codes_or_review_notes():
    assert without_review_notes("第3条: 5年 [check: 公布文で確認]") == "第3条: 5年"
    assert plain_action_label("linkage.exchanges_view") == "情報提供等記録の閲覧"
    assert plain_action_label("newfeature.thing") == "システムに関する処理"
