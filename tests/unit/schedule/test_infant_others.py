"""B型肝炎, ロタ, BCG, 四種/五種混合 and ポリオ (DOMAIN.md table)."""

import pytest

from tests.unit.schedule.support import evaluate_doses, line, outcome

BIRTH = "2024-04-10"


def run(doses, as_of="2030-01-01", birth=BIRTH, sex="F"):
    return evaluate_doses(doses, birth=birth, as_of=as_of, sex=sex)


# --- B型肝炎 ---------------------------------------------------------------------------------


def test_hepb_window_is_birth_to_reach_1_year():
    assert outcome(run([("HEPB", "2024-04-10")]))[0] == ("valid", 1, [])
    assert outcome(run([("HEPB", "2025-04-09")]))[0] == ("valid", 1, [])
    assert outcome(run([("HEPB", "2025-04-10")]))[0][0] == "voluntary"


def test_hepb_third_dose_needs_139_days_after_the_first():
    base = [("HEPB", "2024-06-10"), ("HEPB", "2024-07-08")]
    assert outcome(run(base + [("HEPB", "2024-10-27")]))[2][2] == ["E_INTERVAL_TOO_SHORT"]
    assert outcome(run(base + [("HEPB", "2024-10-28")]))[2] == ("valid", 3, [])


def test_hepb_second_dose_needs_27_days():
    assert outcome(run([("HEPB", "2024-06-10"), ("HEPB", "2024-07-07")]))[1][0] == "invalid"


def test_hepb_forecast_third_dose():
    r = run([("HEPB", "2024-06-10"), ("HEPB", "2024-07-08")], as_of="2024-08-01")
    e = line(r, "HEPB")
    assert (e["next_dose"], e["earliest"], e["legal_until"], e["status"]) == (
        3, "2024-10-28", "2025-04-09", "not_yet")
    assert e["standard_until"] == "2025-01-09"  # 生後9月


def test_hepb_expires_after_1_year():
    e = line(run([], as_of="2025-04-10"), "HEPB")
    assert (e["status"], e["legal_until"]) == ("expired", "2025-04-09")


# --- ロタ -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vaccine", "day", "status"),
    [("ROTA1", "2024-05-21", "voluntary"), ("ROTA1", "2024-05-22", "valid"),
     ("ROTA1", "2024-09-25", "valid"), ("ROTA1", "2024-09-26", "voluntary"),
     ("ROTA5", "2024-11-20", "valid"), ("ROTA5", "2024-11-21", "voluntary")],
)
def test_rota_windows_are_6w0d_to_24w0d_or_32w0d(vaccine, day, status):
    assert run([(vaccine, day)])["doses"][0]["status"] == status


def test_rota1_is_two_doses_rota5_three():
    r = run([("ROTA1", "2024-06-10"), ("ROTA1", "2024-07-08"), ("ROTA1", "2024-08-05")])
    assert [d["status"] for d in r["doses"]] == ["valid", "valid", "invalid"]
    assert r["doses"][2]["codes"] == ["E_SERIES_COMPLETE"]
    r = run([("ROTA5", "2024-06-10"), ("ROTA5", "2024-07-08"), ("ROTA5", "2024-08-05")])
    assert outcome(r) == [("valid", 1, []), ("valid", 2, []), ("valid", 3, [])]


def test_rota_needs_27_days_between_doses():
    r = run([("ROTA5", "2024-06-10"), ("ROTA5", "2024-07-07")])
    assert r["doses"][1]["codes"] == ["E_INTERVAL_TOO_SHORT"]


def test_rota_must_finish_with_the_product_it_started_with():
    r = run([("ROTA1", "2024-06-10"), ("ROTA5", "2024-07-08")], as_of="2024-07-10")
    assert outcome(r)[1] == ("invalid", None, ["E_WRONG_PRODUCT"])
    assert line(r, "ROTA5")["status"] == "complete"  # nothing due with the other product
    assert line(r, "ROTA1")["next_dose"] == 2


def test_rota_first_dose_after_14w6d_is_still_legal():
    # the 14週6日 limit is the standard period only
    assert outcome(run([("ROTA1", "2024-08-01")]))[0] == ("valid", 1, [])


def test_rota_forecast_per_product():
    r = run([], as_of="2024-05-01")
    assert line(r, "ROTA1") == {"vaccine": "ROTA1", "next_dose": 1, "status": "not_yet",
                                "earliest": "2024-05-22", "standard_from": "2024-06-09",
                                "standard_until": "2024-07-23", "legal_until": "2024-09-25"}
    assert line(r, "ROTA5")["legal_until"] == "2024-11-20"


def test_rota_is_oral_and_not_subject_to_the_live_vaccine_rule():
    r = run([("BCG", "2024-06-01"), ("ROTA1", "2024-06-10")])
    assert [d["status"] for d in r["doses"]] == ["valid", "valid"]


# --- BCG -------------------------------------------------------------------------------------


def test_bcg_window_matches_the_worked_example():
    e = line(run([], as_of="2024-05-01"), "BCG")
    assert (e["earliest"], e["legal_until"], e["status"]) == ("2024-04-10", "2025-04-09", "eligible")
    assert (e["standard_from"], e["standard_until"]) == ("2024-09-09", "2024-12-09")
    assert outcome(run([("BCG", "2025-04-09")]))[0] == ("valid", 1, [])
    assert outcome(run([("BCG", "2025-04-10")]))[0][0] == "voluntary"


def test_bcg_is_one_dose():
    r = run([("BCG", "2024-09-10"), ("BCG", "2024-12-10")])
    assert outcome(r)[1] == ("invalid", None, ["E_SERIES_COMPLETE"])


# --- 四種混合・五種混合・ポリオ -------------------------------------------------------------------


def test_dptipv_window_runs_to_reach_90_months():
    e = line(run([], as_of="2024-05-01"), "DPTIPV")
    assert (e["earliest"], e["legal_until"]) == ("2024-06-09", "2031-10-09")
    assert outcome(run([("DPTIPV", "2031-10-10")], as_of="2032-01-01"))[0][0] == "voluntary"
    assert outcome(run([("DPTIPV", "2031-10-09")], as_of="2032-01-01"))[0][0] == "valid"


def test_dptipv_primary_needs_20_days():
    assert outcome(run([("DPTIPV", "2024-06-10"), ("DPTIPV", "2024-06-30")]))[1][2] == [
        "E_INTERVAL_TOO_SHORT"]
    assert outcome(run([("DPTIPV", "2024-06-10"), ("DPTIPV", "2024-07-01")]))[1] == ("valid", 2, [])


def test_dptipv_primary_beyond_56_days_is_still_valid():
    assert outcome(run([("DPTIPV", "2024-06-10"), ("DPTIPV", "2024-09-10")]))[1] == ("valid", 2, [])


def test_dptipv_booster_needs_6_months_after_the_primary():
    base = [("DPTIPV", "2024-06-10"), ("DPTIPV", "2024-07-01"), ("DPTIPV", "2024-07-22")]
    r = run(base, as_of="2024-08-01")
    e = line(r, "DPTIPV")
    assert (e["next_dose"], e["earliest"]) == (4, "2025-01-23")
    assert (e["standard_from"], e["standard_until"]) == ("2025-07-23", "2026-01-23")
    assert outcome(run(base + [("DPTIPV", "2025-01-22")]))[3][2] == ["E_INTERVAL_TOO_SHORT"]
    r = run(base + [("DPTIPV", "2025-01-23")])
    assert outcome(r)[3] == ("valid", 4, [])
    for code in ("DPTIPV", "IPV", "DPT", "DPTIPVHIB"):
        assert line(r, code)["status"] == "complete"


def test_five_in_one_counts_for_dtp_polio_and_hib():
    doses = [("DPTIPVHIB", "2024-06-10"), ("DPTIPVHIB", "2024-07-01"),
             ("DPTIPVHIB", "2024-07-22"), ("DPTIPVHIB", "2025-01-23")]
    r = run(doses)
    assert outcome(r) == [("valid", 1, []), ("valid", 2, []), ("valid", 3, []), ("valid", 4, [])]
    for code in ("HIB", "DPTIPVHIB", "DPTIPV", "IPV"):
        assert line(r, code)["status"] == "complete"


def test_a_series_begun_with_four_in_one_does_not_switch_to_five_in_one():
    r = run([("DPTIPV", "2024-06-10"), ("HIB", "2024-06-10"), ("DPTIPVHIB", "2024-07-08")])
    assert outcome(r)[2] == ("invalid", None, ["E_WRONG_PRODUCT"])
    assert line(r, "DPTIPVHIB")["status"] == "complete"
    assert line(r, "DPTIPV")["next_dose"] == 2


def test_five_in_one_was_not_routine_before_april_2024():
    r = run([("DPTIPVHIB", "2024-03-01")], birth="2023-12-01")
    assert outcome(r)[0][0] == "voluntary"


def test_dpt_and_ipv_count_toward_their_own_antigens():
    doses = [(v, d) for d in ("2024-06-10", "2024-07-01", "2024-07-22", "2025-01-23")
             for v in ("DPT", "IPV")]
    r = run(doses)
    assert [d["status"] for d in r["doses"]] == ["valid"] * 8
    assert line(r, "DPT")["status"] == "complete"
    assert line(r, "IPV")["status"] == "complete"
