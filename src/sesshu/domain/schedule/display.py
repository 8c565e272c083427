"""Showing 接種可能範囲 to staff: one row per shot to give, not one per product that could give it.

The engine answers per vaccine code, so a baby on 五種混合 is "eligible" for 五種混合, 四種混合, 三種混合,
不活化ポリオ and ヒブ at once — all true (any of them may be used) but five rows for one shot. Here a
line is folded into the row of the product the person is on (the latest dose of the family; with no
dose yet, the usual product) when it protects against nothing more and says the same thing (same
status, next dose and dates). The folded products stay visible as alternatives.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

# Antigens each product protects against (the components of the combined vaccines).
ANTIGENS: dict[str, frozenset[str]] = {
    "DPTIPVHIB": frozenset({"D", "P", "T", "IPV", "HIB"}),
    "DPTIPV": frozenset({"D", "P", "T", "IPV"}),
    "DPT": frozenset({"D", "P", "T"}),
    "IPV": frozenset({"IPV"}),
    "HIB": frozenset({"HIB"}),
    "MR": frozenset({"M", "R"}),
    "MEASLES": frozenset({"M"}),
    "RUBELLA": frozenset({"R"}),
}
# Product families, the usual product first (used when the person has no dose of the family yet).
FAMILIES: tuple[tuple[str, ...], ...] = (
    ("DPTIPVHIB", "DPTIPV", "DPT", "IPV", "HIB"),
    ("MR", "MEASLES", "RUBELLA"),
)


@dataclass
class DisplayLine:
    line: object  # the engine's eligibility line (vaccine, next_dose, status, earliest, ...)
    alternatives: list[str] = field(default_factory=list)  # vaccine codes folded into this row
    # Same next dose of a product the person's usual product contains, but other dates (e.g. ヒブ ends
    # at 5 years, 五種混合 later): kept as its own row, marked as given with that product.
    included_in: str | None = None


def _same_answer(a, b) -> bool:
    return (a.status, a.next_dose, a.earliest, a.legal_until) == (b.status, b.next_dose, b.earliest, b.legal_until)


def fold_alternatives(lines: list, latest_dose: dict[str, date]) -> list[DisplayLine]:
    """Rows for staff, in the engine's order. `latest_dose`: vaccine code → date of the person's latest dose."""
    by_code = {line.vaccine: line for line in lines}
    folded: dict[str, str] = {}  # folded code → code of the row that carries it
    included: dict[str, str] = {}
    for family in FAMILIES:
        present = [c for c in family if c in by_code]
        if not present:
            continue
        used = [c for c in present if c in latest_dose]
        main = max(used, key=lambda c: latest_dose[c]) if used else present[0]
        for code in present:
            if code == main or not ANTIGENS[code] <= ANTIGENS[main]:
                continue
            a, b = by_code[code], by_code[main]
            if _same_answer(a, b):
                folded[code] = main
            elif (a.status, a.next_dose) == (b.status, b.next_dose) and a.status in ("eligible", "not_yet"):
                included[code] = main
    rows: dict[str, DisplayLine] = {}
    out: list[DisplayLine] = []
    for line in lines:
        if line.vaccine in folded:
            continue
        rows[line.vaccine] = DisplayLine(line, included_in=included.get(line.vaccine))
        out.append(rows[line.vaccine])
    for code, main in folded.items():
        rows[main].alternatives.append(code)
    for row in out:  # keep the family's order, not the folding order
        row.alternatives.sort(key=lambda c: next(f.index(c) for f in FAMILIES if c in f))
    return out


# How far the person page looks around today for lines that are not open (display choices, not law):
# an expired line is worth a look for two years (a dose just missed: 長期療養特例, a late claim), a
# line opening within three years is worth knowing; beyond that a line says nothing about this person.
RECENTLY_EXPIRED_DAYS = 2 * 365
COMING_DAYS = 3 * 365


def is_open(line, as_of: date) -> bool:
    """Lines staff act on now: eligible, or becoming eligible within a year."""
    if line.status == "eligible":
        return True
    return line.status == "not_yet" and line.earliest is not None and (line.earliest - as_of).days <= 365


def applies_to_person(line, as_of: date, dosed: set[str] | frozenset[str]) -> bool:
    """Whether a line that is not open says something about this person (dosed: vaccine codes with a dose).

    The engine answers every line for everyone: HPV is 「完了」 for a man (nothing to give), ヒブ is
    「期限切れ」 since 1958 for a 73-year-old, 高齢者インフルエンザ opens in 2090 for a baby. Those lines
    are not shown (nor offered on a ticket); a line with a dose of the person always is."""
    if line.vaccine in dosed:
        return True
    if line.status == "eligible":
        return True
    if line.status == "expired":
        return line.legal_until is not None and (as_of - line.legal_until).days <= RECENTLY_EXPIRED_DAYS
    if line.status == "not_yet":
        return line.earliest is not None and (line.earliest - as_of).days <= COMING_DAYS
    return False  # 「完了」 without a dose of its own: complete through another product, or never applicable
