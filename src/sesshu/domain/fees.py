"""委託料 (fee) lookup: the unit price of one dose or screening, and the copay (自己負担) it carries.

Pure: the table comes from data (src/sesshu/billing/data/fees.yaml, read by sesshu.billing.reference)
and the date of the dose is passed in. A price applies to doses given from its `from` date (and up to
its `until`, if any); the latest entry starting on or before the dose date wins, and an entry for the
dose's 期 wins over the vaccine-wide one (term ""). The 接種 date decides, not the 請求月: a late claim
is paid at the price of the day the clinic did the work. An entry may name `products` (高齢者インフルエンザ
高用量): it applies only to a record of one of those products and wins over the entry without.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from typing import Callable

SCREENING_KINDS = ("vaccinated", "screened_only")
# 接種区分 the city pays a fee for, and the budget line each is charged to.
BILLABLE_CATEGORIES = ("routine_a", "routine_b", "temporary", "pandemic_resident", "designated")


class FeeTableError(ValueError):
    """The data file is malformed (a programming/data error, found when the table is loaded)."""


@dataclass(frozen=True)
class TimeAddition:
    """時間外加算 of a campaign: on a day that is not a 休日, a dose (or 予診のみ) given before the start or from
    the end of the regular hours of that day earns ``amount`` on top of the fee. Saturdays may have their own
    hours. A 休日 earns the 休日加算 instead (the two are not added together)."""

    since: date
    amount: int
    weekdays: tuple[time, time]
    saturdays: tuple[time, time] | None = None

    def outside(self, on: date, at: time) -> bool:
        start, end = self.saturdays if on.weekday() == 5 and self.saturdays else self.weekdays
        return at < start or at >= end


NO_TIME_NOTE = "接種時刻の記載なし（時間外加算なし）"


@dataclass(frozen=True)
class FeeEntry:
    vaccine: str
    term: str
    valid_from: date
    valid_until: date | None
    prices: dict  # screening kind → yen
    products: frozenset = frozenset()  # normalised product names this price is for (empty: any)
    # 休日加算 of a campaign (e.g. COVID-19 2021: +2,343円 税込 on Sundays and national holidays), by
    # the first day it applies; added to a dose or a 予診のみ on a holiday (``FeeTable.is_holiday``).
    holiday_additions: tuple[tuple[date, int], ...] = field(default=())
    time_additions: tuple[TimeAddition, ...] = field(default=())

    def holiday_addition(self, on: date) -> int:
        return next((amount for since, amount in sorted(self.holiday_additions, reverse=True) if since <= on), 0)

    def time_addition(self, on: date) -> TimeAddition | None:
        return next((a for a in sorted(self.time_additions, key=lambda a: a.since, reverse=True) if a.since <= on),
                    None)

    def covers(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_until is None or on <= self.valid_until)


def norm_product(name: str | None) -> str:
    """Product names compare without spaces, hyphens, 中黒 or case (as the schedule engine does)."""
    import re

    return re.sub(r"[\s\-_・]", "", name or "").casefold()


@dataclass(frozen=True)
class CopayEntry:
    vaccine: str
    valid_from: date
    valid_until: date | None
    amount: int

    def covers(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_until is None or on <= self.valid_until)


@dataclass(frozen=True)
class Fee:
    """The price of one record: what the clinic earns, what the person pays it, what the city pays."""

    unit_fee: int
    copay: int  # the copay that applies to this dose (0 for A類 and 予診のみ)
    exempt: bool  # copay waived (費用助成): the city pays it instead of the person
    # A campaign's addition in unit_fee, or why none was added, as the bill's line says it
    # (「時間外加算 803円」, 「休日加算 2,343円」, NO_TIME_NOTE); "" for the shipped fees.
    note: str = ""

    @property
    def copay_charged(self) -> int:
        return 0 if self.exempt else self.copay

    @property
    def amount(self) -> int:
        """What the city pays the clinic: the fee less the copay the clinic collected."""
        return self.unit_fee - self.copay_charged


@dataclass(frozen=True)
class BudgetCategory:
    code: str
    label: str
    account: str


def _date(value, label: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise FeeTableError(f"{label}: not a date: {value!r}") from None


def _yen(value, label: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FeeTableError(f"{label}: not a whole number of yen: {value!r}")
    return value


class FeeTable:
    def __init__(self, fees: list[FeeEntry], copays: list[CopayEntry], budget: dict[str, BudgetCategory],
                 sources: dict[str, str], is_holiday: Callable[[date], bool] | None = None):
        self.sources = sources
        self._is_holiday = is_holiday
        self.budget = budget
        self._fees: dict[str, list[FeeEntry]] = {}
        for e in sorted(fees, key=lambda e: e.valid_from, reverse=True):
            self._fees.setdefault(e.vaccine, []).append(e)
        self._copays: dict[str, list[CopayEntry]] = {}
        for c in sorted(copays, key=lambda c: c.valid_from, reverse=True):
            self._copays.setdefault(c.vaccine, []).append(c)

    @classmethod
    def from_data(cls, data: dict) -> "FeeTable":
        fees, copays = [], []
        seen = set()
        for i, row in enumerate(data.get("fees") or [], start=1):
            label = f"fees[{i}] {row.get('vaccine')}"
            prices = {k: _yen(row[k], label) for k in SCREENING_KINDS if k in row}
            if "vaccinated" not in prices:
                raise FeeTableError(f"{label}: a vaccinated price is required")
            products = row.get("products") or []
            if not isinstance(products, list) or not all(isinstance(p, str) and p for p in products):
                raise FeeTableError(f"{label}: products must be a list of product names")
            entry = FeeEntry(vaccine=str(row["vaccine"]), term=str(row.get("term") or ""),
                             valid_from=_date(row["from"], label),
                             valid_until=_date(row["until"], label) if row.get("until") else None, prices=prices,
                             products=frozenset(norm_product(p) for p in products))
            key = (entry.vaccine, entry.term, entry.valid_from, entry.products)
            if key in seen:
                raise FeeTableError(f"{label}: two prices start on the same day for the same 期")
            seen.add(key)
            fees.append(entry)
        for i, row in enumerate(data.get("copays") or [], start=1):
            label = f"copays[{i}] {row.get('vaccine')}"
            copays.append(CopayEntry(vaccine=str(row["vaccine"]), valid_from=_date(row["from"], label),
                                     valid_until=_date(row["until"], label) if row.get("until") else None,
                                     amount=_yen(row["amount"], label)))
        budget = {code: BudgetCategory(code=code, label=str(v["label"]), account=str(v.get("account", "")))
                  for code, v in (data.get("budget_categories") or {}).items()}
        missing = [c for c in BILLABLE_CATEGORIES if c not in budget]
        if missing:
            raise FeeTableError(f"budget_categories: missing {missing}")
        return cls(fees, copays, budget, dict(data.get("source") or {}))

    def unit_fee(self, vaccine: str, term: str, screening: str, on: date, product: str | None = None,
                 at: time | None = None) -> int | None:
        """The price for one record, or None when the table has none (the record cannot be paid)."""
        found = self._unit_fee(vaccine, term, screening, on, product, at)
        return None if found is None else found[0]

    def _unit_fee(self, vaccine: str, term: str, screening: str, on: date, product: str | None,
                  at: time | None) -> tuple[int, str] | None:
        """(price, note): the price with a campaign's 休日加算 or 時間外加算, and the line's note saying which
        (or that the 接種時刻 was not recorded, so no 時間外加算 could be judged)."""
        kind = screening or "vaccinated"
        entries = self._fees.get(vaccine, ())
        key = norm_product(product)
        for wanted in ((term,) if term else ()) + ("",):
            def price_of(e: FeeEntry) -> tuple[int, str] | None:
                price = e.prices.get(kind)
                if price is None:
                    return None
                if e.holiday_additions and self.is_holiday(on):
                    extra = e.holiday_addition(on)
                    if extra:
                        return price + extra, f"休日加算 {extra:,}円"
                    return price, ""
                addition = e.time_addition(on) if not self.is_holiday(on) else None
                if addition is None:
                    return price, ""
                if at is None:
                    return price, NO_TIME_NOTE
                if addition.outside(on, at):
                    return price + addition.amount, f"時間外加算 {addition.amount:,}円"
                return price, ""

            if key:  # a price for the record's product wins
                for e in entries:  # newest first
                    if e.products and key in e.products and e.term == wanted and e.covers(on):
                        return price_of(e)
            for e in entries:
                if not e.products and e.term == wanted and e.covers(on):
                    return price_of(e)
        return None

    def with_entries(self, extra: list[FeeEntry], is_holiday: Callable[[date], bool]) -> "FeeTable":
        """This table plus a campaign's fee schedule (sesshu.rulesets), judging holidays with is_holiday."""
        mine = [e for entries in self._fees.values() for e in entries]
        copays = [c for entries in self._copays.values() for c in entries]
        return FeeTable(mine + list(extra), copays, self.budget, self.sources, is_holiday)

    def is_holiday(self, on: date) -> bool:
        # The shipped 定期 fees have no holiday addition; a campaign's table brings its calendar.
        return self._is_holiday is not None and self._is_holiday(on)

    def copay(self, vaccine: str, screening: str, on: date) -> int:
        if (screening or "vaccinated") != "vaccinated":
            return 0
        for c in self._copays.get(vaccine, ()):
            if c.covers(on):
                return c.amount
        return 0

    def price(self, *, vaccine: str, term: str, screening: str, on: date, exempt: bool,
              product: str | None = None, at: time | None = None) -> Fee | None:
        found = self._unit_fee(vaccine, term, screening, on, product, at)
        if found is None:
            return None
        unit, note = found
        copay = min(self.copay(vaccine, screening, on), unit)
        return Fee(unit_fee=unit, copay=copay, exempt=exempt and copay > 0, note=note)

    def has_copay(self, vaccine: str) -> bool:
        return vaccine in self._copays

    def copay_vaccines(self) -> list[str]:
        return sorted(self._copays)

    def budget_of(self, category: str) -> BudgetCategory:
        return self.budget[category]


def fiscal_year(on: date) -> int:
    """The fiscal year (年度, April–March) a date falls in: 2026-03-31 → 2025."""
    return on.year if on.month >= 4 else on.year - 1


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of a 'YYYY-MM' month."""
    y, m = int(month[:4]), int(month[5:7])
    first = date(y, m, 1)
    nxt = date(y + (m == 12), m % 12 + 1, 1)
    return first, date.fromordinal(nxt.toordinal() - 1)


def campaign_fee_entries(block: object, vaccines: set[str], fail: Callable[[str, str], None]) -> list[FeeEntry]:
    """The ``fees`` block of a campaign file → fee entries (tax included, as the city pays them).

    ``fail(where, message)`` reports a problem (raising); ``where`` is the key path in the file::

        fees:
          source: …
          schedule:
            - {vaccine: C19_PFIZER, from: 2021-02-17, vaccinated: 2277, screened_only: 1694, source: …}
          holiday_additions:
            - {from: 2021-04-01, amount: 2343, source: …}
          time_additions:
            - {from: 2021-04-01, amount: 803, regular_hours: {weekdays: "08:00-18:00", saturdays: "08:00-12:00"},
               source: …}
    """
    if not isinstance(block, dict):
        fail("fees", "expected a mapping")
    extra = set(block) - {"source", "schedule", "holiday_additions", "time_additions", "notes"}
    if extra:
        fail("fees", f"unknown key(s) {sorted(map(str, extra))}; allowed: ['holiday_additions', 'notes', 'schedule', "
                     "'source', 'time_additions']")
    if not str(block.get("source") or "").strip():
        fail("fees", "missing required key 'source'")
    additions = []
    for i, a in enumerate(block.get("holiday_additions") or []):
        where = f"fees.holiday_additions[{i}]"
        if not isinstance(a, dict) or set(a) != {"from", "amount", "source"}:
            fail(where, "missing required key 'from/amount/source'")
        try:
            additions.append((_date(a["from"], where), _yen(a["amount"], where)))
        except FeeTableError as e:
            fail(where, str(e).split(": ", 1)[-1])
    timed = [_time_addition(a, f"fees.time_additions[{i}]", fail)
             for i, a in enumerate(block.get("time_additions") or [])]
    schedule = block.get("schedule")
    if not isinstance(schedule, list) or not schedule:
        fail("fees.schedule", "expected a non-empty list")
    out = []
    for i, row in enumerate(schedule):
        where = f"fees.schedule[{i}]"
        if not isinstance(row, dict):
            fail(where, "expected a mapping, got " + type(row).__name__)
        extra = set(row) - {"vaccine", "term", "from", "until", "vaccinated", "screened_only", "source"}
        if extra:
            fail(where, f"unknown key(s) {sorted(map(str, extra))}; allowed: ['from', 'screened_only', 'source', "
                        "'term', 'until', 'vaccinated', 'vaccine']")
        for k in ("vaccine", "from", "vaccinated", "source"):
            if row.get(k) in (None, ""):
                fail(where, f"missing required key '{k}'")
        if row["vaccine"] not in vaccines:
            fail(where + ".vaccine", f"{row['vaccine']} is not among the file's vaccines")
        try:
            prices = {k: _yen(row[k], where) for k in SCREENING_KINDS if k in row}
            out.append(FeeEntry(vaccine=str(row["vaccine"]), term=str(row.get("term") or ""),
                                valid_from=_date(row["from"], where),
                                valid_until=_date(row["until"], where) if row.get("until") else None,
                                prices=prices, holiday_additions=tuple(additions), time_additions=tuple(timed)))
        except FeeTableError as e:
            fail(where, str(e).split(": ", 1)[-1])
    return out


def _hours(value, where: str, fail: Callable[[str, str], None]) -> tuple[time, time]:
    """'08:00-18:00' → (08:00, 18:00): the regular hours; before the first or from the second is 時間外."""
    try:
        start, end = (time.fromisoformat(part.strip()) for part in str(value).split("-"))
    except ValueError:
        fail(where, f"expected hours as 'HH:MM-HH:MM', got {value!r}")
    if not start < end:
        fail(where, f"the hours must start before they end: {value!r}")
    return start, end


def _time_addition(a: object, where: str, fail: Callable[[str, str], None]) -> TimeAddition:
    if not isinstance(a, dict) or not {"from", "amount", "regular_hours", "source"} <= set(a):
        fail(where, "missing required key 'from/amount/regular_hours/source'")
    extra = set(a) - {"from", "amount", "regular_hours", "source"}
    if extra:
        fail(where, f"unknown key(s) {sorted(map(str, extra))}; allowed: ['amount', 'from', 'regular_hours', 'source']")
    hours = a["regular_hours"]
    if not isinstance(hours, dict) or "weekdays" not in hours or set(hours) - {"weekdays", "saturdays"}:
        fail(where + ".regular_hours", "expected {weekdays: 'HH:MM-HH:MM', saturdays: 'HH:MM-HH:MM'}")
    try:
        since, amount = _date(a["from"], where), _yen(a["amount"], where)
    except FeeTableError as e:
        fail(where, str(e).split(": ", 1)[-1])
    return TimeAddition(since=since, amount=amount,
                        weekdays=_hours(hours["weekdays"], where + ".regular_hours.weekdays", fail),
                        saturdays=_hours(hours["saturdays"], where + ".regular_hours.saturdays", fail)
                        if "saturdays" in hours else None)
