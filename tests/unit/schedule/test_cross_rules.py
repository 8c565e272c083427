"""Rules across vaccines and records: impossible dates, live vaccines, ordering, products."""

from sesshu.domain.schedule import evaluate_json


def run(doses, birth="2024-04-10", as_of="2030-01-01", sex="F"):
    return evaluate_json({"birth_date": birth, "sex": sex, "as_of": as_of, "conditions": [],
                          "doses": [dict(zip(("vaccine", "date", "product"), d)) for d in doses]})


def line(r, code):
    return next(e for e in r["eligibility"] if e["vaccine"] == code)


def test_dose_before_birth_is_invalid():
    d = run([("HEPB", "2024-04-09")])["doses"][0]
    assert (d["status"], d["dose_number"], d["codes"]) == ("invalid", None, ["E_BEFORE_BIRTH"])
    assert d["reasons"] and "生年月日" in d["reasons"][0]


def test_dose_after_as_of_is_invalid_and_not_counted():
    r = run([("BCG", "2024-09-01")], as_of="2024-08-01")
    assert r["doses"][0]["codes"] == ["E_FUTURE"]
    assert line(r, "BCG")["status"] == "eligible"


def test_unknown_vaccine_is_invalid():
    assert run([("XYZ", "2024-09-01")])["doses"][0]["codes"] == ["E_UNKNOWN_VACCINE"]


def test_doses_come_back_in_input_order_but_are_evaluated_by_date():
    r = run([("HIB", "2024-07-08"), ("HIB", "2024-06-10")])
    assert [(d["date"], d["dose_number"]) for d in r["doses"]] == [
        ("2024-07-08", 2), ("2024-06-10", 1)]


def test_injected_live_vaccines_need_27_days_between_them():
    r = run([("MR", "2025-04-09"), ("VAR", "2025-05-06")])
    assert r["doses"][1]["codes"] == ["E_LIVE_CONFLICT"]
    assert r["doses"][1]["status"] == "invalid"
    r = run([("MR", "2025-04-09"), ("VAR", "2025-05-07")])
    assert [d["status"] for d in r["doses"]] == ["valid", "valid"]


def test_same_day_live_vaccines_never_conflict():
    r = run([("MR", "2025-04-09"), ("VAR", "2025-04-09"), ("BCG", "2025-04-09")])
    assert [d["status"] for d in r["doses"]] == ["valid", "valid", "valid"]


def test_bcg_then_mr_within_27_days_conflicts():
    r = run([("BCG", "2025-03-20"), ("MR", "2025-04-10")])
    assert r["doses"][1]["codes"] == ["E_LIVE_CONFLICT"]


def test_inactivated_vaccines_do_not_conflict_with_live_ones():
    r = run([("MR", "2025-04-09"), ("JE", "2025-04-12"), ("HIB", "2025-04-12")])
    assert [d["status"] for d in r["doses"]] == ["valid", "valid", "valid"]


def test_live_conflict_moves_the_forecast():
    r = run([("MR", "2025-04-09")], as_of="2025-04-20")
    e = line(r, "VAR")
    assert (e["earliest"], e["status"]) == ("2025-05-07", "not_yet")


def test_a_second_dose_of_the_same_series_on_the_same_day_is_invalid():
    r = run([("HEPB", "2024-10-28"), ("HEPB", "2024-10-28")])
    assert [d["status"] for d in r["doses"]] == ["valid", "invalid"]
    assert r["doses"][1]["codes"] == ["E_INTERVAL_TOO_SHORT"]


def test_product_of_another_vaccine_is_wrong_product():
    r = run([("ROTA1", "2024-06-10", "ロタテック")])
    assert r["doses"][0]["codes"] == ["E_WRONG_PRODUCT"]
    r = run([("ROTA1", "2024-06-10", "ロタリックス"), ("PCV", "2024-06-10", "プレベナー20"),
             ("HIB", "2024-06-10", "unknown brand")])
    assert [d["status"] for d in r["doses"]] == ["valid", "valid", "valid"]


def test_invalid_and_voluntary_doses_carry_japanese_reasons_with_a_source():
    r = run([("HIB", "2024-06-01"), ("HIB", "2024-06-10"), ("HIB", "2024-06-20")])
    for d in r["doses"]:
        if d["status"] != "valid":
            assert d["codes"] and len(d["reasons"]) == len(d["codes"])
            assert all("【" in x and "】" in x for x in d["reasons"])


def test_a_product_shared_by_two_vaccine_codes_is_right_for_both():
    r = evaluate_json({"birth_date": "1960-06-01", "sex": "F", "as_of": "2026-01-01",
                       "doses": [{"vaccine": "ZOSTER_LIVE", "date": "2025-06-01",
                                  "product": "乾燥弱毒生水痘ワクチン「ビケン」"}]})
    assert r["doses"][0]["status"] == "valid"
