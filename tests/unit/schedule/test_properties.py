"""Property tests: the engine's window and interval edges hold for every birth date,
month end and leap day (DOMAIN.md "Date arithmetic")."""

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from sesshu.domain.jdates import after_months_interval, reach_age, reach_months
from sesshu.domain.schedule import DoseFacts, PersonFacts, evaluate

# Bias towards month ends and leap days, where the conventions matter.
edge_days = st.sampled_from([28, 29, 30, 31, 1])
births = st.one_of(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)),
    st.builds(lambda y, m, d: _clamp(y, m, d), st.integers(2000, 2030), st.integers(1, 12),
              edge_days),
    st.builds(lambda y: date(y, 2, 29), st.sampled_from([2000, 2004, 2008, 2012, 2016, 2020, 2024, 2028])),
)


def _clamp(y, m, d):
    while True:
        try:
            return date(y, m, d)
        except ValueError:
            d -= 1


def status(birth, doses, as_of=None):
    as_of = as_of or date(2100, 1, 1)
    ev = evaluate(PersonFacts(birth, "F"), [DoseFacts(v, d) for v, d in doses], as_of)
    return [(r.status, r.dose_number) for r in ev.doses]


@settings(max_examples=150, deadline=None)
@given(births)
def test_hib_window_edges_for_any_birth(birth):
    start, end = reach_months(birth, 2), reach_months(birth, 60)
    assert status(birth, [("HIB", start)]) == [("valid", 1)]
    assert status(birth, [("HIB", start - timedelta(days=1))])[0][0] == "voluntary"
    assert status(birth, [("HIB", end)]) == [("valid", 1)]
    assert status(birth, [("HIB", end + timedelta(days=1))])[0][0] == "voluntary"


@settings(max_examples=150, deadline=None)
@given(births)
def test_bcg_window_ends_on_reach_1_year(birth):
    end = reach_age(birth, 1)
    assert status(birth, [("BCG", end)]) == [("valid", 1)]
    assert status(birth, [("BCG", end + timedelta(days=1))])[0][0] == "voluntary"


@settings(max_examples=150, deadline=None)
@given(births, st.integers(min_value=0, max_value=200))
def test_27_day_interval_edge_anywhere_in_the_window(birth, offset):
    d1 = reach_months(birth, 2) + timedelta(days=offset)
    second = d1 + timedelta(days=28)
    expected = ("valid", 2) if second <= reach_age(birth, 1) else ("voluntary", None)
    assert status(birth, [("HEPB", d1), ("HEPB", second)]) == [("valid", 1), expected]
    assert status(birth, [("HEPB", d1), ("HEPB", d1 + timedelta(days=27))])[1] == ("invalid", None)


@settings(max_examples=150, deadline=None)
@given(births, st.integers(min_value=0, max_value=150))
def test_3_month_varicella_interval_edge_at_month_ends(birth, offset):
    d1 = reach_months(birth, 12) + timedelta(days=offset)
    ok = after_months_interval(d1, 3)
    assert status(birth, [("VAR", d1), ("VAR", ok)]) == [("valid", 1), ("valid", 2)]
    assert status(birth, [("VAR", d1), ("VAR", ok - timedelta(days=1))])[1] == ("invalid", None)


@settings(max_examples=150, deadline=None)
@given(births)
def test_live_vaccine_rule_is_27_days_for_any_date(birth):
    mr = reach_months(birth, 12)
    assert status(birth, [("MR", mr), ("VAR", mr + timedelta(days=27))])[1] == ("invalid", None)
    assert status(birth, [("MR", mr), ("VAR", mr + timedelta(days=28))])[1] == ("valid", 1)


@settings(max_examples=100, deadline=None)
@given(births)
def test_mr_second_term_is_a_whole_fiscal_year_before_school(birth):
    ev = evaluate(PersonFacts(birth, "F"), [DoseFacts("MR", reach_months(birth, 12))],
                  reach_months(birth, 13))
    line = next(e for e in ev.eligibility if e.vaccine == "MR")
    assert (line.earliest.month, line.earliest.day) == (4, 1)
    if date(2018, 4, 2) <= birth <= date(2019, 4, 1):  # FY2024 cohort: 特例 until 2027-03-31
        assert line.legal_until == date(2027, 3, 31)
    else:
        assert line.legal_until == date(line.earliest.year + 1, 3, 31)
    assert line.earliest <= reach_age(birth, 6) <= line.legal_until
