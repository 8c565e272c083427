"""The law in force from 2026-04-01 (DOMAIN.md "Law in force in FY2026"): RSウイルス 母子免疫,
HPV 9価 only; pregnancies in the contract. (高齢者肺炎球菌 PCV20 and 高用量: test_b_class.py.)"""
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sesshu.domain.schedule import ContractError, evaluate_json

from .support import line, outcome


def run(doses, *, edd=(), birth="1995-06-01", sex="F", as_of="2026-12-06"):
    return evaluate_json({"birth_date": birth, "sex": sex, "as_of": as_of,
                          "pregnancies": [{"expected_delivery": d} for d in edd],
                          "doses": [{"vaccine": d[0], "date": d[1],
                                     **({"product": d[2]} if len(d) > 2 else {})} for d in doses]})


# --- RSウイルス 母子免疫 ----------------------------------------------------------------------------


def test_rsv_window_is_28w0d_through_36w6d_of_the_pregnancy():
    edd = "2027-02-20"  # 28週0日 = 2026-11-28, 36週6日 = 2027-01-29
    e = line(run([], edd=[edd]), "RSV_MATERNAL")
    assert (e["status"], e["next_dose"], e["earliest"], e["legal_until"]) == (
        "eligible", 1, "2026-11-28", "2027-01-29")
    assert outcome(run([("RSV_MATERNAL", "2026-11-28")], edd=[edd]))[0] == ("valid", 1, [])
    assert outcome(run([("RSV_MATERNAL", "2027-01-29")], edd=[edd], as_of="2027-02-01"))[0] == (
        "valid", 1, [])
    for day in ("2026-11-27", "2027-01-30"):
        r = run([("RSV_MATERNAL", day)], edd=[edd], as_of="2027-03-01")
        assert outcome(r) == [("voluntary", None, ["W_OUTSIDE_LEGAL_WINDOW"])], day


def test_rsv_one_dose_per_pregnancy_and_again_in_the_next():
    r = run([("RSV_MATERNAL", "2026-12-01"), ("RSV_MATERNAL", "2026-12-05")], edd=["2027-02-20"])
    assert outcome(r) == [("valid", 1, []), ("invalid", None, ["E_SERIES_COMPLETE"])]
    assert line(r, "RSV_MATERNAL")["status"] == "complete"
    r = run([("RSV_MATERNAL", "2026-05-01")], edd=["2026-07-01", "2028-03-01"], as_of="2027-11-01")
    assert outcome(r) == [("valid", 1, [])]
    e = line(r, "RSV_MATERNAL")
    assert (e["status"], e["earliest"], e["legal_until"]) == ("not_yet", "2027-12-08", "2028-02-08")


def test_rsv_is_routine_from_april_2026_only():
    r = run([("RSV_MATERNAL", "2026-03-20")], edd=["2026-05-10"], as_of="2026-05-01")
    assert outcome(r) == [("voluntary", None, ["W_OUTSIDE_LEGAL_WINDOW"])]
    e = line(run([], edd=["2026-05-10"], as_of="2026-03-01"), "RSV_MATERNAL")
    assert (e["earliest"], e["legal_until"]) == ("2026-04-01", "2026-04-18")


def test_rsv_without_a_pregnancy_on_record_is_not_routine():
    r = run([("RSV_MATERNAL", "2026-12-01")])
    assert outcome(r) == [("voluntary", None, ["W_OUTSIDE_LEGAL_WINDOW", "W_NOT_TARGET_GROUP"])]
    assert "妊娠届" in r["doses"][0]["reasons"][1]
    assert line(r, "RSV_MATERNAL")["status"] == "complete"


def test_rsv_missed_window_is_expired():
    e = line(run([], edd=["2026-08-01"]), "RSV_MATERNAL")
    assert (e["status"], e["earliest"], e["legal_until"]) == ("expired", "2026-05-09", "2026-07-10")


def test_rsv_only_the_recombinant_maternal_vaccine():
    ok = run([("RSV_MATERNAL", "2026-12-01", "アブリスボ筋注用")], edd=["2027-02-20"])
    assert outcome(ok)[0] == ("valid", 1, [])
    bad = run([("RSV_MATERNAL", "2026-12-01", "シルガード9")], edd=["2027-02-20"])
    assert outcome(bad)[0] == ("invalid", None, ["E_WRONG_PRODUCT"])


def test_rsv_pregnancies_are_not_shared_between_persons_of_the_same_birth_date():
    # the engine caches per (birth date, sex, conditions): pregnancies must not leak through it
    a = line(run([], edd=["2027-02-20"]), "RSV_MATERNAL")
    b = line(run([]), "RSV_MATERNAL")
    c = line(run([], edd=["2027-03-20"]), "RSV_MATERNAL")
    assert (a["status"], b["status"], c["earliest"]) == ("eligible", "complete", "2026-12-26")


def test_rsv_batch_matches_single_evaluation():
    from sesshu.domain.schedule import DoseFacts, PersonFacts, evaluate, evaluate_many

    b = date(1995, 6, 1)
    items = [(PersonFacts(b, "F", frozenset(), (date(2027, 2, 20),)), []),
             (PersonFacts(b, "F"), []),
             (PersonFacts(b, "F", frozenset(), (date(2027, 4, 1),)),
              [DoseFacts("RSV_MATERNAL", date(2026, 12, 1))])]
    many = evaluate_many(items, date(2026, 12, 6))
    for (p, d), ev in zip(items, many):
        assert ev == evaluate(p, d, date(2026, 12, 6))


@settings(max_examples=200, deadline=None)
@given(st.dates(date(2026, 7, 1), date(2030, 12, 31)), st.integers(-120, 0))  # windows after 2026-04-01
def test_rsv_valid_exactly_from_edd_minus_84_through_edd_minus_22(edd, offset):
    day = edd + timedelta(days=offset)
    status = run([("RSV_MATERNAL", day.isoformat())], edd=[edd.isoformat()],
                 as_of="2031-01-01")["doses"][0]["status"]
    assert (status == "valid") == (-84 <= offset <= -22)


def test_contract_rejects_a_malformed_pregnancy():
    for bad in ([{"expected_delivery": "2027-13-01"}], [{}], ["2027-01-01"], {"x": 1}):
        with pytest.raises(ContractError):
            evaluate_json({"birth_date": "1995-06-01", "sex": "F", "as_of": "2026-12-06",
                           "pregnancies": bad, "doses": []})


# --- HPV: 9価 only from 2026-04-01 --------------------------------------------------------------


GIRL = "2012-06-01"  # HPV window FY2024..FY2027


def test_hpv_4価_after_march_2026_is_voluntary_before_still_routine():
    r = evaluate_json({"birth_date": GIRL, "sex": "F", "as_of": "2026-12-06",
                       "doses": [{"vaccine": "HPV4", "date": "2026-05-15"}]})
    assert outcome(r) == [("voluntary", None, ["W_OUTSIDE_LEGAL_WINDOW"])]
    r = evaluate_json({"birth_date": GIRL, "sex": "F", "as_of": "2026-12-06",
                       "doses": [{"vaccine": "HPV2", "date": "2026-03-31"}]})
    assert outcome(r) == [("valid", 1, [])]


def test_hpv_series_begun_with_4価_finishes_with_9価():
    doses = [{"vaccine": "HPV4", "date": "2025-10-01"}, {"vaccine": "HPV4", "date": "2026-04-15"},
             {"vaccine": "HPV9", "date": "2026-05-20"}, {"vaccine": "HPV9", "date": "2026-09-01"}]
    r = evaluate_json({"birth_date": GIRL, "sex": "F", "as_of": "2026-12-06", "doses": doses})
    assert outcome(r) == [("valid", 1, []), ("voluntary", None, ["W_OUTSIDE_LEGAL_WINDOW"]),
                          ("valid", 2, []), ("valid", 3, [])]
    assert line(r, "HPV")["status"] == "complete"


# --- other rules reviewed against the law in force on 2026-12-06 ---------------------------------


def test_mr_special_extension_for_the_fy2024_cohorts_until_march_2027():
    # 2期 cohort of FY2024 (born 2018-04-02..2019-04-01): 定期 again from 2025-04-01 to 2027-03-31
    r = evaluate_json({"birth_date": "2018-11-15", "sex": "M", "as_of": "2026-12-06",
                       "doses": [{"vaccine": "MR", "date": "2019-12-01"}, {"vaccine": "MR", "date": "2026-06-01"}]})
    assert outcome(r) == [("valid", 1, []), ("valid", 2, [])]
    r = evaluate_json({"birth_date": "2017-11-15", "sex": "M", "as_of": "2026-12-06",
                       "doses": [{"vaccine": "MR", "date": "2018-12-01"}, {"vaccine": "MR", "date": "2026-06-01"}]})
    assert outcome(r)[1][0] == "voluntary"  # FY2023 cohort: no extension
    r = evaluate_json({"birth_date": "2022-10-29", "sex": "F", "as_of": "2026-12-06", "doses": []})
    e = line(r, "MR")
    assert (e["next_dose"], e["status"], e["legal_until"]) == (1, "eligible", "2027-03-31")


def test_pcv13_is_not_routine_from_october_2024():
    doses = [{"vaccine": "PCV", "date": "2024-11-01", "product": "プレベナー13"}]
    r = evaluate_json({"birth_date": "2024-08-31", "sex": "M", "as_of": "2026-12-06", "doses": doses})
    assert outcome(r) == [("voluntary", None, ["W_OUTSIDE_LEGAL_WINDOW"])]
    doses = [{"vaccine": "PCV", "date": "2024-09-30", "product": "プレベナー13"},
             {"vaccine": "PCV", "date": "2024-11-01", "product": "プレベナー20"}]
    r = evaluate_json({"birth_date": "2024-07-31", "sex": "M", "as_of": "2026-12-06", "doses": doses})
    assert outcome(r) == [("valid", 1, []), ("valid", 2, [])]
