"""B類: 高齢者インフルエンザ (高用量), 新型コロナ, 高齢者肺炎球菌 PPSV23/PCV20, 帯状疱疹 (DOMAIN.md)."""

from sesshu.domain.schedule import evaluate_json, load_rules


def run(doses, birth, as_of="2030-01-01", conditions=(), sex="M", rules=None):
    """doses: (vaccine, date) pairs or (vaccine, date, product) triples."""
    return evaluate_json({"birth_date": birth, "sex": sex, "as_of": as_of,
                          "conditions": list(conditions),
                          "doses": [{"vaccine": d[0], "date": d[1],
                                     **({"product": d[2]} if len(d) > 2 else {})}
                                    for d in doses]}, rules)


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


# --- 高用量 (from 2026-10-01, 75歳以上) ------------------------------------------------------------


def test_high_dose_flu_is_routine_from_75_and_from_october_2026():
    old = "1950-06-01"  # reach(75)=2025-05-31
    assert outcome(run([("FLU_ELDER", "2026-10-15", "高用量")], old))[0] == ("valid", 1, [])
    assert outcome(run([("FLU_ELDER", "2026-10-15", "エフルエルダ筋注")], old))[0] == ("valid", 1, [])
    r = run([("FLU_ELDER", "2025-11-15", "高用量")], old)
    assert outcome(r) == [("voluntary", None, ["W_OUTSIDE_LEGAL_WINDOW"])]
    assert "2026-10-01から" in r["doses"][0]["reasons"][0]


def test_high_dose_flu_below_75_is_voluntary_and_the_standard_dose_stays_open():
    young = "1955-06-01"  # 71 in 2026
    r = run([("FLU_ELDER", "2026-10-15", "高用量"), ("FLU_ELDER", "2026-11-01")], young)
    assert outcome(r) == [("voluntary", None, ["W_OUTSIDE_LEGAL_WINDOW", "W_NOT_TARGET_GROUP"]),
                          ("valid", 1, [])]
    # the day the person reaches 75 counts (75歳以上 from reach(75歳))
    birth = "1951-11-02"  # reach(75)=2026-11-01
    assert run([("FLU_ELDER", "2026-10-31", "高用量")], birth)["doses"][0]["status"] == "voluntary"
    assert outcome(run([("FLU_ELDER", "2026-11-01", "高用量")], birth))[0] == ("valid", 1, [])


def test_standard_dose_flu_is_unchanged_at_any_age():
    assert outcome(run([("FLU_ELDER", "2026-10-15", "インフルエンザHAワクチン「ビケンHA」")],
                       "1955-06-01"))[0] == ("valid", 1, [])


# --- PPSV23 -------------------------------------------------------------------------------------


def test_pneumococcal_window_is_65_years_old_from_reach_65_through_reach_66():
    # Since FY2024 "65歳の者" is the age on the day, not the fiscal year of reach(65) (the
    # FY2014–FY2023 transition); PPSV23 is 定期 only until 2026-03-31, PCV20 from 2026-04-01.
    birth = "1960-06-01"  # reach(65)=2025-05-31, reach(66)=2026-05-31
    e = line(run([], birth, as_of="2025-01-01"), "PPSV23")
    assert (e["status"], e["earliest"], e["legal_until"]) == ("not_yet", "2025-05-31", "2026-03-31")
    e = line(run([], birth, as_of="2025-01-01"), "PCV20_ELDER")
    assert (e["status"], e["earliest"], e["legal_until"]) == ("not_yet", "2026-04-01", "2026-05-31")
    assert run([("PPSV23", "2025-05-30")], birth)["doses"][0]["status"] == "voluntary"
    assert outcome(run([("PPSV23", "2025-05-31")], birth))[0] == ("valid", 1, [])
    assert run([("PPSV23", "2026-04-01")], birth)["doses"][0]["status"] == "voluntary"
    assert outcome(run([("PCV20_ELDER", "2026-05-31")], birth))[0] == ("valid", 1, [])
    assert run([("PCV20_ELDER", "2026-06-01")], birth)["doses"][0]["status"] == "voluntary"


def test_ppsv23_after_march_2026_is_not_routine_but_a_2025_dose_still_is():
    birth = "1961-03-01"  # 65 from 2026-02-28 through 2027-02-28
    r = run([("PPSV23", "2026-06-15")], birth)
    assert outcome(r) == [("voluntary", None, ["W_OUTSIDE_LEGAL_WINDOW"])]
    assert "2026-03-31まで" in r["doses"][0]["reasons"][0]
    assert outcome(run([("PPSV23", "2026-03-01")], birth))[0] == ("valid", 1, [])
    assert outcome(run([("PPSV23", "2025-10-01")], "1960-06-01"))[0] == ("valid", 1, [])


def test_pcv20_elder_is_routine_from_april_2026_only():
    birth = "1961-03-01"
    assert outcome(run([("PCV20_ELDER", "2026-04-01")], birth))[0] == ("valid", 1, [])
    r = run([("PCV20_ELDER", "2026-03-31")], birth)
    assert outcome(r) == [("voluntary", None, ["W_OUTSIDE_LEGAL_WINDOW"])]


def test_pcv20_elder_excluded_after_any_earlier_pneumococcal_vaccine():
    birth = "1961-03-01"
    for earlier in (("PPSV23", "2020-05-01"), ("PCV20_ELDER", "2024-05-01"), ("PPSV23", "2026-06-01")):
        r = run([earlier, ("PCV20_ELDER", "2026-07-01")], birth, as_of="2026-12-06")
        assert outcome(r)[1] == ("invalid", None, ["E_SERIES_COMPLETE"]), earlier
        assert line(r, "PCV20_ELDER")["status"] == "complete"


def test_pcv20_elder_60_to_64_needs_the_designated_disability():
    birth = "1964-06-01"  # 62 on 2026-07-01
    assert run([("PCV20_ELDER", "2026-07-01")], birth)["doses"][0]["codes"] == ["W_OUTSIDE_LEGAL_WINDOW"]
    r = run([("PCV20_ELDER", "2026-07-01")], birth, conditions=["designated_disability"])
    assert outcome(r)[0] == ("valid", 1, [])


def test_pcv20_elder_has_no_transitional_cohort():
    # 70 in FY2026: the fiscal-year cohorts ended with FY2023
    assert run([("PCV20_ELDER", "2026-06-01")], "1956-06-01")["doses"][0]["status"] == "voluntary"
    e = line(run([], "1956-06-01", as_of="2026-12-06"), "PCV20_ELDER")
    assert e["status"] == "expired"  # the window ended before PCV20 became 定期


def test_pneumococcal_65_in_fy2014_to_2023_kept_the_fiscal_year_window():
    # reached 65 on 2019-05-31 (FY2019): the fiscal year from 2019-04-01 was 定期 then
    assert outcome(run([("PPSV23", "2019-04-10")], "1954-06-01"))[0] == ("valid", 1, [])


def test_ppsv23_is_excluded_after_any_earlier_ppsv23():
    r = run([("PPSV23", "2020-05-01"), ("PPSV23", "2025-06-01")], "1960-06-01")
    assert outcome(r) == [("voluntary", None, ["W_OUTSIDE_LEGAL_WINDOW"]),
                          ("invalid", None, ["E_SERIES_COMPLETE"])]
    assert line(r, "PPSV23")["status"] == "complete"


def test_ppsv23_missed_window_is_expired():
    e = line(run([], "1950-01-01", as_of="2025-01-01"), "PPSV23")
    assert e["status"] == "expired"


def test_ppsv23_60_to_64_with_designated_disability():
    r = run([("PPSV23", "2023-05-01")], "1960-06-01", conditions=["designated_disability"])
    assert outcome(r)[0] == ("valid", 1, [])
    r = run([("PCV20_ELDER", "2026-05-01")], "1963-06-01", conditions=["designated_disability"])
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
