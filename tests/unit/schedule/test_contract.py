"""The evaluate_json contract: shape, every vaccine code, dates and statuses."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sesshu.domain.schedule import SCHEDULE_VACCINE_CODES, ContractError, evaluate_json

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def payload(doses, birth="2015-05-05", as_of="2026-11-01", sex="F", conditions=()):
    return {"birth_date": birth, "sex": sex, "as_of": as_of, "conditions": list(conditions),
            "doses": doses}


def check_shape(out, n_doses):
    assert set(out) == {"doses", "eligibility"}
    assert len(out["doses"]) == n_doses
    for d in out["doses"]:
        assert set(d) == {"vaccine", "date", "status", "dose_number", "codes", "reasons"}
        assert d["status"] in ("valid", "voluntary", "invalid")
        assert (d["dose_number"] is None) == (d["status"] != "valid")
        assert isinstance(d["dose_number"], (int, type(None)))
        assert DATE.match(d["date"])
        assert all(isinstance(c, str) for c in d["codes"])
        if d["status"] != "valid":
            assert d["codes"] and d["reasons"]
    codes = [e["vaccine"] for e in out["eligibility"]]
    assert len(codes) == len(set(codes))
    for e in out["eligibility"]:
        assert set(e) == {"vaccine", "next_dose", "status", "earliest", "standard_from",
                          "standard_until", "legal_until"}
        assert e["status"] in ("complete", "eligible", "not_yet", "expired")
        for k in ("earliest", "standard_from", "standard_until", "legal_until"):
            assert e[k] is None or DATE.match(e[k])


@pytest.mark.parametrize("code", SCHEDULE_VACCINE_CODES)
def test_every_vaccine_code_is_evaluated(code):
    out = evaluate_json(payload([{"vaccine": code, "date": "2020-01-01"}]))
    check_shape(out, 1)
    assert out["doses"][0]["vaccine"] == code
    assert "E_UNKNOWN_VACCINE" not in out["doses"][0]["codes"]


def test_one_eligibility_line_per_vaccine_series():
    out = evaluate_json(payload([]))
    assert [e["vaccine"] for e in out["eligibility"]] == [
        "HIB", "PCV", "HEPB", "ROTA1", "ROTA5", "DPTIPVHIB", "DPTIPV", "DPT", "IPV", "BCG", "MR",
        "VAR", "JE", "DT", "HPV", "RSV_MATERNAL", "FLU_ELDER", "PCV20_ELDER", "PPSV23", "COVID",
        "ZOSTER_LIVE", "ZOSTER_RZV"]


def test_product_and_conditions_are_optional():
    out = evaluate_json({"birth_date": "2024-04-10", "sex": "M", "as_of": "2024-07-01",
                         "doses": [{"vaccine": "HIB", "date": "2024-06-10"}]})
    assert out["doses"][0]["status"] == "valid"


@pytest.mark.parametrize(
    "bad",
    [{"birth_date": "2024-13-01", "sex": "F", "as_of": "2024-07-01", "doses": []},
     {"birth_date": "2024-01-01", "sex": "X", "as_of": "2024-07-01", "doses": []},
     {"birth_date": "2024-01-01", "sex": "F", "as_of": "2024-07-01", "doses": [{"date": "x"}]},
     {"birth_date": "2024-01-01", "sex": "F", "doses": []}],
)
def test_malformed_payload_raises_contract_error(bad):
    with pytest.raises(ContractError):
        evaluate_json(bad)


dose_st = st.fixed_dictionaries({
    "vaccine": st.sampled_from(SCHEDULE_VACCINE_CODES),
    "date": st.dates(min_value=__import__("datetime").date(2014, 1, 1),
                     max_value=__import__("datetime").date(2027, 12, 31)).map(str),
})


@settings(max_examples=200, deadline=None)
@given(st.lists(dose_st, max_size=30),
       st.dates(min_value=__import__("datetime").date(1920, 2, 29),
                max_value=__import__("datetime").date(2026, 12, 31)).map(str),
       st.sampled_from(["M", "F"]), st.booleans())
def test_any_history_gives_a_well_formed_answer(doses, birth, sex, disabled):
    out = evaluate_json(payload(doses, birth=birth, sex=sex,
                                conditions=["designated_disability"] if disabled else []))
    check_shape(out, len(doses))
    assert [d["vaccine"] for d in out["doses"]] == [d["vaccine"] for d in doses]
    # valid dose numbers strictly increase per vaccine series, in date order
    seen: dict[str, int] = {}
    rows = sorted((d for d in out["doses"] if d["status"] == "valid"
                   and d["vaccine"] not in ("FLU_ELDER", "COVID")), key=lambda d: d["date"])
    for d in rows:
        key = {"MEASLES": "MR", "RUBELLA": "MR", "HPV2": "HPV", "HPV4": "HPV", "HPV9": "HPV"}.get(
            d["vaccine"], d["vaccine"])
        if key in ("MR", "DPTIPVHIB", "DPTIPV", "DPT", "IPV"):
            continue  # counted across antigen series
        assert d["dose_number"] > seen.get(key, 0)
        seen[key] = d["dose_number"]
