"""HPV: fiscal-year window (小6–高1), products, catch-up (DOMAIN.md table)."""

import pytest

from sesshu.domain.schedule import evaluate_json


def run(doses, birth="2012-04-02", as_of="2030-01-01", sex="F"):
    return evaluate_json({"birth_date": birth, "sex": sex, "as_of": as_of, "conditions": [],
                          "doses": [{"vaccine": v, "date": d} for v, d in doses]})


def outcome(r):
    return [(d["status"], d["dose_number"], d["codes"]) for d in r["doses"]]


def line(r):
    return next(e for e in r["eligibility"] if e["vaccine"] == "HPV")


@pytest.mark.parametrize(
    ("birth", "start", "end"),
    [("2012-04-01", "2023-04-01", "2028-03-31"), ("2012-04-02", "2024-04-01", "2029-03-31")],
)
def test_hpv_window_is_the_fiscal_years_of_reach_12_to_reach_16(birth, start, end):
    e = line(run([], birth=birth, as_of="2020-01-01"))
    assert (e["next_dose"], e["status"], e["earliest"], e["legal_until"]) == (1, "not_yet", start, end)


def test_hpv_april_first_birth_opens_a_year_earlier():
    assert outcome(run([("HPV9", "2023-04-01")], birth="2012-04-01"))[0] == ("valid", 1, [])
    assert outcome(run([("HPV9", "2024-03-31")], birth="2012-04-02"))[0][0] == "voluntary"


def test_hpv_standard_period_is_the_fiscal_year_of_reach_13():
    e = line(run([], as_of="2024-05-01"))
    assert (e["standard_from"], e["standard_until"]) == ("2025-04-01", "2026-03-31")


def test_hpv_is_routine_for_girls_only():
    r = run([("HPV9", "2024-06-01")], sex="M")
    assert r["doses"][0]["status"] == "voluntary"
    assert "W_OUTSIDE_LEGAL_WINDOW" in r["doses"][0]["codes"]
    assert "W_NOT_TARGET_GROUP" in r["doses"][0]["codes"]
    assert line(r)["status"] == "complete"


def test_hpv9_started_before_15_is_two_doses_5_months_apart():
    r = run([("HPV9", "2024-05-10")], as_of="2024-06-01")
    e = line(r)
    assert (e["next_dose"], e["earliest"]) == (2, "2024-10-11")
    r = run([("HPV9", "2024-05-10"), ("HPV9", "2024-10-11"), ("HPV9", "2025-02-01")])
    assert outcome(r) == [("valid", 1, []), ("valid", 2, []),
                          ("invalid", None, ["E_SERIES_COMPLETE"])]


def test_hpv9_second_dose_before_5_months_needs_a_third():
    r = run([("HPV9", "2024-05-10"), ("HPV9", "2024-07-01")], as_of="2024-08-01")
    assert outcome(r)[1] == ("valid", 2, [])
    e = line(r)
    assert (e["next_dose"], e["earliest"]) == (3, "2024-10-02")


def test_hpv9_second_dose_needs_at_least_1_month():
    r = run([("HPV9", "2024-05-10"), ("HPV9", "2024-06-10")])
    assert outcome(r)[1] == ("invalid", None, ["E_INTERVAL_TOO_SHORT"])


def test_hpv9_started_after_15_is_three_doses():
    birth = "2009-05-01"  # reach(15)=2024-04-30; window to 2026-03-31
    r = run([("HPV9", "2024-06-01"), ("HPV9", "2024-11-05")], birth=birth, as_of="2024-12-01")
    assert outcome(r) == [("valid", 1, []), ("valid", 2, [])]
    assert line(r)["next_dose"] == 3


def test_hpv4_month_end_interval():
    r = run([("HPV4", "2024-05-31"), ("HPV4", "2024-06-30")])
    assert outcome(r)[1][2] == ["E_INTERVAL_TOO_SHORT"]  # 1月以上: 6/30 (clamped) → 7/1
    r = run([("HPV4", "2024-05-31"), ("HPV4", "2024-07-01")], as_of="2024-07-02")
    assert outcome(r)[1] == ("valid", 2, [])
    assert line(r)["earliest"] == "2024-10-02"  # 3月以上 after dose 2


def test_hpv2_third_dose_needs_5_months_after_first_and_2_5_after_second():
    doses = [("HPV2", "2024-05-10"), ("HPV2", "2024-06-11")]
    e = line(run(doses, as_of="2024-07-01"))
    assert (e["next_dose"], e["earliest"]) == (3, "2024-10-11")
    assert outcome(run(doses + [("HPV2", "2024-10-10")]))[2][2] == ["E_INTERVAL_TOO_SHORT"]
    assert outcome(run(doses + [("HPV2", "2024-10-11")]))[2] == ("valid", 3, [])


def test_hpv_products_may_switch_to_9_valent_but_not_between_2_and_4():
    assert outcome(run([("HPV2", "2024-05-10"), ("HPV4", "2024-07-10")]))[1][2] == ["E_WRONG_PRODUCT"]
    assert outcome(run([("HPV2", "2024-05-10"), ("HPV9", "2024-07-10")]))[1] == ("valid", 2, [])


def test_hpv_catch_up_cohort_until_march_2025():
    birth = "2000-06-01"  # 平成12年度生
    assert outcome(run([("HPV9", "2023-05-01")], birth=birth))[0] == ("valid", 1, [])
    assert outcome(run([("HPV9", "2025-05-01")], birth=birth))[0][0] == "voluntary"
    r = run([("HPV9", "2024-12-01"), ("HPV9", "2025-05-01")], birth=birth, as_of="2025-06-01")
    assert outcome(r) == [("valid", 1, []), ("valid", 2, [])]
    assert line(r)["legal_until"] == "2026-03-31"


def test_hpv_catch_up_does_not_cover_later_cohorts():
    # born 2009-05-01 (平成21年度生) is not in the catch-up cohort
    assert outcome(run([("HPV9", "2026-04-01")], birth="2009-05-01"))[0][0] == "voluntary"
