"""Where a forecast can change with as_of: the days the eligibility table samples.

``evaluate`` answers for one ``as_of``. A person's answer for one line (status, next dose, earliest,
standard window, legal end) moves with as_of only where the engine compares ``today`` with a point:
a window's first day or the day after its last, an age limit (max_age, skip_if), a standard period,
a fiscal year or 定期 season edge, a product's 定期 period (Entry.clip), a pregnancy's window, a
dose's date (later doses are E_FUTURE, not counted), an interval from a dose (seen as the answer's
``earliest``), a rule book version's first day or a condition's span. Between two consecutive
points of that set the answer is the same, so evaluating once at each point (and at the start of
the period) gives the answer for every day of the period.

``line_points`` lists the points the rules and the person's facts give; the caller adds the
answer-derived ones (earliest, legal_until + 1) as it samples (``answer_points``). Pure: no database.
"""
from __future__ import annotations

from datetime import date
from typing import Iterable

from .engine import _FAR, EligibilityResult, PersonFacts, _fy_of, _fy_start, _Person, _season
from .rules import RuleSet


def _add(out: set[int], x: int | None) -> None:
    # both the point and the next day: "today < x" turns at x, "today > x" at x + 1
    if x is not None and x != _FAR:
        out.add(x)
        out.add(x + 1)


def line_points(person: PersonFacts, rules: RuleSet, line: str, first: int, last: int) -> set[int]:
    """Ordinals in (first, last] where the rules of ``line`` may change the person's answer."""
    entry = next((e for e in rules.entries if e.code == line), None)
    out: set[int] = set()
    if entry is None:
        return out
    P = _Person(person, rules, cache={})
    if entry.clip is not None:
        _add(out, entry.clip[0])
        _add(out, entry.clip[1])
    for s in entry.series:
        lists = [s.population] if s.population is not None else []
        for path in s.paths or ():
            lists.extend(w for w in path.windows if w is not None)
            for t in path.targets:
                for p in (t.min_age, t.max_age, t.standard_from, t.standard_to,
                          t.skip_if[1] if t.skip_if is not None else None):
                    if p is not None and p[0] != "after":
                        _add(out, P.point(p, None))
        for ws in lists:
            for (sc, sa, ec, ea, _sex, _cond, _bf, _bt, fy_lo, fy_hi, not_before, not_after,
                 _started) in ws.compiled:
                _add(out, P.pt(sc, sa))
                if ec is not None:
                    _add(out, P.pt(ec, ea))
                for x in (fy_lo, fy_hi, not_before, not_after):
                    _add(out, x)
        if s.seasonal and s.season is not None:
            for fy in range(_fy_of(first) - 1, _fy_of(last) + 2):
                _add(out, _fy_start(fy))
                a, b = _season(s, fy)
                _add(out, a)
                _add(out, b)
        if s.pregnancy:
            for edd in person.pregnancies:
                e = edd.toordinal()
                a, b = s.pregnancy_window(e)
                _add(out, a)
                _add(out, b)
                _add(out, e)  # target selection reads pregnancies not yet delivered on as_of
        if s.not_before is not None:
            _add(out, s.not_before if isinstance(s.not_before, int) else s.not_before.toordinal())
    return {x for x in out if first < x <= last}


def answer_points(e: EligibilityResult) -> Iterable[int]:
    """Days an answer itself names: it turns eligible on ``earliest`` and ends after ``legal_until``."""
    for d in (e.earliest, e.standard_from):
        if d is not None:
            yield d.toordinal()
    for d in (e.legal_until, e.standard_until):
        if d is not None and d != date.max:
            yield d.toordinal() + 1


def fact_points(doses: Iterable[date], edges: Iterable[date | None], book_starts: Iterable[int],
                first: int, last: int) -> set[int]:
    """Days the person's facts may change an answer: each dose's date (counted from that day on), the
    edges of condition spans, and the first day of each rule book version."""
    out: set[int] = set()
    for d in doses:
        _add(out, d.toordinal())
    for d in edges:
        if d is not None:
            _add(out, d.toordinal())
    for x in book_starts:
        _add(out, x)
    return {x for x in out if first < x <= last}
