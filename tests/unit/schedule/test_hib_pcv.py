"""Hib and 小児用肺炎球菌 (PCV): dose counts by start age, intervals, skips (DOMAIN.md table)."""

import pytest

from tests.unit.schedule.support import evaluate_doses, line, outcome

BIRTH = "2024-04-10"  # reach(生後2月)=2024-06-09, 7月=2024-11-09, 12月=2025-04-09, 60月=2029-04-09


def run(doses, as_of="2030-01-01", birth=BIRTH, sex="F"):
    return evaluate_doses(doses, birth=birth, as_of=as_of, sex=sex)


# --- Hib -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "status"),
    [("2024-06-08", "voluntary"), ("2024-06-09", "valid"), ("2029-04-09", "valid"),
     ("2029-04-10", "voluntary")],
)
def test_hib_legal_window_runs_from_reach_2_months_to_reach_60_months(day, status):
    assert run([("HIB", day)])["doses"][0]["status"] == status


def test_hib_dose_before_the_window_is_voluntary_and_not_counted():
    r = run([("HIB", "2024-06-01")], as_of="2024-06-05")
    assert outcome(r) == [("voluntary", None, ["W_OUTSIDE_LEGAL_WINDOW"])]
    assert r["doses"][0]["reasons"] and "予防接種法施行令第3条" in r["doses"][0]["reasons"][0]
    assert line(r, "HIB")["next_dose"] == 1


def test_hib_forecast_without_doses_matches_the_worked_example():
    e = line(run([], as_of="2024-05-01"), "HIB")
    assert e == {"vaccine": "HIB", "next_dose": 1, "status": "not_yet", "earliest": "2024-06-09",
                 "standard_from": "2024-06-09", "standard_until": "2024-11-09",
                 "legal_until": "2029-04-09"}


def test_rejects_second_hib_dose_before_27_days():
    r = run([("HIB", "2024-06-10"), ("HIB", "2024-07-07")])
    assert outcome(r)[1][:2] == ("invalid", None)
    assert outcome(r)[1][2] == ["E_INTERVAL_TOO_SHORT"]
    r = run([("HIB", "2024-06-10"), ("HIB", "2024-07-08")])
    assert outcome(r)[1] == ("valid", 2, [])


def test_hib_started_by_7_months_is_three_primary_plus_booster_after_7_months():
    r = run([("HIB", "2024-11-09"), ("HIB", "2024-12-07"), ("HIB", "2025-01-04")],
            as_of="2025-02-01")
    assert [d["dose_number"] for d in r["doses"]] == [1, 2, 3]
    e = line(r, "HIB")
    # booster: ≥7月 after 2025-01-04 → 2025-08-05 (and after reach(1歳) 2025-04-09)
    assert (e["next_dose"], e["earliest"], e["status"]) == (4, "2025-08-05", "not_yet")
    assert e["legal_until"] == "2029-04-09"


def test_hib_started_the_day_after_reach_7_months_is_two_primary_plus_booster():
    r = run([("HIB", "2024-11-10"), ("HIB", "2024-12-08")], as_of="2025-01-01")
    assert [d["dose_number"] for d in r["doses"]] == [1, 2]
    e = line(r, "HIB")
    assert (e["next_dose"], e["earliest"]) == (3, "2025-07-09")
    r = run([("HIB", "2024-11-10"), ("HIB", "2024-12-08"), ("HIB", "2025-07-09"),
             ("HIB", "2025-09-01")])
    assert outcome(r)[2] == ("valid", 3, [])
    assert outcome(r)[3] == ("invalid", None, ["E_SERIES_COMPLETE"])
    assert line(r, "HIB")["status"] == "complete"


def test_hib_started_after_1_year_is_a_single_dose():
    r = run([("HIB", "2025-04-10"), ("HIB", "2025-06-10")])
    assert outcome(r) == [("valid", 1, []), ("invalid", None, ["E_SERIES_COMPLETE"])]
    assert line(r, "HIB")["status"] == "complete"


def test_hib_started_on_reach_12_months_is_still_the_7_to_12_band():
    r = run([("HIB", "2025-04-09")], as_of="2025-04-20")
    e = line(r, "HIB")
    # 2+1 band, but primary 2 is allowed only until reach(12月), already past on as_of:
    # the next dose is the booster (dose 3) ≥7月 after the first dose.
    assert (e["next_dose"], e["status"], e["earliest"]) == (3, "not_yet", "2025-11-10")


def test_hib_primary_after_1_year_skips_to_the_booster():
    r = run([("HIB", "2024-06-10"), ("HIB", "2024-07-08"), ("HIB", "2025-04-10")])
    assert outcome(r)[2] == ("valid", 4, [])
    assert line(r, "HIB")["status"] == "complete"


def test_hib_third_primary_on_reach_12_months_is_still_primary():
    r = run([("HIB", "2024-06-10"), ("HIB", "2024-07-08"), ("HIB", "2025-04-09")])
    assert outcome(r)[2] == ("valid", 3, [])


def test_hib_forecast_skips_missed_primaries_once_past_1_year():
    r = run([("HIB", "2024-06-10"), ("HIB", "2024-07-08")], as_of="2025-06-01")
    e = line(r, "HIB")
    # booster: max(2024-07-08 + 7月 → 2025-02-09, reach(1歳) 2025-04-09)
    assert (e["next_dose"], e["earliest"], e["status"]) == (4, "2025-04-09", "eligible")


def test_hib_booster_before_1_year_is_invalid():
    doses = [("HIB", "2024-06-10"), ("HIB", "2024-07-08"), ("HIB", "2024-08-05")]
    r = run(doses + [("HIB", "2025-03-10")])
    assert outcome(r)[3] == ("invalid", None, ["E_BOOSTER_TOO_EARLY"])
    r = run(doses + [("HIB", "2025-03-05")])  # also < 7月 after the last primary
    assert outcome(r)[3] == ("invalid", None, ["E_INTERVAL_TOO_SHORT"])


# --- PCV -----------------------------------------------------------------------------------


def test_pcv_started_by_7_months_is_four_doses_booster_after_1_year():
    r = run([("PCV", "2024-06-10"), ("PCV", "2024-07-08"), ("PCV", "2024-08-05")],
            as_of="2024-09-01")
    e = line(r, "PCV")
    assert (e["next_dose"], e["earliest"], e["status"]) == (4, "2025-04-09", "not_yet")
    assert (e["standard_from"], e["standard_until"]) == ("2025-04-09", "2025-07-09")


def test_pcv_booster_needs_60_days_and_1_year():
    doses = [("PCV", "2024-06-10"), ("PCV", "2024-07-08"), ("PCV", "2024-08-05")]
    assert outcome(run(doses + [("PCV", "2025-04-08")]))[3][2] == ["E_BOOSTER_TOO_EARLY"]
    assert outcome(run(doses + [("PCV", "2025-04-09")]))[3] == ("valid", 4, [])
    late = [("PCV", "2024-06-10"), ("PCV", "2024-07-08"), ("PCV", "2025-03-01")]
    assert outcome(run(late + [("PCV", "2025-04-30")]))[3][2] == ["E_INTERVAL_TOO_SHORT"]
    assert outcome(run(late + [("PCV", "2025-05-01")]))[3] == ("valid", 4, [])


def test_pcv_started_7_to_12_months_is_three_doses():
    r = run([("PCV", "2024-12-01"), ("PCV", "2024-12-29")], as_of="2025-01-10")
    assert [d["dose_number"] for d in r["doses"]] == [1, 2]
    e = line(r, "PCV")
    assert (e["next_dose"], e["earliest"]) == (3, "2025-04-09")


def test_pcv_started_1_to_2_years_is_two_doses_60_days_apart():
    r = run([("PCV", "2025-05-01"), ("PCV", "2025-06-30")])
    assert outcome(r)[1][2] == ["E_INTERVAL_TOO_SHORT"]
    r = run([("PCV", "2025-05-01"), ("PCV", "2025-07-01"), ("PCV", "2025-10-01")])
    assert outcome(r) == [("valid", 1, []), ("valid", 2, []),
                          ("invalid", None, ["E_SERIES_COMPLETE"])]


def test_pcv_started_after_2_years_is_one_dose():
    r = run([("PCV", "2026-05-01")])
    assert outcome(r) == [("valid", 1, [])]
    assert line(r, "PCV")["status"] == "complete"


def test_pcv_second_primary_after_1_year_skips_the_third():
    r = run([("PCV", "2024-06-10"), ("PCV", "2025-04-20")], as_of="2025-05-01")
    assert outcome(r)[1] == ("valid", 2, [])
    e = line(r, "PCV")
    assert (e["next_dose"], e["earliest"]) == (4, "2025-06-20")
