"""B類: 高齢者インフルエンザ, 新型コロナ, 高齢者肺炎球菌 PPSV23, 帯状疱疹 (DOMAIN.md table)."""

from sesshu.domain.schedule import evaluate_json, load_rules


def run(doses, birth, as_of="2030-01-01", conditions=(), sex="M", rules=None):
    return evaluate_json({"birth_date": birth, "sex": sex, "as_of": as_of,
                          "conditions": list(conditions),
                          "doses": [{"vaccine": v, "date": d} for v, d in doses]}, rules)


def outcome(r):
    return [(d["status"], d["dose_number"], d["codes"]) for d in r["doses"]]


def line(r, code):
    return next(e for e in r["eligibility"] if e["vaccine"] == code)


ELDER = "1955-06-01"  # reach(65歳)=2020-05-31


# --- 高齢者インフルエンザ -----------------------------------------------------------------------


def test_flu_is_once_per_fiscal_year_in_season():
    r = run([("FLU_ELDER", "2024-11-01"), ("FLU_ELDER", "2025-01-15"),
             ("FLU_ELDER", "2025-10-01")], ELDER)
    assert outcome(r) == [("valid", 1, []), ("invalid", None, ["E_SEASON_DUPLICATE"]),
                          ("valid", 1, [])]


def test_flu_outside_the_season_is_voluntary():
    for day in ("2024-09-30", "2025-02-01"):
        r = run([("FLU_ELDER", day)], ELDER)
        assert r["doses"][0]["status"] == "voluntary"
        assert r["doses"][0]["codes"] == ["W_OUTSIDE_LEGAL_WINDOW", "W_OUTSIDE_SEASON"]
    assert outcome(run([("FLU_ELDER", "2025-01-31")], ELDER))[0] == ("valid", 1, [])


def test_flu_60_to_64_needs_the_designated_disability():
    birth = "1962-06-01"
    r = run([("FLU_ELDER", "2024-11-01")], birth)
    assert r["doses"][0]["status"] == "voluntary"
    assert "W_NOT_TARGET_GROUP" in r["doses"][0]["codes"]
    r = run([("FLU_ELDER", "2024-11-01")], birth, conditions=["designated_disability"])
    assert outcome(r)[0] == ("valid", 1, [])
    assert outcome(run([("FLU_ELDER", "2020-11-01")], birth,
                       conditions=["designated_disability"]))[0][0] == "voluntary"  # aged 58


def test_flu_forecast_this_season_then_next():
    e = line(run([], ELDER, as_of="2024-11-15"), "FLU_ELDER")
    assert (e["status"], e["earliest"], e["legal_until"]) == ("eligible", "2024-10-01", "2025-01-31")
    e = line(run([("FLU_ELDER", "2024-11-01")], ELDER, as_of="2024-11-15"), "FLU_ELDER")
    assert (e["status"], e["earliest"], e["legal_until"]) == ("not_yet", "2025-10-01", "2026-01-31")
    e = line(run([], ELDER, as_of="2025-02-15"), "FLU_ELDER")
    assert (e["status"], e["earliest"]) == ("not_yet", "2025-10-01")


def test_flu_turning_65_during_the_season():
    e = line(run([], "1959-12-10", as_of="2024-10-15"), "FLU_ELDER")  # reach(65)=2024-12-09
    assert (e["status"], e["earliest"], e["legal_until"]) == ("not_yet", "2024-12-09", "2025-01-31")


def test_flu_season_is_municipal_data():
    rules = load_rules(overrides={"FLU_ELDER": {"season": ["10-15", "01-31"]}})
    assert run([("FLU_ELDER", "2024-10-10")], ELDER, rules=rules)["doses"][0]["status"] == "voluntary"
    assert run([("FLU_ELDER", "2024-10-15")], ELDER, rules=rules)["doses"][0]["status"] == "valid"


# --- 新型コロナ ---------------------------------------------------------------------------------


def test_covid_is_once_per_fiscal_year_from_october_to_march():
    r = run([("COVID", "2024-10-01"), ("COVID", "2025-03-31"), ("COVID", "2025-04-01"),
             ("COVID", "2025-10-01")], "1950-01-01")
    assert [d["status"] for d in r["doses"]] == ["valid", "invalid", "voluntary", "valid"]
    assert r["doses"][1]["codes"] == ["E_SEASON_DUPLICATE"]


def test_covid_before_the_routine_program_is_voluntary():
    assert run([("COVID", "2023-11-01")], "1950-01-01")["doses"][0]["status"] == "voluntary"


def test_covid_forecast_after_this_years_dose():
    e = line(run([("COVID", "2024-11-01")], "1950-01-01", as_of="2025-04-15"), "COVID")
    assert (e["status"], e["earliest"], e["legal_until"]) == ("not_yet", "2025-10-01", "2026-03-31")


# --- PPSV23 -------------------------------------------------------------------------------------


def test_ppsv23_window_is_the_fiscal_year_of_reach_65_by_default():
    birth = "1960-06-01"  # reach(65)=2025-05-31 → FY2025
    e = line(run([], birth, as_of="2025-01-01"), "PPSV23")
    assert (e["status"], e["earliest"], e["legal_until"]) == ("not_yet", "2025-04-01", "2026-03-31")
    assert outcome(run([("PPSV23", "2025-04-01")], birth))[0] == ("valid", 1, [])
    assert run([("PPSV23", "2026-04-01")], birth)["doses"][0]["status"] == "voluntary"


def test_ppsv23_window_basis_is_a_data_setting(tmp_path):
    from sesshu.domain.schedule import RULES_DIR

    text = (RULES_DIR / "ppsv23.yaml").read_text(encoding="utf-8")
    f = tmp_path / "ppsv23_age_year.yaml"
    f.write_text(text.replace("age_year_basis: fiscal_year", "age_year_basis: age_year"),
                 encoding="utf-8")
    rules = load_rules([f], include_default=False)
    e = line(run([], "1960-06-01", as_of="2025-01-01", rules=rules), "PPSV23")
    assert (e["earliest"], e["legal_until"]) == ("2025-05-31", "2026-05-30")


def test_ppsv23_is_excluded_after_any_earlier_ppsv23():
    r = run([("PPSV23", "2020-05-01"), ("PPSV23", "2025-05-01")], "1960-06-01")
    assert outcome(r) == [("voluntary", None, ["W_OUTSIDE_LEGAL_WINDOW"]),
                          ("invalid", None, ["E_SERIES_COMPLETE"])]
    assert line(r, "PPSV23")["status"] == "complete"


def test_ppsv23_missed_window_is_expired():
    e = line(run([], "1950-01-01", as_of="2025-01-01"), "PPSV23")
    assert e["status"] == "expired"


def test_ppsv23_60_to_64_with_designated_disability():
    r = run([("PPSV23", "2023-05-01")], "1960-06-01", conditions=["designated_disability"])
    assert outcome(r)[0] == ("valid", 1, [])


# --- 帯状疱疹 -----------------------------------------------------------------------------------


def test_zoster_live_is_one_dose_and_completes_both_products():
    r = run([("ZOSTER_LIVE", "2025-06-01")], "1960-06-01", as_of="2025-07-01")
    assert outcome(r) == [("valid", 1, [])]
    assert line(r, "ZOSTER_LIVE")["status"] == "complete"
    assert line(r, "ZOSTER_RZV")["status"] == "complete"


def test_zoster_rzv_is_two_doses_2_months_apart():
    r = run([("ZOSTER_RZV", "2025-06-01"), ("ZOSTER_RZV", "2025-08-01")], "1960-06-01")
    assert outcome(r)[1] == ("invalid", None, ["E_INTERVAL_TOO_SHORT"])
    r = run([("ZOSTER_RZV", "2025-06-01")], "1960-06-01", as_of="2025-07-01")
    e = line(r, "ZOSTER_RZV")
    assert (e["next_dose"], e["earliest"], e["legal_until"]) == (2, "2025-08-02", "2026-03-31")
    assert line(r, "ZOSTER_LIVE")["status"] == "complete"
    r = run([("ZOSTER_RZV", "2025-06-01"), ("ZOSTER_RZV", "2025-08-02")], "1960-06-01")
    assert outcome(r) == [("valid", 1, []), ("valid", 2, [])]


def test_zoster_routine_starts_april_2025():
    birth = "1959-06-01"  # reached 65 in FY2024
    assert run([("ZOSTER_RZV", "2024-12-01")], birth)["doses"][0]["status"] == "voluntary"
    e = line(run([], birth, as_of="2025-06-01"), "ZOSTER_RZV")
    # next chance: the fiscal year of reach(70歳) = FY2029 (transitional measure)
    assert (e["status"], e["earliest"], e["legal_until"]) == ("not_yet", "2029-04-01", "2030-03-31")


def test_zoster_catch_up_cohorts_70_to_100_in_fy2025_to_2029():
    assert outcome(run([("ZOSTER_LIVE", "2025-06-01")], "1955-06-01"))[0] == ("valid", 1, [])
    assert run([("ZOSTER_LIVE", "2025-06-01")], "1956-06-01")["doses"][0]["status"] == "voluntary"
    assert outcome(run([("ZOSTER_RZV", "2025-06-01")], "1920-01-01"))[0] == ("valid", 1, [])


def test_zoster_cohort_after_fy2029_has_no_window():
    e = line(run([], "1966-06-01", as_of="2035-01-01"), "ZOSTER_LIVE")  # 65 in FY2031
    assert e["status"] == "expired"


def test_ppsv23_transitional_cohorts_2014_to_2023_were_routine():
    # reached 70 in FY2019 (経過措置 平成26年度〜令和5年度)
    assert outcome(run([("PPSV23", "2019-06-01")], "1949-06-01"))[0] == ("valid", 1, [])
    # reached 71 in FY2019: not a cohort age
    assert run([("PPSV23", "2019-06-01")], "1948-06-01")["doses"][0]["status"] == "voluntary"


def test_zoster_65_is_the_age_at_the_end_of_the_fiscal_year():
    # FY2025 65歳 = born 1960-04-02 .. 1961-04-01
    for birth, status in (("1960-04-02", "valid"), ("1961-04-01", "valid"),
                          ("1960-04-01", "voluntary"), ("1961-04-02", "voluntary")):
        r = run([("ZOSTER_LIVE", "2025-06-01")], birth)
        assert r["doses"][0]["status"] == status, birth
