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


def _on(out: set[int], x: int | None) -> None:
    """A first day (window start, age reached, date in force): the engine's "today < x" turns on x."""
    if x is not None and x != _FAR:
        out.add(x)


def _after(out: set[int], x: int | None) -> None:
    """A last day (window end, age limit, period end): the engine's "today > x" turns on the day after."""
    if x is not None and x != _FAR:
        out.add(x + 1)


def line_points(person: PersonFacts, rules: RuleSet, line: str, first: int, last: int) -> set[int]:
    """Ordinals in (first, last] where the rules of ``line`` may change the person's answer."""
    return points_by_line(person, rules, (line,), first, last).get(line, set())


def points_by_line(person: PersonFacts, rules: RuleSet, lines, first: int, last: int) -> dict[str, set[int]]:
    """``line_points`` for several lines at once (the person's dates are derived once).

    The same points as ``_entry_points`` (kept as the reference: tests/unit/test_eligibility_timeline.py
    compares both), from a per-rule-set digest of each entry (``_digest``): the points that do not
    depend on the person once per period, the age points once per distinct (kind, age)."""
    P = _Person(person, rules, cache={})
    wanted = set(lines)
    out: dict[str, set[int]] = {}
    for e in rules.entries:
        if e.code not in wanted:
            continue
        fixed, on_pt, after_pt, on_point, after_point, pregnancy = _digest(rules, e, first, last)
        pts = set(fixed)
        pt, point = P.pt, P.point
        for sc, sa in on_pt:
            _on(pts, pt(sc, sa))
        for sc, sa in after_pt:
            _after(pts, pt(sc, sa))
        for p in on_point:
            _on(pts, point(p, None))
        for p in after_point:
            _after(pts, point(p, None))
        for s in pregnancy:
            for edd in person.pregnancies:
                x = edd.toordinal()
                a, b = s.pregnancy_window(x)
                _on(pts, a)
                _after(pts, b)
                _on(pts, x)
        out[e.code] = {x for x in pts if first < x <= last}
    return out


def _digest(rules: RuleSet, entry, first: int, last: int) -> tuple:
    """An entry's points split by what they depend on: (points of the rules alone, compiled window
    points reached on / after, age points reached on / after, pregnancy series). Kept on the rule set
    (like its person_cache), per entry and period."""
    cache = rules.__dict__.setdefault("_timeline_digest", {})
    key = (entry.code, first, last)
    hit = cache.get(key)
    if hit is not None:
        return hit
    fixed: set[int] = set()
    on_pt: dict = {}
    after_pt: dict = {}
    on_point: dict = {}
    after_point: dict = {}
    pregnancy = []

    def pt_on(sc, sa):
        if sc == 2:  # PT_DATE: the same for everyone
            _on(fixed, sa)
        else:
            on_pt[(sc, sa)] = None

    if entry.clip is not None:
        _on(fixed, entry.clip[0])
        _after(fixed, entry.clip[1])
    for s in entry.series:
        lists = [s.population] if s.population is not None else []
        for path in s.paths or ():
            lists.extend(w for w in path.windows if w is not None)
            for t in path.targets:
                if t.min_age is not None and t.min_age[0] != "after":
                    on_point[t.min_age] = None
                for p in (t.max_age, t.skip_if[1] if t.skip_if is not None else None):
                    if p is not None and p[0] != "after":
                        after_point[p] = None
        for ws in lists:
            for (sc, sa, ec, ea, _sex, _cond, _bf, _bt, fy_lo, fy_hi, not_before, not_after,
                 _started) in ws.compiled:
                pt_on(sc, sa)
                if ec is not None:
                    if ec == 2:
                        _after(fixed, ea)
                    else:
                        after_pt[(ec, ea)] = None
                _on(fixed, fy_lo)
                _after(fixed, fy_hi)
                _on(fixed, not_before)
                _after(fixed, not_after)
        if s.seasonal and s.season is not None:
            for fy in range(_fy_of(first) - 1, _fy_of(last) + 2):
                _on(fixed, _fy_start(fy))
                a, b = _season(s, fy)
                _on(fixed, a)
                _after(fixed, b)
        if s.pregnancy:
            pregnancy.append(s)
        if s.not_before is not None:
            _on(fixed, s.not_before if isinstance(s.not_before, int) else s.not_before.toordinal())
    hit = cache[key] = (frozenset(x for x in fixed if first < x <= last), tuple(on_pt), tuple(after_pt),
                        tuple(on_point), tuple(after_point), tuple(pregnancy))
    return hit


def reference_points(person: PersonFacts, rules: RuleSet, lines, first: int, last: int) -> dict[str, set[int]]:
    """``points_by_line`` the plain way, walking every entry for every person (the reference)."""
    P = _Person(person, rules, cache={})
    wanted = set(lines)
    return {e.code: {x for x in _entry_points(e, P, person, first, last) if first < x <= last}
            for e in rules.entries if e.code in wanted}


def _entry_points(entry, P: _Person, person: PersonFacts, first: int, last: int) -> set[int]:
    out: set[int] = set()
    if entry.clip is not None:
        _on(out, entry.clip[0])
        _after(out, entry.clip[1])
    for s in entry.series:
        lists = [s.population] if s.population is not None else []
        for path in s.paths or ():
            lists.extend(w for w in path.windows if w is not None)
            for t in path.targets:
                # the standard period is only reported, never compared with today
                if t.min_age is not None and t.min_age[0] != "after":
                    _on(out, P.point(t.min_age, None))
                for p in (t.max_age, t.skip_if[1] if t.skip_if is not None else None):
                    if p is not None and p[0] != "after":
                        _after(out, P.point(p, None))  # _skip: "when > point"
        for ws in lists:
            for (sc, sa, ec, ea, _sex, _cond, _bf, _bt, fy_lo, fy_hi, not_before, not_after,
                 _started) in ws.compiled:
                _on(out, P.pt(sc, sa))
                if ec is not None:
                    _after(out, P.pt(ec, ea))
                _on(out, fy_lo)
                _after(out, fy_hi)
                _on(out, not_before)
                _after(out, not_after)
        if s.seasonal and s.season is not None:
            for fy in range(_fy_of(first) - 1, _fy_of(last) + 2):
                _on(out, _fy_start(fy))
                a, b = _season(s, fy)
                _on(out, a)
                _after(out, b)
        if s.pregnancy:
            for edd in person.pregnancies:
                e = edd.toordinal()
                a, b = s.pregnancy_window(e)
                _on(out, a)
                _after(out, b)
                _on(out, e)  # target selection reads pregnancies not yet delivered on as_of
        if s.not_before is not None:
            _on(out, s.not_before if isinstance(s.not_before, int) else s.not_before.toordinal())
    return out


def answer_points(e: EligibilityResult) -> Iterable[int]:
    """Days an answer itself names: it turns eligible on ``earliest`` and ends after ``legal_until``."""
    if e.earliest is not None:
        yield e.earliest.toordinal()
    if e.legal_until is not None and e.legal_until != date.max:
        yield e.legal_until.toordinal() + 1


def fact_points(doses: Iterable[date], edges: Iterable[tuple[date | None, date | None]], book_starts: Iterable[int],
                first: int, last: int) -> set[int]:
    """Days the person's facts may change an answer: each dose's date (counted from that day on), the
    (first, last) days of condition spans, and the first day of each rule book version."""
    out: set[int] = set()
    for d in doses:
        _on(out, d.toordinal())  # a dose dated after as_of is E_FUTURE, counted from its day on
    for first_day, last_day in edges:
        if first_day is not None:
            _on(out, first_day.toordinal())
        if last_day is not None:
            _after(out, last_day.toordinal())
    for x in book_starts:
        _on(out, x)
    return {x for x in out if first < x <= last}


def relevant_vaccines(rules: RuleSet, line: str) -> frozenset[str]:
    """The vaccine codes whose doses can change the answer of ``line``: those counted in its series, and,
    closing over combined vaccines (a DPT-IPV-Hib dose is judged in every series it counts in), those
    counted in any series such a vaccine counts in — plus every injected live vaccine when one of them
    is injected live (the 27-day rule). A dose of any other code leaves the line's answer as it was."""
    entry = next((e for e in rules.entries if e.code == line), None)
    if entry is None:
        return frozenset()
    series = {id(s) for s in entry.series}
    vaccines: set[str] = set(entry.vaccines or ())
    grown = True
    while grown:
        grown = False
        for v in rules.vaccines.values():
            if v.code not in vaccines and any(id(s) in series for s in v.series):
                vaccines.add(v.code)
                grown = True
            if v.code in vaccines:
                for s in v.series:
                    if id(s) not in series:
                        series.add(id(s))
                        grown = True
    if entry.live or any(rules.vaccines[c].live == "injected" for c in vaccines if c in rules.vaccines):
        vaccines |= {v.code for v in rules.vaccines.values() if v.live == "injected"}
    return frozenset(vaccines)
