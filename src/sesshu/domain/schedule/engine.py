"""Evaluate a person's vaccination history and forecast the next dose of every series.

The walk follows CDSi: doses are taken in date order; each dose is checked for impossibility,
the live-vaccine conflict, then against the next target dose of every series its vaccine counts
toward (skipping targets whose conditions say so), and is counted only when valid.  Japan's legal
window then decides 定期 (``valid``) versus 任意 (``voluntary``).  All dates are handled as
ordinals internally; the calendar conventions come from ``sesshu.domain.jdates``.

Speed (a city's batch evaluates every resident; most have few or no doses):

* birth-relative points are list look-ups in month tables (``_Person.pt``); window lists are
  precompiled to tuples (``WindowList.compiled``) and the spans of windows that depend on the
  birth date only through the fiscal year of reach(N歳) are shared (``rules.fy_windows_cache``);
* an eligibility line with no dose of its series ("fresh") whose rules have a *shape*
  (``rules._shape``) is answered once per birth month (days 2–28 or 4–26), conditions and, when
  it matters, sex: its dates either move with the birth date or are fixed, which is found by
  comparing two persons of the month (``_shape_answer``) and proved by the shape's conditions;
  ``tests/unit/schedule/test_engine_caches.py`` checks the answers against the plain walk;
* eligibility lines (a frozen dataclass) are built with their slots filled directly
  (``_slot_constructor``);
* ``evaluate_many`` (the batch) groups persons by (birth date, sex, conditions): a group shares
  one ``_Person`` (its points, windows and the answers of lines with no dose), and its members
  with no dose at all share the whole forecast; ``tests/unit/schedule/test_batch.py`` compares
  every result with ``evaluate``.
"""

from __future__ import annotations

import calendar
import gc
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from sesshu.domain import jdates

from .codes import CODES, reason
from .rules import RuleSet, SeriesPath, Series, Target, default_rules, norm_product

__all__ = [
    "DoseFacts",
    "DoseResult",
    "EligibilityResult",
    "Evaluation",
    "PersonFacts",
    "evaluate",
    "evaluate_many",
]

VALID, VOLUNTARY, INVALID = "valid", "voluntary", "invalid"
COMPLETE, ELIGIBLE, NOT_YET, EXPIRED = "complete", "eligible", "not_yet", "expired"
_FAR = date(9999, 12, 31).toordinal()
_LIVE_GAP = 28  # "27日以上の間隔": the next injected live vaccine on/after prev + 28 days
_PERSON_CACHE_MAX = 4096  # persons (birth, sex, conditions) whose derived dates stay cached
_FY_WINDOWS_CACHE_MAX = 50_000  # (window list, fiscal-year offset, sex, conditions) spans
_TRANSLATED_CACHE_MAX = 10_000  # (birth month, conditions) classes of shape answers


@dataclass(frozen=True, slots=True)
class PersonFacts:
    birth_date: date
    sex: str  # "M" | "F"
    conditions: frozenset[str] = frozenset()
    # 妊娠届: the expected delivery date (出産予定日 = 妊娠40週0日) of each pregnancy on record
    pregnancies: tuple[date, ...] = ()


@dataclass(frozen=True, slots=True)
class DoseFacts:
    vaccine: str
    date: date
    product: str | None = None


@dataclass(slots=True)
class DoseResult:
    vaccine: str
    date: date
    status: str
    dose_number: int | None
    codes: tuple[str, ...]
    reasons: tuple[str, ...]
    series: tuple[str, ...]  # ids of the series the dose was counted in


@dataclass(frozen=True, slots=True)
class EligibilityResult:
    vaccine: str
    next_dose: int | None
    status: str
    earliest: date | None
    standard_from: date | None
    standard_until: date | None
    legal_until: date | None


@dataclass(slots=True)
class Evaluation:
    doses: list[DoseResult] = field(default_factory=list)
    eligibility: list[EligibilityResult] = field(default_factory=list)


def _slot_constructor(cls):
    """A positional constructor for a slots dataclass that fills the slots directly.

    It builds exactly what ``cls(...)`` builds (the generated ``__init__`` of a frozen dataclass
    sets every field with ``object.__setattr__``; this uses the slot descriptors, about twice
    as fast).  Only for classes without ``__post_init__`` or defaults that compute anything.
    """
    import dataclasses
    names = [f.name for f in dataclasses.fields(cls)]
    setters = [cls.__dict__[n].__set__ for n in names]
    args = ", ".join(names)
    body = "".join(f"    _s{i}(o, {n})\n" for i, n in enumerate(names))
    src = f"def make({args}):\n    o = _new(_cls)\n{body}    return o\n"
    ns = {"_new": object.__new__, "_cls": cls, **{f"_s{i}": s for i, s in enumerate(setters)}}
    exec(src, ns)  # noqa: S102 - generated from the dataclass' own field names
    return ns["make"]


_new_line = _slot_constructor(EligibilityResult)  # frozen: its __init__ is the slow kind

# ---------------------------------------------------------------------------------------------


# Ordinals of the 1st of every month of years _Y0.._Y1 (index: year * 12 + month - 1 - _K0) and
# of every April 1st (fiscal-year starts), so the person's points are list look-ups, not dates.
_Y0, _Y1 = 1600, 2600
_K0 = _Y0 * 12
_MS = [date(y, m, 1).toordinal() for y in range(_Y0, _Y1 + 1) for m in range(1, 13)]
_KN = len(_MS) - 1  # the last index usable as "first" (its successor is needed for the length)
_APR1 = [date(y, 4, 1).toordinal() for y in range(_Y0, _Y1 + 2)]


class _Person:
    __slots__ = ("birth", "b", "sex", "conditions", "cache", "k", "day", "fy0", "fy_cache", "seen",
                 "pregnancies")

    def __init__(self, p: PersonFacts, rules: RuleSet, cache: dict | None = None):
        birth = self.birth = p.birth_date
        # Not part of any cache key: only pregnancy series read them, and their lines are never
        # shared between persons (rules.Entry.pregnancy).
        self.pregnancies = tuple(sorted({d.toordinal() for d in p.pregnancies}))
        self.b = birth.toordinal()
        self.sex = p.sex
        self.conditions = p.conditions
        self.k = birth.year * 12 + birth.month - 1 - _K0  # month index into _MS
        self.day = birth.day
        # reach(N歳) falls in fiscal year fy0 + N: April-1 births reach N on 3/31 (the FY before)
        self.fy0 = birth.year if birth.month > 4 or (birth.month == 4 and birth.day > 1) \
            else birth.year - 1
        # Everything cached here is a pure function of (birth, sex, conditions) and the rules,
        # so the cache is shared by every evaluation of a person with the same facts.
        self.fy_cache = rules.fy_windows_cache
        if cache is not None:  # a private cache (not shared with other evaluations)
            self.cache = cache
            self.seen = False
            return
        key = (self.b, p.sex, p.conditions)
        pc = rules.person_cache
        cache = pc.get(key)
        self.seen = cache is not None  # a person with the same facts was evaluated lately
        if cache is None:
            if len(pc) >= _PERSON_CACHE_MAX:
                # Drop the older half at once (dicts keep insertion order): popping the first
                # key one at a time makes every later pop scan the deleted slots.  Threads may
                # race here; the worst outcome is a recomputation, so fall back to clearing.
                try:
                    for k in list(itertools.islice(pc, _PERSON_CACHE_MAX // 2)):
                        pc.pop(k, None)
                except RuntimeError:
                    pc.clear()
            cache = pc[key] = {}
        self.cache = cache

    def reach(self, n: int) -> int:
        """reach(生後n月) as an ordinal (jdates.reach_months_ordinal)."""
        i = self.k + n
        if 0 <= i < _KN:
            first = _MS[i]
            length = _MS[i + 1] - first
            day = self.day
            return first + length - 1 if day > length else first + day - 2
        return jdates.reach_months_ordinal(self.birth, n)

    def point(self, p, st: _State | None) -> int | None:
        k = p[0]
        if k == "m":
            if self.seen:  # the same facts again: the point is probably cached
                r = self.cache.get(p)
                if r is not None:
                    return r
            i = self.k + p[1]
            if 0 <= i < _KN:
                first = _MS[i]
                length = _MS[i + 1] - first
                day = self.day
                r = first + length - 1 if day > length else first + day - 2
            else:
                r = jdates.reach_months_ordinal(self.birth, p[1])
            if self.seen:
                self.cache[p] = r
            return r
        if k == "d":
            return self.b + p[1]
        if k == "after":
            ref = st.ref(p[1]) if st is not None else None
            if ref is None:
                return None
            if p[2]:
                return jdates.after_months_interval_ordinal(ref, p[2]) + p[3]
            return ref + p[3] + 1
        if k == "date":
            return p[1]
        if k == "fys":
            return _fy_start(self.fy0 + p[1])
        if k == "fye":
            return _fy_start(self.fy0 + p[1] + 1) - 1
        if k == "ye":
            return self.reach(12 * (p[1] + 1)) - 1
        raise ValueError(f"unknown point kind {k}")  # pragma: no cover - loader emits the above

    def pt(self, c: int, a: int) -> int:
        """A compiled window point (rules.compile_point) as an ordinal."""
        if c == 0 or c == 5:  # PT_MONTHS, PT_YE
            i = self.k + a
            if 0 <= i < _KN:
                first = _MS[i]
                length = _MS[i + 1] - first
                day = self.day
                r = first + length - 1 if day > length else first + day - 2
            else:
                r = jdates.reach_months_ordinal(self.birth, a)
            return r if c == 0 else r - 1
        if c == 1:  # PT_DAYS
            return self.b + a
        if c == 2:  # PT_DATE
            return a
        if c == 3:  # PT_FYS
            return _fy_start(self.fy0 + a)
        return _fy_start(self.fy0 + a + 1) - 1  # PT_FYE

    def windows(self, ws, st: _State | None) -> list[tuple[int, int]]:
        """The person's legal windows from a window list: filtered, clipped, merged."""
        key = (id(ws), st.counted[0][0] if st is not None and st.counted else None) \
            if ws.dynamic else id(ws)
        out = self.cache.get(key)
        if out is not None:
            return out
        pt = self.pt
        if ws.simple:
            sc, sa, ec, ea = ws.compiled[0][:4]
            s = pt(sc, sa)
            e = pt(ec, ea) if ec is not None else _FAR
            out = self.cache[key] = [(s, e)] if s <= e else []
            return out
        fy_part = ws.fy_part
        if fy_part:
            fkey = (id(ws), self.fy0, self.sex, self.conditions)
            fcache = self.fy_cache
            fspans = fcache.get(fkey)
            if fspans is None:
                if len(fcache) >= _FY_WINDOWS_CACHE_MAX:
                    fcache.clear()
                fspans = fcache[fkey] = _merge(self._spans(fy_part, st))
            if not ws.exact_part:
                self.cache[key] = fspans
                return fspans
            spans = self._spans(ws.exact_part, st)
            if not spans:
                self.cache[key] = fspans
                return fspans
            spans += fspans
        else:
            spans = self._spans(ws.compiled, st)
        merged = self.cache[key] = _merge(spans)
        return merged

    def _spans(self, compiled, st: _State | None) -> list[tuple[int, int]]:
        """The (start, end) ordinals of the compiled windows that apply to the person."""
        spans = []
        pt = self.pt
        sex, conditions, b = self.sex, self.conditions, self.b
        for (sc, sa, ec, ea, w_sex, cond, born_from, born_to, fy_lo, fy_hi, not_before,
             not_after, started_by) in compiled:
            if w_sex is not None and w_sex != sex:
                continue
            if cond is not None and cond not in conditions:
                continue
            if born_from is not None and b < born_from:
                continue
            if born_to is not None and b > born_to:
                continue
            if started_by is not None and not (
                    st is not None and st.counted and st.counted[0][0] <= started_by):
                continue
            s = pt(sc, sa)
            e = pt(ec, ea) if ec is not None else _FAR
            if fy_lo is not None:
                if fy_lo > s:
                    s = fy_lo
                if fy_hi < e:
                    e = fy_hi
            if not_before is not None and s < not_before:
                s = not_before
            if not_after is not None and e > not_after:
                e = not_after
            if s <= e:
                spans.append((s, e))
        return spans


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort and merge spans that overlap or touch (the union as inclusive day ranges)."""
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1] + 1:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _fy_start(fy: int) -> int:
    i = fy - _Y0
    if 0 <= i < len(_APR1):
        return _APR1[i]
    r = _FY_START.get(fy)
    if r is None:
        r = _FY_START[fy] = jdates.fiscal_year_start(fy).toordinal()
    return r


def _fy_end(fy: int) -> int:
    return _fy_start(fy + 1) - 1


_FY_START: dict[int, int] = {}


def _fy_of(o: int) -> int:
    d = date.fromordinal(o)
    return d.year if d.month >= 4 else d.year - 1  # jdates.fiscal_year, inlined for speed


class _State:
    """Per-series walk state: doses administered, doses counted, the next target."""

    __slots__ = ("admin", "counted", "next_idx", "fys", "path")

    def __init__(self):
        self.admin: list[int] = []
        self.counted: list[tuple[int, str, int]] = []  # (ordinal, vaccine, dose number)
        self.next_idx = 0
        self.fys: set[int] = set()
        self.path: SeriesPath | None = None  # fixed once the first counted dose decides it

    def ref(self, which) -> int | None:
        if which == "previous":
            return self.admin[-1] if self.admin else None
        if which == "last_valid":
            return self.counted[-1][0] if self.counted else None
        for o, _v, n in self.counted:
            if n == which:
                return o
        return None


_EMPTY = _State()  # shared, never mutated: the state of a series with no doses
_EMPTY_OUTS = [(_EMPTY,) * n for n in range(8)]  # the states of a line with no doses
_DONE = (None, COMPLETE, None, None, None, None)
_NO_CODES: list = []  # shared and never mutated


def _iso(o: int) -> str:
    return date.fromordinal(o).isoformat()


def _describe_interval(p) -> str:
    _k, ref, months, days = p
    src = {"previous": "前回接種", "last_valid": "直前の有効接種"}.get(ref, f"第{ref}回接種")
    span = (f"{months}月" if months else "") + (f"{days}日" if days else "")
    return f"{src}から{span}以上の間隔"


def _select_path(s: Series, P: _Person, st: _State, cand: int | None, cand_v: str | None,
                 hint: str | None = None) -> SeriesPath:
    paths = s.paths
    if len(paths) == 1:
        return paths[0]
    if st.counted:
        f_ord, f_v = st.counted[0][0], st.counted[0][1]
        second = st.counted[1][0] if len(st.counted) > 1 else cand
    elif cand is not None:
        f_ord, f_v, second = cand, cand_v, None
    else:
        f_ord, f_v, second = None, hint, None
    for p in paths:
        if p.first_vaccines is not None and f_v is not None and f_v not in p.first_vaccines:
            continue
        if f_ord is not None:
            if p.first_after is not None and f_ord <= P.point(p.first_after, None):
                continue
            if p.first_until is not None and f_ord > P.point(p.first_until, None):
                continue
        if p.second_after is not None and second is not None and f_ord is not None:
            _k, _r, months, days = p.second_after
            req = (jdates.after_months_interval_ordinal(f_ord, months) + days
                   if months else f_ord + days + 1)
            if second < req:
                continue
        return p
    return paths[0]


def _skip(t: Target, P: _Person, st: _State, when: int) -> bool:
    if t.max_age is not None and when > P.point(t.max_age, None):
        return True
    if t.skip_if is not None:
        ref = st.ref(t.skip_if[0])
        if ref is not None and ref > P.point(t.skip_if[1], None):
            return True
    return False


def _eval_series(s: Series, P: _Person, st: _State, d: int, v: str):
    """(status, dose number, [(code, detail)], target index) of dose ``d`` in series ``s``."""
    if s.seasonal:
        return _eval_seasonal(s, P, st, d)
    if s.pregnancy:
        return _eval_pregnancy(s, P, st, d)
    admin = st.admin
    if s.once_ever and admin:
        return INVALID, None, [("E_SERIES_COMPLETE", f"{s.name}は生涯1回（既に接種歴あり）")], None
    path = st.path or _select_path(s, P, st, d, v)
    tg = path.targets
    n = len(tg)
    i = st.next_idx
    if i >= n:
        return INVALID, None, [("E_SERIES_COMPLETE", f"{s.name}（{path.name}）は{n}回で完了")], None
    t = tg[i]
    if i + 1 < n and (t.may_skip or path.next_term_index[i] is not None):
        i = _advance(path, P, st, d, i)
        t = tg[i]
    if admin:
        prev = admin[-1]
        if d <= prev:
            return INVALID, None, [("E_INTERVAL_TOO_SHORT", f"{s.name}を同日に重ねて接種")], i
        gap = t.gap
        if gap is not None:  # a single "X日以上" from the previous dose
            if d < prev + gap:
                return INVALID, None, [_short(s, t, t.intervals[0], prev + gap)], i
        else:
            for p in t.intervals:
                req = P.point(p, st)
                if req is not None and d < req:
                    return INVALID, None, [_short(s, t, p, req)], i
    if s.continuity and st.counted:
        first = st.counted[0][1]
        allowed = s.continuity.get(first)
        if allowed is not None and v not in allowed:
            return INVALID, None, [("E_WRONG_PRODUCT", f"{first}で開始した{s.name}は"
                                    f"{'・'.join(sorted(allowed))}で完了する")], i
    if s.sex is not None and P.sex != s.sex:
        return VOLUNTARY, None, [("W_OUTSIDE_LEGAL_WINDOW", f"{s.name}の定期接種対象外"),
                                 ("W_NOT_TARGET_GROUP", f"{s.name}の定期接種は性別{s.sex}のみ")], i
    ws = P.windows(path.windows[t.term], st)
    for a, b in ws:
        if a <= d <= b:
            break
    else:
        term = s.terms[t.term]
        span = "、".join(f"{_iso(a)}〜{_iso(b) if b != _FAR else ''}" for a, b in ws) or "該当なし"
        return VOLUNTARY, None, [("W_OUTSIDE_LEGAL_WINDOW",
                                  f"{s.name} {term.name}の定期接種期間は{span}〔{term.source}〕")], i
    if t.min_age is not None:
        lo = P.point(t.min_age, None)
        if d < lo:
            return INVALID, None, [("E_BOOSTER_TOO_EARLY",
                                    f"{s.name} {t.name}は{_iso(lo)}以降〔{t.source}〕")], i
    return VALID, t.number, _NO_CODES, i


def _advance(path: SeriesPath, P: _Person, st: _State, d: int, i: int) -> int:
    """Skip series doses that a dose on ``d`` passes (CDSi conditional skip, expired terms)."""
    tg = path.targets
    n = len(tg)
    while i + 1 < n:
        t = tg[i]
        if t.may_skip and _skip(t, P, st, d):
            i += 1
            continue
        j = path.next_term_index[i]
        if j is not None:
            ws = P.windows(path.windows[t.term], st)
            if not ws or ws[-1][1] < d:
                i = j
                continue
        break
    return i


def _short(s: Series, t: Target, p, req: int) -> tuple[str, str]:
    return ("E_INTERVAL_TOO_SHORT",
            f"{s.name} {t.name}は{_describe_interval(p)}が必要（{_iso(req)}以降）〔{t.source}〕")


def _season(s: Series, fy: int) -> tuple[int, int]:
    """The series' 定期 season in fiscal year ``fy`` as ordinals (memoised per series)."""
    key = (s.season, fy)
    r = _SEASONS.get(key)
    if r is None:
        (sm, sd), (em, ed) = s.season
        sy, ey = (fy if sm >= 4 else fy + 1), (fy if em >= 4 else fy + 1)
        # a season edge on 02-29 falls on 02-28 in common years
        start = date(sy, sm, sd if (sm, sd) != (2, 29) or calendar.isleap(sy) else 28)
        end = date(ey, em, ed if (em, ed) != (2, 29) or calendar.isleap(ey) else 28)
        r = _SEASONS[key] = (start.toordinal(), end.toordinal())
    return r


_SEASONS: dict[tuple, tuple[int, int]] = {}


def _eval_seasonal(s: Series, P: _Person, st: _State, d: int):
    fy = _fy_of(d)
    if fy in st.fys:
        return INVALID, None, [("E_SEASON_DUPLICATE", f"{s.name}は{fy}年度に接種済み")], None
    a, b = _season(s, fy)
    if not a <= d <= b:
        return VOLUNTARY, None, [
            ("W_OUTSIDE_LEGAL_WINDOW", f"{s.name}の{fy}年度の実施期間は{_iso(a)}〜{_iso(b)}"),
            ("W_OUTSIDE_SEASON", f"{_iso(a)}〜{_iso(b)}")], None
    for a, b in P.windows(s.population, st):
        if a <= d <= b:
            return VALID, 1, [], None
    return VOLUNTARY, None, [("W_OUTSIDE_LEGAL_WINDOW", f"{s.name}の定期接種対象外"),
                             ("W_NOT_TARGET_GROUP", f"{s.name}の対象年齢・要件〔{s.source}〕")], None


def _eval_pregnancy(s: Series, P: _Person, st: _State, d: int):
    """A dose of a pregnancy series: 定期 inside one pregnancy's window, once per pregnancy.
    The fourth value is the pregnancy's expected delivery date (what ``st.fys`` then holds)."""
    if P.sex != "F" or not P.pregnancies:
        return VOLUNTARY, None, [("W_OUTSIDE_LEGAL_WINDOW", f"{s.name}の定期接種対象外"),
                                 ("W_NOT_TARGET_GROUP", f"妊娠届（出産予定日）の記録がありません〔{s.source}〕")], None
    spans = []
    for edd in P.pregnancies:
        a, b = s.pregnancy_window(edd)
        if a <= d <= b:
            if edd in st.fys:
                return INVALID, None, [("E_SERIES_COMPLETE",
                                        f"{s.name}は妊娠ごとに1回（出産予定日{_iso(edd)}の妊娠で接種済み）")], edd
            return VALID, 1, _NO_CODES, edd
        if a <= b:
            spans.append(f"{_iso(a)}〜{_iso(b)}（出産予定日{_iso(edd)}）")
    return VOLUNTARY, None, [("W_OUTSIDE_LEGAL_WINDOW",
                              f"{s.name}の定期接種期間は{'、'.join(spans) or '該当なし'}〔{s.gestation[2]}〕")], None


def _forecast_pregnancy(s: Series, P: _Person, st: _State, today: int):
    """The window of the first pregnancy on record not yet vaccinated whose window has not
    passed; the last missed one when all have passed; complete with none open."""
    if P.sex != "F":
        return _DONE
    last = None
    for edd in P.pregnancies:
        if edd in st.fys:
            continue
        a, b = s.pregnancy_window(edd)
        if a > b:
            continue
        if today <= b:
            return 1, NOT_YET if today < a else ELIGIBLE, a, None, None, b
        last = (a, b)
    if last is not None and not any(e > last[1] for e in st.fys):
        return 1, EXPIRED, last[0], None, None, last[1]
    return _DONE


def _clip(ws: list[tuple[int, int]], clip) -> list[tuple[int, int]]:
    """Windows cut to a product's 定期 period (rules.Entry.clip)."""
    lo, hi = clip
    out = []
    for a, b in ws:
        if lo is not None and a < lo:
            a = lo
        if hi is not None and b > hi:
            b = hi
        if a <= b:
            out.append((a, b))
    return out


def _forecast(s: Series, P: _Person, st: _State, today: int, product: str | None, clip=None):
    """(next dose, status, earliest, standard_from, standard_until, legal_until) as ordinals."""
    if s.seasonal:
        return _forecast_seasonal(s, P, st, today, clip)
    if s.pregnancy:
        return _forecast_pregnancy(s, P, st, today)
    done = _DONE
    if (s.sex is not None and P.sex != s.sex) or (s.once_ever and st.admin):
        return done
    if product is not None and s.continuity and st.counted:
        allowed = s.continuity.get(st.counted[0][1])
        if allowed is not None and product not in allowed:
            return done
    path = st.path
    if path is None:
        paths = s.paths
        path = paths[0] if len(paths) == 1 else _select_path(s, P, st, None, None, product)
    tg = path.targets
    n = len(tg)
    i = st.next_idx
    admin = st.admin
    while i < n:
        t = tg[i]
        if admin:  # with no dose administered, every interval is still open
            base = admin[-1] + 1
            for p in t.intervals:
                r = P.point(p, st)
                if r is not None and r > base:
                    base = r
        else:
            base = None
        if t.min_age is not None:
            r = P.point(t.min_age, None)
            if base is None or r > base:
                base = r
        lo = today if base is None or today > base else base
        if i + 1 < n and t.may_skip and _skip(t, P, st, lo):
            i += 1
            continue
        ws = P.windows(path.windows[t.term], st)
        if clip is not None:
            cut = _clip(ws, clip)
            # a window that ended before the product's 定期 period began stays "expired"
            if cut or not ws or clip[0] is None or ws[-1][1] >= clip[0]:
                ws = cut
        for a, b in ws:
            if b >= lo:
                break
        else:
            j = path.next_term_index[i]
            if j is not None:
                i = j
                continue
            if not ws:
                return done
            a, b = ws[-1]
        earliest = a if base is None or a > base else base
        if today < earliest and earliest <= b:
            status = NOT_YET
        elif today > b or earliest > b:
            status = EXPIRED
        else:
            status = ELIGIBLE
        sf = P.point(t.standard_from, st) if t.standard_from is not None else None
        su = P.point(t.standard_to, st) if t.standard_to is not None else None
        return t.number, status, earliest, sf, su, b
    return done


def _forecast_seasonal(s: Series, P: _Person, st: _State, today: int, clip=None):
    ws = P.windows(s.population, st)
    if clip is not None:
        ws = _clip(ws, clip)
    if not ws:
        return _DONE
    fy = max(_fy_of(today), _fy_of(ws[0][0]))
    last_fy = _fy_of(ws[-1][1]) if ws[-1][1] != _FAR else fy + 200
    while fy <= last_fy:
        a, b = _season(s, fy)
        if fy in st.fys or today > b:
            fy += 1
            continue
        for x, y in ws:
            if x <= b and y >= a:
                lo, hi = max(x, a), min(y, b)
                if today <= hi:
                    return 1, NOT_YET if today < lo else ELIGIBLE, lo, None, None, hi
        fy += 1
    a, b = ws[-1]
    return 1, EXPIRED, a, None, None, b


def _merge_entry(results):
    """One line for several antigen series (MR = measles + rubella): the least advanced one."""
    open_ = [r for r in results if r[1] != COMPLETE]
    if not open_:
        return results[0]
    return min(open_, key=lambda r: (r[0] or 0, r[2] or 0))


def evaluate(person: PersonFacts, doses: list[DoseFacts], as_of: date,
             rules: RuleSet | None = None, *, lines: frozenset[str] | None = None) -> Evaluation:
    """Evaluate ``doses`` (any order) and forecast every series as of ``as_of``.

    ``Evaluation.doses`` follows the input order: status ``valid`` (counted, with its dose
    number), ``voluntary`` (任意: outside the legal window, not counted) or ``invalid`` (codes
    and Japanese reasons say why). ``Evaluation.eligibility`` has one line per vaccine code or
    series (``rules.entries``) describing the next dose due. Pass ``rules`` from
    ``load_rules`` for municipal overrides or pandemic files; the default rules are cached.
    ``lines`` limits the forecast to those eligibility lines (every dose is still evaluated, so
    cross-vaccine rules hold); 対象者選定 asks for one line across a whole city.
    """
    rules = rules or default_rules()
    return _evaluate(_Person(person, rules), person, doses, as_of, as_of.toordinal(), rules, lines)


def _evaluate(P: _Person, person: PersonFacts, doses, as_of: date, today: int, rules: RuleSet,
              lines: frozenset[str] | None) -> Evaluation:
    """The walk of ``evaluate`` for a person whose derived dates are ``P`` (shared or not)."""
    states: dict[str, _State] = {}
    results: list[DoseResult | None] = [None] * len(doses)
    ords = [x.date.toordinal() for x in doses]
    order = sorted(range(len(doses)), key=ords.__getitem__)
    live: list[tuple[int, str]] = []
    vaccines = rules.vaccines
    for k in order:
        dose = doses[k]
        code = dose.vaccine
        vac = vaccines.get(code)
        d = ords[k]
        pre = None
        if vac is None:
            pre = ("E_UNKNOWN_VACCINE", code)
        elif d < P.b:
            pre = ("E_BEFORE_BIRTH", f"接種日{dose.date.isoformat()}・生年月日{person.birth_date.isoformat()}")
        elif d > today:
            pre = ("E_FUTURE", f"接種日{dose.date.isoformat()}・基準日{as_of.isoformat()}")
        if pre is not None:
            results[k] = DoseResult(code, dose.date, INVALID, None, (pre[0],),
                                    (reason(*pre),), ())
            continue
        hard = None
        if vac.live == "injected":
            for o, other in reversed(live):
                if d - o >= _LIVE_GAP:
                    break
                if other != code and o < d:
                    hard = [("E_LIVE_CONFLICT",
                             f"{other}（{_iso(o)}）の後は{_iso(o + _LIVE_GAP)}以降")]
                    break
            live.append((d, code))
        if dose.product:
            pv = rules.product_to_vaccines.get(norm_product(dose.product))
            if pv is not None and code not in pv:
                hard = (hard or []) + [("E_WRONG_PRODUCT",
                                        f"製剤「{dose.product}」は{'・'.join(sorted(pv))}のワクチン")]
        sers = vac.series
        if hard is None and len(sers) == 1:
            # Fast path (most doses): one series, no dose-level problem.
            s = sers[0]
            st = states.get(s.id)
            if st is None:
                st = states[s.id] = _State()
            r = _eval_series(s, P, st, d, code)
            st.admin.append(d)
            status = r[0]
            blocked = _not_regular(vac, d, dose.product, P) if status is VALID and vac.gated \
                else None
            if status is VALID and blocked is None:
                st.counted.append((d, code, r[1]))
                if s.seasonal:
                    st.fys.add(_fy_of(d))
                elif s.pregnancy:
                    st.fys.add(r[3])
                else:
                    st.next_idx = r[3] + 1
                    if st.path is None and not s.path_after_second:
                        st.path = _select_path(s, P, st, None, None)
                results[k] = DoseResult(code, dose.date, VALID, r[1], (), (), s.ids)
                continue
            status, number, codes = blocked if status is VALID else r[:3]
            results[k] = DoseResult(
                code, dose.date, status, number, tuple(dict.fromkeys(c for c, _ in codes)),
                tuple(reason(c, detail) for c, detail in codes), ())
            continue
        per = []
        for s in sers:
            st = states.get(s.id)
            if st is None:
                st = states[s.id] = _State()
            per.append((s, st, _eval_series(s, P, st, d, code)))
        status, number, codes = _combine(vac, hard, per, d, dose.product, P)
        counted = []
        for s, st, r in per:
            st.admin.append(d)
            if status is VALID and r[0] is VALID:
                st.counted.append((d, code, r[1]))
                if s.seasonal:
                    st.fys.add(_fy_of(d))
                elif s.pregnancy:
                    st.fys.add(r[3])
                else:
                    st.next_idx = r[3] + 1
                    if st.path is None and not s.path_after_second:
                        # the first counted dose decides the path for good
                        st.path = _select_path(s, P, st, None, None)
                counted.append(s.id)
        if codes:
            results[k] = DoseResult(
                code, dose.date, status, number, tuple(dict.fromkeys(c for c, _ in codes)),
                tuple(reason(c, detail) for c, detail in codes), tuple(counted))
        else:
            results[k] = DoseResult(code, dose.date, status, number, (), (), tuple(counted))
    elig = []
    memo = P.cache
    b0 = P.b
    age = today - b0
    entries = rules.entries
    # Lines with a shape (rules._shape) are answered once per birth month, conditions (and sex)
    # when the birth day needs no month-end clamping (2–28): one slot per entry (_shape_slot).
    tslots = None
    if 2 <= P.day <= 28:
        ck = (P.k, P.conditions)
        tcache = rules.translated_cache
        tslots = tcache.get(ck)
        if tslots is None:
            if len(tcache) >= _TRANSLATED_CACHE_MAX:
                tcache.clear()
            # slots [0, n): lines the sex does not change; [n, 2n): men; [2n, 3n): women
            tslots = tcache[ck] = [None] * (3 * len(entries))
        sex_slot = len(entries) * (1 if P.sex == "M" else 2)
    fo = date.fromordinal
    day_aligned = 4 <= P.day <= 26
    for i, e in enumerate(entries):
        if lines is not None and e.code not in lines:
            continue
        sers = e.series
        if not states:  # no dose recorded at all (most adults)
            fresh = True
            outs = _EMPTY_OUTS[len(sers)] if len(sers) < 8 else (_EMPTY,) * len(sers)
        elif len(sers) == 1:
            st = states.get(sers[0].id)
            fresh = st is None
            outs = (_EMPTY if fresh else st,)
        else:
            outs = []
            fresh = True
            for s in sers:
                st = states.get(s.id)
                if st is None:
                    st = _EMPTY
                else:
                    fresh = False
                outs.append(st)
        if fresh and not e.pregnancy:
            # Nothing recorded for this line: the answer depends only on the person and as_of.
            shape = e.shape
            # (a person seen lately finds the line in the person cache below: cheaper)
            if shape is not None and tslots is not None and not P.seen:
                j = i + sex_slot if shape[3] else i
                slot = tslots[j]
                if shape[4] == "aligned":
                    # answered per birth month and as_of ({as_of: answer}, a few as_of kept)
                    if not day_aligned:
                        ans = _NO_SHAPE
                    else:
                        if slot is None:
                            slot = tslots[j] = {}
                        ans = slot.get(today, _NO_SHAPE)
                        if ans is None:  # second person of the month for this as_of
                            ans = slot[today] = _aligned_answer(e, shape, P, outs, as_of, today,
                                                                rules)
                        elif ans is _NO_SHAPE and today not in slot:
                            if len(slot) >= 8:
                                slot.clear()
                            slot[today] = None  # first one: the plain walk (as_of may not recur)
                else:
                    if slot is None:
                        slot = tslots[j] = _shape_slot(e, shape, P)
                    if slot is _NO_SHAPE:
                        which = 0
                    elif age > slot[0] and today > slot[1]:
                        which = 4  # as_of past every point of the line
                    elif age < slot[2] and today < slot[3]:
                        which = 5  # as_of before every point of the line
                    else:
                        which = 0
                    ans = slot[which] if which else _NO_SHAPE
                    if ans is None:
                        d2 = 2 if P.day != 2 else 3
                        twin_b = b0 - P.day + d2
                        t2 = (max(twin_b + slot[0] + 1, slot[1] + 1) if which == 4
                              else min(twin_b + slot[2] - 1, slot[3] - 1))
                        ans = slot[which] = _shape_answer(e, P, outs, today, d2, t2, rules)
                if ans is not _NO_SHAPE:
                    if ans is _DONE:
                        elig.append(_line(e, ans))
                        continue
                    line, n, status, a, ar, sf, sfr, su, sur, b, br = ans
                    if live and e.live:
                        r = _shape_ordinals(ans, b0)
                        elig.append(_line(e, _after_live(r, e, live, today)))
                    elif line is not None:
                        elig.append(line)  # no date moves with the birth date: shared
                    else:
                        elig.append(_new_line(e.code, n, status,
                                              fo(a + b0) if ar else a,
                                              fo(sf + b0) if sfr else sf,
                                              fo(su + b0) if sur else su,
                                              fo(b + b0) if br else b))
                    continue
            key = (e, today)
            hit = memo.get(key)
            if hit is None:
                r = _forecast_entry(e, P, outs, today)
                hit = memo[key] = (r, _line(e, r))
            r, line = hit
            if not (live and e.live and r[1] != COMPLETE):
                elig.append(line)
                continue
        else:
            r = _forecast_entry(e, P, outs, today)
        if live and e.live and r[1] != COMPLETE:
            r = _after_live(r, e, live, today)
        elig.append(_line(e, r))
    return Evaluation(results, elig)


def evaluate_many(items: Iterable[tuple[PersonFacts, Sequence[DoseFacts]]], as_of: date,
                  rules: RuleSet | None = None, *,
                  lines: frozenset[str] | None = None) -> list[Evaluation]:
    """``evaluate`` for many persons at one ``as_of``: the same results, in input order.

    Persons with the same facts (birth date, sex, conditions) — a city of 1,000,000 has only
    ~36,500 birth dates — are evaluated together and share one set of derived dates and
    windows (``_Person``), the answers of the lines none of their doses touches, and, for
    those with no dose at all (most adults), the whole forecast.

    The cyclic garbage collector is paused while the batch runs (and restored after): the
    results hold no reference cycles, and full collections over a growing list of results cost
    a third of a million-person batch.
    """
    rules = rules or default_rules()
    items = items if isinstance(items, list) else list(items)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _evaluate_groups(items, as_of, rules, lines)
    finally:
        if was_enabled:
            gc.enable()


def _evaluate_groups(items, as_of: date, rules: RuleSet, lines) -> list[Evaluation]:
    today = as_of.toordinal()
    groups: dict[tuple, list[int]] = {}
    for i, (p, _d) in enumerate(items):
        key = (p.birth_date, p.sex, p.conditions, p.pregnancies)
        g = groups.get(key)
        if g is None:
            groups[key] = [i]
        else:
            g.append(i)
    out: list[Evaluation | None] = [None] * len(items)
    for idx in groups.values():
        person = items[idx[0]][0]
        P = _Person(person, rules)  # the rules' person cache: warm when the facts were seen lately
        if len(idx) == 1:
            out[idx[0]] = _evaluate(P, person, items[idx[0]][1], as_of, today, rules, lines)
            continue
        P.seen = True  # cache the points and fresh lines: the group's other members reuse them
        empty = None
        for i in idx:
            p, doses = items[i]
            if doses:
                out[i] = _evaluate(P, p, doses, as_of, today, rules, lines)
            else:
                if empty is None:
                    empty = _evaluate(P, p, doses, as_of, today, rules, lines).eligibility
                out[i] = Evaluation([], list(empty))
    return out


_NO_SHAPE = ("no shape",)  # a slot or answer that cannot be shared: use the plain walk
_BIG = 1 << 40


def _shape_slot(e, shape, P: _Person):
    """[last birth-relative point - birth, last fixed point, first birth-relative point - birth,
    first fixed point, answer once as_of is past them all, answer while before them all]."""
    rel, fixed, born_months, _sex, _kind = shape
    if P.k + _K0 in born_months:
        return _NO_SHAPE  # a birth-cohort bound inside the birth month
    b = P.b
    r = [P.pt(c, a) - b for c, a in rel]
    f = [P.pt(c, a) for c, a in fixed]
    return [max(r) if r else -_BIG, max(f) if f else -_BIG,
            min(r) if r else _BIG, min(f) if f else _BIG, None, None]


def _aligned_answer(e, shape, P: _Person, outs, as_of: date, today: int, rules: RuleSet):
    """The answer of an "aligned" line (rules._aligned_shape) for P's birth month and as_of."""
    months, _fixed, born_months, _sex, _kind = shape
    k = P.k + _K0
    if k in born_months:
        return _NO_SHAPE  # a birth-cohort bound inside the birth month
    t = as_of.year * 12 + as_of.month - 1
    if any(k + n == t for n in months):
        return _NO_SHAPE  # a point in the month of as_of: the day decides
    for s in e.series:
        if s.seasonal:
            (_sm, sd), (em, ed) = s.season
            if sd != 1 or ed != (29 if em == 2 else jdates._DAYS_IN_MONTH[em]):
                return _NO_SHAPE  # a season edge inside a month: not decided by the month
    return _shape_answer(e, P, outs, today, 4 if P.day != 4 else 5, today, rules)


def _shape_answer(e, P: _Person, outs, today: int, d2: int, t2: int, rules: RuleSet):
    """The line's answer for P as (the shared line when no date moves, n, status, then for
    each date: the date itself or None (fixed) or its days after the birth date (moving), and
    whether it moves); found by comparing P's answer (as of ``today``) with that of a person
    born on day ``d2`` of the same month (as of ``t2``, in the same position as ``today``)."""
    if not 0 < t2 < _FAR:
        return _NO_SHAPE
    r = _forecast_entry(e, P, outs, today)
    delta = P.day - d2
    twin = _Person(PersonFacts(P.birth.replace(day=d2), P.sex, P.conditions), rules, {})
    r2 = _forecast_entry(e, twin, outs, t2)
    if r is _DONE or r2 is _DONE:
        return _DONE if r is r2 else _NO_SHAPE
    if r[0] != r2[0] or r[1] != r2[1]:
        return _NO_SHAPE
    out = [r[0], r[1]]
    fo = date.fromordinal
    for x, y in zip(r[2:], r2[2:]):
        if x is None or y is None:
            if x is not y:
                return _NO_SHAPE
            out += (None, False)
        elif x == y:
            out += (fo(x), False)  # fixed: kept as a date
        elif x - y == delta:
            out += (x - P.b, True)  # moves with the birth date: kept as days after it
        else:
            return _NO_SHAPE
    moving = out[3::2]
    line = None if any(moving) else _line(e, (out[0], out[1], *(
        v.toordinal() if v is not None else None for v in out[2::2])))
    return (line, *out)


def _shape_ordinals(ans, b0: int) -> tuple:
    """A shape answer as the walk's (n, status, earliest, standard from/until, legal until)."""
    _line_, n, status, *vals = ans
    out = [n, status]
    for v, moves in zip(vals[::2], vals[1::2]):
        out.append(v + b0 if moves else (v.toordinal() if v is not None else None))
    return tuple(out)


def _forecast_entry(e, P, sts, today):
    if len(sts) == 1:
        return _forecast(e.series[0], P, sts[0], today, e.product, e.clip)
    return _merge_entry([_forecast(s, P, st, today, e.product, e.clip)
                         for s, st in zip(e.series, sts)])


def _line(e, r) -> EligibilityResult:
    n, status, a, sf, su, b = r
    if r is _DONE:
        line = e.complete_line
        if line is None:
            line = e.complete_line = EligibilityResult(e.code, None, COMPLETE, None, None, None, None)
        return line
    fo = date.fromordinal
    return _new_line(e.code, n, status, fo(a) if a is not None else None,
                     fo(sf) if sf is not None else None,
                     fo(su) if su is not None else None, fo(b) if b is not None else None)


def _not_regular(vac, d: int, product: str | None, P: _Person):
    """(voluntary, None, codes) when a dose the series would count is outside the vaccine's or
    its product's 定期 period or age (rules.Vaccine.regular_*, product_rules); else None."""
    if vac.regular_from is not None and d < vac.regular_from:
        return VOLUNTARY, None, [("W_OUTSIDE_LEGAL_WINDOW",
                                  f"{vac.code}の定期接種は{_iso(vac.regular_from)}から")]
    if vac.regular_until is not None and d > vac.regular_until:
        return VOLUNTARY, None, [("W_OUTSIDE_LEGAL_WINDOW",
                                  f"{vac.code}の定期接種は{_iso(vac.regular_until)}まで"
                                  f"〔{vac.regular_source}〕")]
    if product and vac.product_rules:
        key = norm_product(product)
        for pr in vac.product_rules:
            if key not in pr.products:
                continue
            if pr.regular_from is not None and d < pr.regular_from:
                return VOLUNTARY, None, [("W_OUTSIDE_LEGAL_WINDOW",
                                          f"{pr.label}の定期接種は{_iso(pr.regular_from)}から〔{pr.source}〕")]
            if pr.regular_until is not None and d > pr.regular_until:
                return VOLUNTARY, None, [("W_OUTSIDE_LEGAL_WINDOW",
                                          f"{pr.label}の定期接種は{_iso(pr.regular_until)}まで〔{pr.source}〕")]
            if pr.min_age is not None:
                lo = P.point(pr.min_age, None)
                if d < lo:
                    return VOLUNTARY, None, [
                        ("W_OUTSIDE_LEGAL_WINDOW", f"{pr.label}の定期接種対象外"),
                        ("W_NOT_TARGET_GROUP", f"{pr.label}は{_iso(lo)}（{pr.min_age[1] // 12}歳）以降"
                                               f"〔{pr.source}〕")]
    return None


def _after_live(r, e, live, today):
    """Push a live entry's earliest past the 27-day rule after another injected live vaccine."""
    for o, other in reversed(live):
        if other not in e.vaccines:
            bound = o + _LIVE_GAP
            if r[2] is not None and bound > r[2]:
                n, _status, _earliest, sf, su, b = r
                status = NOT_YET if today < bound else (EXPIRED if today > b or bound > b else ELIGIBLE)
                return n, status, bound, sf, su, b
            break
    return r


def _combine(vac, hard, per, d, product, P):
    if hard is not None:
        return INVALID, None, hard
    hard_codes = [c for _s, _st, r in per if r[0] == INVALID for c in r[2] if CODES[c[0]].hard]
    if hard_codes:
        return INVALID, None, hard_codes
    valid = [(s, r) for s, _st, r in per if r[0] == VALID]
    if valid:
        blocked = _not_regular(vac, d, product, P) if vac.gated else None
        if blocked is not None:
            return blocked
        home = next((r for s, r in valid if s is vac.home), valid[0][1])
        return VALID, home[1], []
    vol = [c for _s, _st, r in per if r[0] == VOLUNTARY for c in r[2]]
    if vol:
        return VOLUNTARY, None, vol
    return INVALID, None, [c for _s, _st, r in per for c in r[2]]
