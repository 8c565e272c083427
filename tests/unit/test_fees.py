"""Fee lookup: unit price by vaccine × 期 × 予診区分 with effective dates, and the B類 copay."""
from __future__ import annotations

from datetime import date

import pytest

from sesshu.billing.reference import fee_table
from sesshu.domain.fees import BILLABLE_CATEGORIES, FeeTable, FeeTableError, fiscal_year

DATA = {
    "budget_categories": {c: {"label": c} for c in BILLABLE_CATEGORIES},
    "fees": [
        {"vaccine": "MR", "term": "", "from": "2025-04-01", "vaccinated": 11000, "screened_only": 3000},
        {"vaccine": "MR", "term": "", "from": "2026-04-01", "vaccinated": 12000, "screened_only": 3300},
        {"vaccine": "JE", "term": "", "from": "2025-04-01", "vaccinated": 8000},
        {"vaccine": "JE", "term": "2期", "from": "2025-04-01", "vaccinated": 8500},
        {"vaccine": "FLU_ELDER", "term": "", "from": "2025-04-01", "until": "2026-03-31", "vaccinated": 5000,
         "screened_only": 2800},
    ],
    "copays": [{"vaccine": "FLU_ELDER", "from": "2025-04-01", "amount": 1500}],
}


def test_price_changes_on_the_first_day_of_the_new_fiscal_year():
    t = FeeTable.from_data(DATA)
    assert t.unit_fee("MR", "1期", "vaccinated", date(2026, 3, 31)) == 11000
    assert t.unit_fee("MR", "1期", "vaccinated", date(2026, 4, 1)) == 12000
    assert t.unit_fee("MR", "", "screened_only", date(2026, 4, 1)) == 3300


def test_no_price_before_the_first_entry_or_after_an_end_date():
    t = FeeTable.from_data(DATA)
    assert t.unit_fee("MR", "", "vaccinated", date(2025, 3, 31)) is None
    assert t.unit_fee("FLU_ELDER", "", "vaccinated", date(2026, 4, 1)) is None
    assert t.unit_fee("BCG", "", "vaccinated", date(2026, 4, 1)) is None


def test_term_specific_price_wins_over_the_vaccine_wide_one():
    t = FeeTable.from_data(DATA)
    assert t.unit_fee("JE", "2期", "vaccinated", date(2025, 6, 1)) == 8500
    assert t.unit_fee("JE", "1期初回", "vaccinated", date(2025, 6, 1)) == 8000


def test_screened_only_without_a_price_is_not_payable():
    t = FeeTable.from_data(DATA)
    assert t.unit_fee("JE", "", "screened_only", date(2025, 6, 1)) is None


def test_b_class_pays_fee_less_copay_unless_exempt():
    t = FeeTable.from_data(DATA)
    paid = t.price(vaccine="FLU_ELDER", term="", screening="vaccinated", on=date(2025, 11, 1), exempt=False)
    assert (paid.unit_fee, paid.copay, paid.copay_charged, paid.amount) == (5000, 1500, 1500, 3500)
    free = t.price(vaccine="FLU_ELDER", term="", screening="vaccinated", on=date(2025, 11, 1), exempt=True)
    assert (free.copay_charged, free.amount, free.exempt) == (0, 5000, True)


def test_screened_only_carries_no_copay():
    t = FeeTable.from_data(DATA)
    fee = t.price(vaccine="FLU_ELDER", term="", screening="screened_only", on=date(2025, 11, 1), exempt=False)
    assert (fee.unit_fee, fee.copay, fee.amount) == (2800, 0, 2800)


def test_a_class_has_no_copay_and_exemption_changes_nothing():
    t = FeeTable.from_data(DATA)
    fee = t.price(vaccine="MR", term="", screening="vaccinated", on=date(2025, 11, 1), exempt=True)
    assert (fee.copay, fee.exempt, fee.amount) == (0, False, 11000)


def test_malformed_tables_are_refused():
    bad = dict(DATA, fees=[*DATA["fees"], {"vaccine": "MR", "term": "", "from": "2025-04-01", "vaccinated": 1}])
    with pytest.raises(FeeTableError, match="same day"):
        FeeTable.from_data(bad)
    with pytest.raises(FeeTableError, match="yen"):
        FeeTable.from_data(dict(DATA, fees=[{"vaccine": "MR", "from": "2025-04-01", "vaccinated": -5}]))


def test_shipped_table_prices_every_routine_vaccine_in_both_fiscal_years():
    t = fee_table()
    for vaccine in ("HIB", "PCV", "MR", "BCG", "HPV9", "FLU_ELDER", "PPSV23", "COVID", "ZOSTER_RZV"):
        for on in (date(2025, 4, 1), date(2026, 12, 1)):
            assert t.unit_fee(vaccine, "", "vaccinated", on), (vaccine, on)
            assert t.unit_fee(vaccine, "", "screened_only", on), (vaccine, on)
    assert t.copay("FLU_ELDER", "vaccinated", date(2026, 10, 15)) == 1600
    assert t.copay("FLU_ELDER", "vaccinated", date(2025, 10, 15)) == 1500
    assert t.copay("MR", "vaccinated", date(2025, 10, 15)) == 0
    assert "デモ" in t.sources["fees"]


def test_fiscal_year_runs_april_to_march():
    assert fiscal_year(date(2026, 3, 31)) == 2025
    assert fiscal_year(date(2026, 4, 1)) == 2026


def test_fy2026_vaccines_are_priced_and_high_dose_flu_has_a_price_of_its_own():
    t = fee_table()
    on = date(2026, 11, 1)
    for vaccine in ("PCV20_ELDER", "RSV_MATERNAL"):
        assert t.unit_fee(vaccine, "", "vaccinated", on) and t.unit_fee(vaccine, "", "screened_only", on)
        assert t.unit_fee(vaccine, "", "vaccinated", date(2026, 3, 31)) is None  # not 定期 before FY2026
    assert t.copay("PCV20_ELDER", "vaccinated", on) > t.copay("PPSV23", "vaccinated", date(2025, 10, 1))
    assert t.copay("RSV_MATERNAL", "vaccinated", on) == 0  # A類
    standard = t.unit_fee("FLU_ELDER", "", "vaccinated", on)
    for name in ("高用量", "エフルエルダ筋注", "エフルエルダ 筋注"):
        assert t.unit_fee("FLU_ELDER", "", "vaccinated", on, product=name) > standard, name
    assert t.unit_fee("FLU_ELDER", "", "vaccinated", on, product="インフルエンザHAワクチン「ビケンHA」") == standard
    # before 2026-10-01 a high-dose lot is priced as the standard dose (the engine returns it anyway)
    assert t.unit_fee("FLU_ELDER", "", "vaccinated", date(2026, 9, 30), product="高用量") == \
        t.unit_fee("FLU_ELDER", "", "vaccinated", date(2026, 9, 30))
    fee = t.price(vaccine="FLU_ELDER", term="", screening="vaccinated", on=on, exempt=False, product="高用量")
    assert fee.amount == fee.unit_fee - fee.copay
