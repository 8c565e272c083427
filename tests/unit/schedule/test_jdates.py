"""Japanese date arithmetic (DOMAIN.md "Date arithmetic"), written from the law's wording."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sesshu.domain.jdates import (
    after_days_interval,
    after_months_interval,
    fiscal_year,
    fiscal_year_end,
    fiscal_year_start,
    hpv_window,
    mr2_window,
    reach_age,
    reach_months,
    reach_weeks_days,
    school_entry,
)


@pytest.mark.parametrize(
    ("birth", "years", "expected"),
    [
        (date(2024, 4, 10), 1, date(2025, 4, 9)),  # the day before the birthday
        (date(2012, 4, 1), 12, date(2024, 3, 31)),
        (date(2012, 4, 2), 12, date(2024, 4, 1)),
        (date(2024, 2, 29), 1, date(2025, 2, 28)),  # 2/29 birth, common year
        (date(2024, 2, 29), 4, date(2028, 2, 28)),  # leap year: the day before 2/29
        (date(2023, 3, 1), 1, date(2024, 2, 29)),
        (date(2000, 1, 1), 65, date(2064, 12, 31)),
    ],
)
def test_reach_age_is_the_day_before_the_birthday(birth, years, expected):
    assert reach_age(birth, years) == expected


@pytest.mark.parametrize(
    ("birth", "months", "expected"),
    [
        (date(2024, 4, 10), 2, date(2024, 6, 9)),  # DOMAIN.md worked example (Hib start)
        (date(2024, 4, 10), 60, date(2029, 4, 9)),  # Hib end
        (date(2023, 12, 31), 2, date(2024, 2, 29)),  # no 2/31: last day of February
        (date(2023, 12, 31), 1, date(2024, 1, 30)),  # 1/31 exists: the day before
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2023, 1, 30), 1, date(2023, 2, 28)),  # 2/30 does not exist either
        (date(2023, 1, 29), 1, date(2023, 2, 28)),  # 2/29/2023 does not exist
        (date(2024, 1, 29), 1, date(2024, 2, 28)),  # 2/29/2024 exists: the day before
        (date(2024, 3, 1), 1, date(2024, 3, 31)),
        (date(2024, 8, 31), 1, date(2024, 9, 30)),
        (date(2024, 5, 31), 1, date(2024, 6, 30)),
        (date(2024, 4, 10), 90, date(2031, 10, 9)),
    ],
)
def test_reach_months_follows_minpo_143(birth, months, expected):
    assert reach_months(birth, months) == expected


def test_reach_weeks_days_counts_the_birth_day_as_day_zero():
    assert reach_weeks_days(date(2024, 4, 10), 6, 0) == date(2024, 5, 22)
    assert reach_weeks_days(date(2024, 4, 10), 14, 6) == date(2024, 7, 23)
    assert reach_weeks_days(date(2024, 4, 10), 24, 0) == date(2024, 9, 25)
    assert reach_weeks_days(date(2024, 4, 10), 32, 0) == date(2024, 11, 20)


@pytest.mark.parametrize(
    ("prev", "days", "expected"),
    [
        (date(2024, 6, 1), 27, date(2024, 6, 29)),
        (date(2024, 6, 1), 20, date(2024, 6, 22)),
        (date(2024, 6, 1), 6, date(2024, 6, 8)),
        (date(2024, 6, 1), 139, date(2024, 10, 19)),
        (date(2024, 2, 28), 0, date(2024, 2, 29)),
    ],
)
def test_days_interval_counts_from_the_day_after(prev, days, expected):
    assert after_days_interval(prev, days) == expected


@pytest.mark.parametrize(
    ("prev", "months", "expected"),
    [
        (date(2024, 6, 1), 6, date(2024, 12, 2)),
        (date(2024, 1, 31), 1, date(2024, 3, 1)),  # 2/31 → 2/29, then the day after
        (date(2023, 1, 31), 1, date(2023, 3, 1)),
        (date(2024, 8, 31), 6, date(2025, 3, 1)),
        (date(2024, 12, 15), 3, date(2025, 3, 16)),
        (date(2024, 5, 10), 5, date(2024, 10, 11)),
    ],
)
def test_months_interval_is_the_day_after_the_same_day(prev, months, expected):
    assert after_months_interval(prev, months) == expected


@pytest.mark.parametrize(
    ("d", "fy"),
    [(date(2024, 4, 1), 2024), (date(2024, 3, 31), 2023), (date(2025, 1, 31), 2024),
     (date(2024, 12, 31), 2024)],
)
def test_fiscal_year_runs_april_to_march(d, fy):
    assert fiscal_year(d) == fy
    assert fiscal_year_start(fy) <= d <= fiscal_year_end(fy)


def test_hpv_window_uses_the_fiscal_year_containing_reach_12():
    # DOMAIN.md: born 2012-04-01 reaches 12 on 2024-03-31 (FY2023) → opens 2023-04-01.
    assert hpv_window(date(2012, 4, 1)) == (date(2023, 4, 1), date(2028, 3, 31))
    assert hpv_window(date(2012, 4, 2)) == (date(2024, 4, 1), date(2029, 3, 31))


def test_mr2_window_is_the_year_before_primary_school():
    assert school_entry(date(2018, 4, 1)) == date(2024, 4, 1)
    assert school_entry(date(2018, 4, 2)) == date(2025, 4, 1)
    assert mr2_window(date(2018, 4, 1)) == (date(2023, 4, 1), date(2024, 3, 31))
    assert mr2_window(date(2018, 4, 2)) == (date(2024, 4, 1), date(2025, 3, 31))
    assert mr2_window(date(2024, 4, 10)) == (date(2030, 4, 1), date(2031, 3, 31))


births = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))


@given(births, st.integers(min_value=0, max_value=1300))
def test_reach_months_lands_in_the_target_month(birth, n):
    r = reach_months(birth, n)
    m0 = birth.month - 1 + n
    y, m = birth.year + m0 // 12, m0 % 12 + 1
    # Either the day before the corresponding day (possibly in the previous month when the
    # corresponding day is the 1st) or, when that day does not exist, the month's last day.
    try:
        assert r == date(y, m, birth.day) - timedelta(days=1)
    except ValueError:
        assert (r.year, r.month) == (y, m)
        assert (r + timedelta(days=1)).day == 1


@given(births, st.integers(min_value=0, max_value=1300))
def test_reach_months_is_monotonic(birth, n):
    assert reach_months(birth, n) < reach_months(birth, n + 1)


@given(births, st.integers(min_value=0, max_value=110))
def test_reach_age_equals_reach_of_12n_months(birth, n):
    assert reach_age(birth, n) == reach_months(birth, 12 * n)


@given(st.integers(min_value=1904, max_value=2096).filter(lambda y: y % 4 == 0),
       st.integers(min_value=1, max_value=100))
def test_leap_day_births_always_reach_on_february_28(year, n):
    if year == 2000 or year % 100:  # Gregorian leap years only
        assert reach_age(date(year, 2, 29), n) == date(year + n, 2, 28)


@given(births, st.integers(min_value=0, max_value=1000))
def test_days_interval_is_x_plus_one_days(prev, x):
    assert (after_days_interval(prev, x) - prev).days == x + 1


@given(births, st.integers(min_value=1, max_value=24))
def test_months_interval_never_lands_before_the_clamped_same_day(prev, n):
    nxt = after_months_interval(prev, n)
    before = nxt - timedelta(days=1)
    m0 = prev.month - 1 + n
    assert (before.year, before.month) == (prev.year + m0 // 12, m0 % 12 + 1)
    assert before.day == prev.day or (before.day < prev.day and nxt.day == 1)


@given(births, st.integers(min_value=0, max_value=1300))
def test_ordinal_reach_months_matches_the_date_form(birth, n):
    from sesshu.domain.jdates import reach_months_ordinal

    assert reach_months_ordinal(birth, n) == reach_months(birth, n).toordinal()


@given(births, st.integers(min_value=1, max_value=60))
def test_ordinal_months_interval_matches_the_date_form(prev, n):
    from sesshu.domain.jdates import after_months_interval_ordinal

    assert after_months_interval_ordinal(prev.toordinal(), n) == after_months_interval(prev, n).toordinal()
