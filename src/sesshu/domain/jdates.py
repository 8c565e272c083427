"""Japanese date arithmetic for vaccination schedules.

One convention, used everywhere (DOMAIN.md "Date arithmetic"):

* 年齢計算ニ関スル法律 + 民法143条: a person reaches N months / N years at the end of the day
  before the corresponding day; when the corresponding day does not exist, the period ends on
  the last day of that month (民法143条②).  So reach(生後N月) is the day before the same
  day-of-month N months later, or that month's last day; reach(N歳) = reach(生後12N月).
* reach(出生n週d日後) = birth + 7n + d days (the birth day is day 0).
* "X日以上の間隔" counts from the day after the previous dose: next on/after prev + (X+1) days.
* "N月以上の間隔": on/after the day after the same day-of-month N months later, the month
  arithmetic clamping to the month's end first.
* Fiscal year (年度) runs 4/1–3/31 and is named by the calendar year it starts in.

Windows are inclusive on both ends.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

__all__ = [
    "add_months_clamped",
    "after_days_interval",
    "after_months_interval",
    "after_months_interval_ordinal",
    "fiscal_year",
    "fiscal_year_end",
    "fiscal_year_start",
    "fy_window_of_age",
    "hpv_window",
    "mr2_window",
    "reach_age",
    "reach_months",
    "reach_months_ordinal",
    "reach_weeks_days",
    "school_entry",
]

_ONE_DAY = timedelta(days=1)


_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _month_shift(year: int, month: int, n: int) -> tuple[int, int]:
    m0 = month - 1 + n
    return year + m0 // 12, m0 % 12 + 1


def _last_day(y: int, m: int) -> int:
    if m == 2 and calendar.isleap(y):
        return 29
    return _DAYS_IN_MONTH[m]


def add_months_clamped(d: date, n: int) -> date:
    """The same day-of-month n months later; the month's last day when that day does not exist."""
    y, m = _month_shift(d.year, d.month, n)
    last = _last_day(y, m)
    return date(y, m, d.day if d.day <= last else last)


def reach_months(birth: date, n: int) -> date:
    """The day on which a person born on ``birth`` reaches 生後n月 (民法143条②)."""
    y, m = _month_shift(birth.year, birth.month, n)
    last = _last_day(y, m)
    if birth.day > last:
        # No corresponding day: the period ends on the last day of that month.
        return date(y, m, last)
    return date(y, m, birth.day) - _ONE_DAY


def reach_age(birth: date, years: int) -> date:
    """The day on which a person reaches N歳: the day before the Nth birthday.

    A 2/29 birth reaches N歳 on 2/28 in common years (there is no corresponding day).
    """
    return reach_months(birth, 12 * years)


def reach_weeks_days(birth: date, weeks: int, days: int = 0) -> date:
    """出生n週d日後: the birth day is day 0."""
    return birth + timedelta(days=7 * weeks + days)


def after_days_interval(prev: date, days: int) -> date:
    """First date satisfying "``days``日以上の間隔" after ``prev``: prev + (days + 1)."""
    return prev + timedelta(days=days + 1)


def after_months_interval(prev: date, months: int) -> date:
    """First date satisfying "``months``月以上の間隔" after ``prev``.

    The day after the same day-of-month ``months`` months later (clamped to the month end
    first): 2024-01-31 + 1月 → 2024-02-29 → 2024-03-01.
    """
    return add_months_clamped(prev, months) + _ONE_DAY


# Ordinal forms of the same rules, for the engine's hot loops (ints instead of date objects).
_MONTH_START: dict[int, int] = {}


def _month_start(months: int) -> int:
    """Ordinal of the 1st of the month numbered ``year * 12 + month - 1``."""
    o = _MONTH_START.get(months)
    if o is None:
        o = _MONTH_START[months] = date(months // 12, months % 12 + 1, 1).toordinal()
    return o


def reach_months_ordinal(birth: date, n: int) -> int:
    """``reach_months(birth, n).toordinal()`` without building dates."""
    k = birth.year * 12 + birth.month - 1 + n
    first = _month_start(k)
    length = _month_start(k + 1) - first
    return first + length - 1 if birth.day > length else first + birth.day - 2


def after_months_interval_ordinal(prev: int, months: int) -> int:
    """``after_months_interval(date.fromordinal(prev), months).toordinal()``."""
    d = date.fromordinal(prev)
    k = d.year * 12 + d.month - 1 + months
    first = _month_start(k)
    length = _month_start(k + 1) - first
    return first + (d.day if d.day <= length else length)


def fiscal_year(d: date) -> int:
    """年度: 4/1–3/31, named by the calendar year in which it starts."""
    return d.year if d.month >= 4 else d.year - 1


def fiscal_year_start(fy: int) -> date:
    return date(fy, 4, 1)


def fiscal_year_end(fy: int) -> date:
    return date(fy + 1, 3, 31)


def fy_window_of_age(birth: date, from_years: int, to_years: int | None = None) -> tuple[date, date]:
    """From 4/1 of the FY containing reach(from) to 3/31 of the FY containing reach(to)."""
    if to_years is None:
        to_years = from_years
    return (
        fiscal_year_start(fiscal_year(reach_age(birth, from_years))),
        fiscal_year_end(fiscal_year(reach_age(birth, to_years))),
    )


def hpv_window(birth: date) -> tuple[date, date]:
    """HPV 定期: 小学校6年 – 高校1年 = FY containing reach(12歳) .. FY containing reach(16歳)."""
    return fy_window_of_age(birth, 12, 16)


def school_entry(birth: date) -> date:
    """小学校就学の始期 (学校教育法17条): the first 4/1 after reach(6歳).

    April-1 births reach 6 on 3/31 and enter that year's 4/1 (the earlier school year).
    """
    r6 = reach_age(birth, 6)
    return date(r6.year + 1 if (r6.month, r6.day) >= (4, 1) else r6.year, 4, 1)


def mr2_window(birth: date) -> tuple[date, date]:
    """MR 2期: 4/1–3/31 of the fiscal year before the one in which the child enters school."""
    entry = school_entry(birth)
    return date(entry.year - 1, 4, 1), entry - _ONE_DAY
