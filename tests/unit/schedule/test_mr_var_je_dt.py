"""MR 1期/2期, 水痘, 日本脳炎 1期/2期 and 特例, DT 2期 (DOMAIN.md table)."""

import pytest

from tests.unit.schedule.support import evaluate_doses, line, outcome

BIRTH = "2024-04-10"  # reach(1歳)=2025-04-09, reach(2歳)=2026-04-09, reach(6歳)=2030-04-09


def run(doses, as_of="2040-01-01", birth=BIRTH, sex="F"):
    return evaluate_doses(doses, birth=birth, as_of=as_of, sex=sex)


# --- MR ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "status"),
    [("2025-04-08", "voluntary"), ("2025-04-09", "valid"), ("2026-04-09", "valid"),
     ("2026-04-10", "voluntary")],
)
def test_mr_first_term_is_reach_1_to_reach_2_years(day, status):
    assert run([("MR", day)])["doses"][0]["status"] == status


def test_mr_second_term_is_the_fiscal_year_before_school():
    r = run([("MR", "2025-04-09")], as_of="2025-05-01")
    e = line(r, "MR")
    assert (e["next_dose"], e["status"], e["earliest"], e["legal_until"]) == (
        2, "not_yet", "2030-04-01", "2031-03-31")
    r = run([("MR", "2025-04-09"), ("MR", "2028-05-01"), ("MR", "2030-04-01"), ("MR", "2031-03-31")])
    assert outcome(r) == [("valid", 1, []), ("voluntary", None, ["W_OUTSIDE_LEGAL_WINDOW"]),
                          ("valid", 2, []), ("invalid", None, ["E_SERIES_COMPLETE"])]


@pytest.mark.parametrize(
    ("birth", "start", "end"),
    [("2018-04-01", "2023-04-01", "2024-03-31"),  # April-1 births: the earlier school year
     # the FY2024 2期 cohort: the MRワクチン偏在 特例 extends its window to 2027-03-31
     ("2018-04-02", "2024-04-01", "2027-03-31")],
)
def test_mr_second_term_for_april_births(birth, start, end):
    r = run([("MR", "2019-04-01")], birth=birth, as_of="2019-05-01")
    e = line(r, "MR")
    assert (e["earliest"], e["legal_until"]) == (start, end)


def test_mr_second_term_still_due_after_a_missed_first_term():
    e = line(run([], as_of="2027-01-01"), "MR")
    assert (e["next_dose"], e["status"], e["earliest"]) == (2, "not_yet", "2030-04-01")
    e = line(run([], as_of="2031-04-01"), "MR")
    assert (e["status"], e["legal_until"]) == ("expired", "2031-03-31")


def test_single_antigen_measles_and_rubella_count_toward_mr():
    r = run([("MEASLES", "2025-05-01"), ("RUBELLA", "2025-05-01")], as_of="2025-06-01")
    assert outcome(r) == [("valid", 1, []), ("valid", 1, [])]
    assert line(r, "MR")["next_dose"] == 2


def test_mr_line_shows_the_antigen_that_is_behind():
    r = run([("MEASLES", "2025-05-01")], as_of="2025-06-01")
    e = line(r, "MR")
    assert (e["next_dose"], e["status"], e["legal_until"]) == (1, "eligible", "2026-04-09")
    # MR afterwards is valid for rubella even though measles 1期 is done
    r = run([("MEASLES", "2025-05-01"), ("MR", "2025-06-01")], as_of="2025-07-01")
    assert outcome(r)[1] == ("valid", 1, [])
    assert line(r, "MR")["next_dose"] == 2


# --- 水痘 --------------------------------------------------------------------------------------


def test_varicella_is_two_doses_3_months_apart_between_1_and_3_years():
    e = line(run([], as_of="2025-01-01"), "VAR")
    assert (e["earliest"], e["legal_until"]) == ("2025-04-09", "2027-04-09")
    assert (e["standard_from"], e["standard_until"]) == ("2025-04-09", "2025-07-09")
    r = run([("VAR", "2025-04-09"), ("VAR", "2025-07-09")])
    assert outcome(r)[1] == ("invalid", None, ["E_INTERVAL_TOO_SHORT"])
    r = run([("VAR", "2025-04-09"), ("VAR", "2025-07-10")])
    assert outcome(r) == [("valid", 1, []), ("valid", 2, [])]
    r = run([("VAR", "2025-04-09")], as_of="2025-05-01")
    e = line(r, "VAR")
    assert (e["next_dose"], e["earliest"], e["standard_from"], e["standard_until"]) == (
        2, "2025-07-10", "2025-10-10", "2026-04-10")


# --- 日本脳炎 ----------------------------------------------------------------------------------


def test_je_first_term_primary_6_days_then_booster_6_months():
    e = line(run([], as_of="2024-05-01"), "JE")
    assert (e["earliest"], e["legal_until"]) == ("2024-10-09", "2031-10-09")
    assert (e["standard_from"], e["standard_until"]) == ("2027-04-09", "2028-04-09")
    r = run([("JE", "2027-05-01"), ("JE", "2027-05-07")])
    assert outcome(r)[1][2] == ["E_INTERVAL_TOO_SHORT"]
    r = run([("JE", "2027-05-01"), ("JE", "2027-05-08")], as_of="2027-06-01")
    assert outcome(r)[1] == ("valid", 2, [])
    e = line(r, "JE")
    assert (e["next_dose"], e["earliest"]) == (3, "2027-11-09")


def test_je_second_term_is_9_to_13_years():
    doses = [("JE", "2027-05-01"), ("JE", "2027-05-08"), ("JE", "2028-05-08")]
    e = line(run(doses, as_of="2029-01-01"), "JE")
    assert (e["next_dose"], e["earliest"], e["legal_until"]) == (4, "2033-04-09", "2037-04-09")
    assert outcome(run(doses + [("JE", "2033-04-08")]))[3][0] == "voluntary"
    assert outcome(run(doses + [("JE", "2033-04-09")]))[3] == ("valid", 4, [])


def test_je_missed_first_term_moves_to_the_second_term():
    r = run([], birth="2010-06-01", as_of="2020-01-01")
    e = line(r, "JE")
    assert (e["next_dose"], e["status"], e["earliest"], e["legal_until"]) == (
        4, "eligible", "2019-05-31", "2023-05-31")
    # a dose between the terms is 任意
    assert outcome(run([("JE", "2018-08-01")], birth="2010-06-01"))[0][0] == "voluntary"


def test_je_catch_up_cohort_may_finish_until_20():
    # born 2005-06-01 (平成7年4月2日〜平成19年4月1日生): 1期 extended to reach(20歳)
    r = run([("JE", "2024-02-01")], birth="2005-06-01", as_of="2024-03-01")
    assert outcome(r)[0] == ("valid", 1, [])
    e = line(r, "JE")
    assert (e["next_dose"], e["legal_until"]) == (2, "2025-05-31")


# --- DT 2期 ------------------------------------------------------------------------------------


def test_dt_second_term_is_11_to_13_years():
    birth = "2013-05-15"  # reach(11)=2024-05-14, reach(13)=2026-05-14
    assert outcome(run([("DT", "2024-05-13")], birth=birth))[0][0] == "voluntary"
    assert outcome(run([("DT", "2024-05-14")], birth=birth))[0] == ("valid", 1, [])
    assert outcome(run([("DT", "2026-05-14")], birth=birth))[0] == ("valid", 1, [])
    assert outcome(run([("DT", "2026-05-15")], birth=birth))[0][0] == "voluntary"
    e = line(run([], birth=birth, as_of="2024-01-01"), "DT")
    assert (e["earliest"], e["standard_until"], e["legal_until"]) == (
        "2024-05-14", "2025-05-14", "2026-05-14")
