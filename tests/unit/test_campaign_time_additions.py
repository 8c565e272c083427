"""時間外加算 / 休日加算 of the COVID-19 2021 replay (campaign file fees), and the 接種時刻 as clinics write it."""
from __future__ import annotations

from datetime import date, time

import pytest

from sesshu.billing.reference import campaign_holiday, fee_table
from sesshu.domain.fees import NO_TIME_NOTE
from sesshu.domain.schedule import PANDEMIC_DIR
from sesshu.domain.schedule.book import compile_book
from sesshu.domain.schedule.upload import UploadInvalid, check_upload
from sesshu.domain.wareki import DateParseError, parse_time

V1 = (PANDEMIC_DIR / "covid-2021.yaml").read_text(encoding="utf-8")
V2 = (PANDEMIC_DIR / "covid-2021-v2.yaml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def table():
    book = compile_book([check_upload(V1, [], upload_id=1).upload, check_upload(V2, [], upload_id=2).upload])
    return fee_table().with_entries(list(book.fees), campaign_holiday)


def _fee(table, on: date, at: time | None, screening: str = "vaccinated"):
    return table.price(vaccine="C19_PFIZER", term="", screening=screening, on=on, exempt=False, at=at)


def test_a_weekday_dose_after_six_pm_earns_the_time_addition_of_803_yen(table):
    fee = _fee(table, date(2021, 6, 9), time(18, 0))  # Wednesday
    assert (fee.unit_fee, fee.note) == (2277 + 803, "時間外加算 803円")
    assert _fee(table, date(2021, 6, 9), time(7, 59)).unit_fee == 2277 + 803


def test_a_weekday_dose_within_regular_hours_earns_no_addition(table):
    fee = _fee(table, date(2021, 6, 9), time(17, 59))
    assert (fee.unit_fee, fee.note) == (2277, "")
    assert _fee(table, date(2021, 6, 9), time(8, 0)).unit_fee == 2277


def test_saturday_afternoon_is_outside_the_regular_hours(table):
    assert _fee(table, date(2021, 6, 12), time(12, 0)).unit_fee == 2277 + 803
    assert _fee(table, date(2021, 6, 12), time(11, 59)).unit_fee == 2277


def test_a_holiday_earns_the_holiday_addition_only_never_both(table):
    sunday = _fee(table, date(2021, 6, 13), time(19, 30))
    assert (sunday.unit_fee, sunday.note) == (2277 + 2343, "休日加算 2,343円")
    assert _fee(table, date(2021, 7, 22), None).unit_fee == 2277 + 2343  # 海の日 (2021: moved to 7/22)


def test_a_dose_without_a_time_gets_no_time_addition_and_says_so(table):
    fee = _fee(table, date(2021, 6, 9), None)
    assert (fee.unit_fee, fee.note) == (2277, NO_TIME_NOTE)


def test_screened_only_earns_the_addition_too(table):
    assert _fee(table, date(2021, 6, 9), time(19, 0), "screened_only").unit_fee == 1694 + 803


def test_no_time_addition_before_2021_04_01(table):
    fee = _fee(table, date(2021, 3, 10), time(19, 0))
    assert (fee.unit_fee, fee.note) == (2277, "")


def test_a_bad_regular_hours_value_is_a_line_numbered_japanese_error():
    bad = V1.replace('weekdays: "08:00-18:00"', 'weekdays: "18:00-08:00"', 1)
    with pytest.raises(UploadInvalid) as e:
        check_upload(bad, [])
    p = e.value.problems[0]
    assert "時間帯の始まりが終わりより前ではありません" in p.message and "time_additions" in p.field
    assert "regular_hours" in bad.splitlines()[p.line - 1] or "weekdays" in bad.splitlines()[p.line - 1]


@pytest.mark.parametrize(("raw", "expected"), [
    ("9:30", time(9, 30)), ("０９：３０", time(9, 30)), ("930", time(9, 30)), ("0930", time(9, 30)),
    ("18:05:59", time(18, 5)), ("9時30分", time(9, 30)), ("19時", time(19, 0)), (" 23:59 ", time(23, 59)),
])
def test_the_time_of_vaccination_is_read_as_clinics_write_it(raw, expected):
    assert parse_time(raw) == expected


@pytest.mark.parametrize("raw", ["24:00", "9:60", "12345", "9:3", "午後7時", "x"])
def test_an_unreadable_time_is_refused_in_japanese(raw):
    with pytest.raises(DateParseError, match="時刻として読めません"):
        parse_time(raw)
