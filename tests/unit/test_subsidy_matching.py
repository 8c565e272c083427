"""費用助成: a household's exemption decided from the tax rows of the fiscal year."""
from __future__ import annotations

from sesshu.domain.subsidy import EXEMPT, NOT_EXEMPT, UNDETERMINED, TaxFact, match_household


def _fact(atena, taxable=False, welfare=False, household="H1"):
    return TaxFact(atena_no=atena, household_no=household, taxable=taxable, welfare=welfare)


def test_household_all_non_taxable_is_exempt():
    m = match_household("1", ["1", "2"], [_fact("1"), _fact("2")])
    assert m.outcome == EXEMPT and "非課税" in m.reason
    assert [f.atena_no for f in m.used] == ["1", "2"]


def test_one_taxable_member_means_no_exemption():
    m = match_household("1", ["1", "2"], [_fact("1"), _fact("2", taxable=True)])
    assert m.outcome == NOT_EXEMPT and "課税" in m.reason


def test_welfare_household_is_exempt_even_with_missing_rows():
    m = match_household("1", ["1", "2"], [_fact("1", welfare=True)])
    assert m.outcome == EXEMPT and "生活保護" in m.reason


def test_member_without_tax_row_cannot_be_decided():
    m = match_household("1", ["1", "2"], [_fact("1")])
    assert m.outcome == UNDETERMINED and "2" in m.reason
    assert m.members == ("1", "2")


def test_tax_household_member_not_in_registry_household_counts():
    m = match_household("1", ["1"], [_fact("1"), _fact("3", taxable=True)])
    assert m.outcome == NOT_EXEMPT and m.members == ("1", "3")
