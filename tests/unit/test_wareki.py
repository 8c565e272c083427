"""Dates in every written form that arrives from clinics and registries."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, strategies as st

from sesshu.domain.wareki import DateParseError, parse_date, parse_month, to_wareki


@pytest.mark.parametrize("text,expected", [
    ("2023-08-03", date(2023, 8, 3)),
    ("2023/8/3", date(2023, 8, 3)),
    ("2023.08.03", date(2023, 8, 3)),
    ("20230803", date(2023, 8, 3)),
    ("2023年8月3日", date(2023, 8, 3)),
    ("令和5年8月3日", date(2023, 8, 3)),
    ("令和元年5月1日", date(2019, 5, 1)),
    ("R5.8.3", date(2023, 8, 3)),
    ("r5/8/3", date(2023, 8, 3)),
    ("R050803", date(2023, 8, 3)),
    ("5050803", date(2023, 8, 3)),
    ("H31.4.30", date(2019, 4, 30)),
    ("平成元年1月8日", date(1989, 1, 8)),
    ("S64.1.7", date(1989, 1, 7)),
    ("昭和20年8月15日", date(1945, 8, 15)),
    ("T15.12.24", date(1926, 12, 24)),
    ("明治45年7月29日", date(1912, 7, 29)),
    ("２０２３／８／３", date(2023, 8, 3)),
    ("Ｒ５．８．３", date(2023, 8, 3)),
    ("　令和 5年 8月 3日　", date(2023, 8, 3)),
    ("令和5年8月3日(木)", date(2023, 8, 3)),
    ("2023/8/3（木）", date(2023, 8, 3)),
    ("2023/08/03 0:00:00", date(2023, 8, 3)),
    ("2023-08-03 00:00", date(2023, 8, 3)),
])
def test_parses_western_and_japanese_eras(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text,reason", [
    ("H31.5.1", "平成の期間外"),
    ("S64.1.8", "昭和の期間外"),
    ("R1.4.30", "令和の期間外"),
    ("2023-02-29", "存在しない日付"),
    ("令和5年13月1日", "存在しない日付"),
    ("2023-8", "形式"),
    ("", "空"),
    ("昨日", "形式"),
])
def test_rejects_with_japanese_reason(text, reason):
    with pytest.raises(DateParseError, match=reason):
        parse_date(text)


@given(st.dates(min_value=date(1989, 1, 8), max_value=date(2100, 12, 31)))
def test_wareki_round_trip(d):
    assert parse_date(to_wareki(d)) == d


@pytest.mark.parametrize("text", ["2023-07", "202307", "2023年7月", "R5.7", "令和5年7月", "R0507", "２０２３／０７"])
def test_billing_month_forms(text):
    assert parse_month(text) == "2023-07"


def test_an_optional_date_field_is_none_when_blank_and_names_the_field_when_wrong():
    from sesshu.domain.errors import InvalidInput
    from sesshu.domain.wareki import parse_optional_date

    assert parse_optional_date("", "有効期限") is None and parse_optional_date("  ", "有効期限") is None
    assert parse_optional_date(None, "有効期限") is None
    assert parse_optional_date("R9.3.31", "有効期限") == date(2027, 3, 31)
    with pytest.raises(InvalidInput, match="^有効期限: "):
        parse_optional_date("2027-02-30", "有効期限")
