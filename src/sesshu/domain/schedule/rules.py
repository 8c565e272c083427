"""Loading, validating and compiling the schedule rule files (rules/*.yaml).

The data is shaped like CDC CDSi's supporting data — antigen series → series doses with age
limits, intervals from the previous or a named dose, allowable vaccines, conditional skips — but
every age and interval is resolved with Japan's conventions (``sesshu.domain.jdates``) and every
series carries its 定期 legal windows.  Files are read once and compiled into plain objects; the
engine never touches YAML.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

RULES_DIR = Path(__file__).with_name("rules")
PANDEMIC_DIR = RULES_DIR / "pandemic"
SCHEMA = "sesshu.schedule/1"

LIVE_KINDS = ("none", "injected", "oral")
SERIES_KINDS = ("series", "seasonal", "pregnancy")
CONDITIONS = ("designated_disability",)
# Order of the eligibility lines (接種可能範囲); lines from extra files follow in file order.
ENTRY_ORDER = ("HIB", "PCV", "HEPB", "ROTA1", "ROTA5", "DPTIPVHIB", "DPTIPV", "DPT", "IPV", "BCG",
               "MR", "VAR", "JE", "DT", "HPV", "RSV_MATERNAL", "FLU_ELDER", "PCV20_ELDER",
               "PPSV23", "COVID", "ZOSTER_LIVE", "ZOSTER_RZV")


class RuleError(ValueError):
    """A rule file is malformed; the message names the file and the offending key.

    ``file``, ``where`` (the key path, e.g. ``series[0].doses[1].intervals``) and ``detail`` are
    kept apart so that an upload's check can point at the YAML line (sesshu.rulesets.validation)."""

    def __init__(self, message: str, *, file: str = "", where: str = "", detail: str = ""):
        super().__init__(message)
        self.file, self.where, self.detail = file, where, detail


# ---------------------------------------------------------------------------------------------
# Compiled objects.  Dates are proleptic ordinals (int) for speed; None means "no bound".
# A point is a tuple: ("m", months) reach(生後N月); ("d", days) birth + days; ("date", ordinal);
# ("fys"|"fye", years) start/end of the FY containing reach(N歳); ("ye", years) the day before
# reach(N+1歳); ("after", ref, months, days) first date satisfying an interval from ref, where
# ref is "previous" (last administered dose of the series), "last_valid" (last counted dose) or
# an int (the counted dose with that dose number).
# ---------------------------------------------------------------------------------------------


class Window:
    __slots__ = ("start", "end", "born_from", "born_to", "condition", "sex", "fiscal_years",
                 "not_before", "not_after", "started_by", "source", "group")

    def __init__(self, start, end, *, born_from=None, born_to=None, condition=None, sex=None,
                 fiscal_years=None, not_before=None, not_after=None, started_by=None, source="", group=""):
        self.group = group  # a campaign's 接種順位 label for the residents this window opens to (targets)
        self.start, self.end = start, end
        self.born_from, self.born_to = born_from, born_to
        self.condition, self.sex = condition, sex
        self.fiscal_years = fiscal_years
        self.not_before, self.not_after = not_before, not_after
        self.started_by = started_by
        self.source = source


class WindowList(list):
    """A list of windows; ``dynamic`` when one depends on the history (``started_by``);
    ``simple`` when it is one unconditional window (the engine's fast path)."""

    __slots__ = ("dynamic", "simple", "compiled", "fy_part", "exact_part")


class Target:
    """One series dose (CDSi "series dose")."""

    __slots__ = ("number", "name", "term", "intervals", "min_age", "max_age", "skip_if",
                 "standard_from", "standard_to", "source", "may_skip", "gap")

    def __init__(self, number, name, term, intervals, min_age, max_age, skip_if,
                 standard_from, standard_to, source):
        self.number, self.name, self.term = number, name, term
        self.intervals, self.min_age, self.max_age = intervals, min_age, max_age
        self.skip_if = skip_if
        self.standard_from, self.standard_to = standard_from, standard_to
        self.source = source
        self.may_skip = max_age is not None or skip_if is not None
        # The common case "X日以上 from the previous dose" as a plain day count (X + 1).
        only = intervals[0] if len(intervals) == 1 else None
        self.gap = only[3] + 1 if only and only[1] == "previous" and not only[2] else None


class Term:
    __slots__ = ("index", "id", "name", "windows", "source")

    def __init__(self, index, id_, name, windows, source):
        self.index, self.id, self.name, self.windows, self.source = index, id_, name, windows, source


class SeriesPath:
    """One way to complete the series (CDSi "series"), chosen by the first counted dose."""

    __slots__ = ("id", "name", "first_after", "first_until", "first_vaccines", "second_after",
                 "windows", "targets", "next_term_index", "source")

    def __init__(self, id_, name, first_after, first_until, first_vaccines, second_after,
                 windows, targets, source):
        self.id, self.name = id_, name
        self.first_after, self.first_until = first_after, first_until
        self.first_vaccines = first_vaccines
        self.second_after = second_after
        self.windows = windows  # per term index
        self.targets = targets
        self.source = source
        # For each target index, the index of the first target of a later term (or None).
        nxt = []
        for i, t in enumerate(targets):
            j = next((k for k in range(i + 1, len(targets)) if targets[k].term != t.term), None)
            nxt.append(j)
        self.next_term_index = nxt


class Series:
    __slots__ = ("id", "name", "kind", "category", "vaccines", "sex", "once_ever", "continuity",
                 "terms", "paths", "season", "population", "source", "file", "seasonal",
                 "path_after_second", "ids", "pregnancy", "gestation", "not_before")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))
        self.seasonal = self.kind == "seasonal"
        # kind "pregnancy": one dose per pregnancy inside a gestational-age window (``gestation``:
        # (first day, last day) as days before the expected delivery date, 40週0日).
        self.pregnancy = self.kind == "pregnancy"
        self.ids = (self.id,)
        # A path that looks at the second dose (HPV 9価 2回/3回) is not fixed by the first one.
        self.path_after_second = any(p.second_after is not None for p in self.paths or ())

    def pregnancy_window(self, edd: int) -> tuple[int, int]:
        """The 定期 window (first, last ordinal) of a pregnancy with expected delivery ``edd``."""
        a, b = edd - self.gestation[0], edd - self.gestation[1]
        if self.not_before is not None and a < self.not_before:
            a = self.not_before
        return a, b


class ProductRule:
    """A product of a vaccine code that is 定期 only from/until a date or from an age
    (高齢者インフルエンザ 高用量: 75歳以上, from 2026-10-01)."""

    __slots__ = ("products", "label", "regular_from", "regular_until", "min_age", "source")

    def __init__(self, products, label, regular_from, regular_until, min_age, source):
        self.products, self.label = products, label
        self.regular_from, self.regular_until = regular_from, regular_until
        self.min_age, self.source = min_age, source


class Vaccine:
    __slots__ = ("code", "name", "live", "products", "regular_from", "regular_until",
                 "regular_source", "product_rules", "gated", "series", "home", "file")

    def __init__(self, code, name, live, products, regular_from, file, regular_until=None,
                 regular_source="", product_rules=()):
        self.code, self.name, self.live = code, name, live
        self.products, self.regular_from, self.file = products, regular_from, file
        # The vaccine is 定期 only from regular_from through regular_until (PPSV23 and HPV
        # 2価/4価 until 2026-03-31); outside, a dose is 任意.
        self.regular_until, self.regular_source = regular_until, regular_source
        self.product_rules: tuple[ProductRule, ...] = tuple(product_rules)
        # whether a dose needs the (slower) check of these dates and product rules
        self.gated = bool(regular_from is not None or regular_until is not None or product_rules)
        self.series: tuple[Series, ...] = ()
        self.home: Series | None = None


class Entry:
    """One eligibility line (接種可能範囲) shown for a vaccine code."""

    __slots__ = ("code", "series", "product", "vaccines", "live", "complete_line", "shape",
                 "clip", "pregnancy")

    def __init__(self, code, series, product, vaccines, live, clip=None):
        self.complete_line = None  # the engine's shared answer once the line is complete
        # A line for one product that is 定期 only in a period (PPSV23 until 2026-03-31,
        # PCV20_ELDER from 2026-04-01): its windows are clipped to (first, last) ordinals.
        self.clip = clip
        # A pregnancy line depends on the pregnancies, not only on (birth, sex, conditions):
        # the engine never shares its answer between persons.
        self.pregnancy = any(s.pregnancy for s in series)
        self.shape = None if self.pregnancy else _shape(series, clip)
        self.code, self.series, self.product = code, series, product
        self.vaccines = vaccines  # the codes this line stands for (for the live-vaccine rule)
        self.live = live  # True when those vaccines are injected live


_REL_KINDS = ("m", "d", "ye")  # points that move with the birth date (within a birth month)
_ABS_KINDS = ("fys", "fye", "date")  # points fixed within a birth month (days 2–28)


def _point_kind(p) -> str | None:
    if p is None:
        return None
    if p[0] in _REL_KINDS:
        return "rel"
    if p[0] in _ABS_KINDS:
        return "abs"
    return "after"


def _structure(s) -> tuple:
    """What the forecast of a series with no doses reads (to compare antigen series of a line)."""
    return (s.sex, s.once_ever, s.seasonal, tuple(sorted(s.continuity.items())), tuple(
        (p.first_vaccines, p.first_after, p.first_until, p.second_after,
         tuple(id(ws) for ws in p.windows), p.next_term_index,
         tuple((t.number, t.term, t.intervals, t.min_age, t.max_age, t.skip_if, t.standard_from,
                t.standard_to) for t in t_list))
        for p, t_list in ((p, p.targets) for p in s.paths)))


def _shape(series, clip=None) -> tuple | None:
    """How a line's answer for a person with no doses of it depends on the birth date, or None.

    Returns (birth-relative points, fixed points, birth-cohort bound months, whether the sex
    matters, "same-kind") when every comparison the forecast makes between dates of the person
    is between two points of the same kind: "rel" points (reach(生後N月), birth + N days, the day before reach(N歳)) all move by the
    same number of days for persons born in the same month on days 2–28 (no month-end
    clamping), "abs" points (fiscal years of reach(N歳), fixed dates) do not move at all.  That
    holds when each window list is all "rel" (with no clipping to fixed dates) or all "abs", a
    dose's minimum and maximum age are of its window list's kind, the line's antigen series are
    alike, and nothing is seasonal.  Then, while ``as_of`` is past every point (or before every
    point) the walk takes the same steps for the whole birth month, and its answer is each date
    either moved with the birth date or fixed: the engine computes it once per (line, birth
    month, sex, conditions) and translates it (engine ``_shape_answer``).  A birth month holding
    a birth-cohort bound (``born_from``/``born_to``) is excluded at run time.  Lines that mix
    the kinds (or are seasonal) may still have the "aligned" shape (``_aligned_shape``).
    """
    if not series:
        return None
    if len(series) > 1 and any(_structure(s) != _structure(series[0]) for s in series[1:]):
        return None
    if any(s.seasonal for s in series):
        return _aligned_shape(series, clip)
    rel: set = set()
    fixed: set = set()
    born: set = set()

    def add(p):
        (rel if _point_kind(p) == "rel" else fixed).add(compile_point(p))

    for s in series:
        for path in s.paths:
            kinds = []
            for ws in path.windows:
                ks = set()
                for w in ws:
                    if w.started_by is not None:
                        continue  # applies only after a counted dose: never to a fresh line
                    wk = {_point_kind(w.start), _point_kind(w.end)} - {None}
                    if "after" in wk:
                        return None
                    if "rel" in wk and any((w.fiscal_years, w.not_before, w.not_after, clip)):
                        return _aligned_shape(series, clip)
                    ks |= wk
                    add(w.start)
                    if w.end is not None:
                        add(w.end)
                    # clipping dates bound the spans too: as_of must be past / before them
                    for c in (w.not_before, w.not_after, *(clip or ())):
                        if c is not None:
                            fixed.add((PT_DATE, c))
                    if w.fiscal_years is not None:
                        fixed.add((PT_DATE, date(w.fiscal_years[0], 4, 1).toordinal()))
                        fixed.add((PT_DATE, date(w.fiscal_years[1] + 1, 3, 31).toordinal()))
                    for bd in (w.born_from, w.born_to):
                        if bd is not None:
                            d = date.fromordinal(bd)
                            born.add(d.year * 12 + d.month - 1)
                if len(ks) > 1:
                    return _aligned_shape(series, clip)
                kinds.append(next(iter(ks)) if ks else None)
            for t in path.targets:
                for p in (t.min_age, t.max_age):
                    k = _point_kind(p)
                    if k is None:
                        continue
                    if k == "after":
                        return None
                    if kinds[t.term] is not None and k != kinds[t.term]:
                        return _aligned_shape(series, clip)
                    add(p)
                for p in (t.standard_from, t.standard_to):
                    if p is not None and p[0] not in _REL_KINDS + _ABS_KINDS + ("after",):
                        return None  # pragma: no cover - the loader emits no other kinds
    sex_matters = any(s.sex is not None for s in series) or any(
        w.sex is not None for s in series for p in s.paths for ws in p.windows for w in ws)
    return tuple(sorted(rel)), tuple(sorted(fixed)), frozenset(born), sex_matters, "same-kind"


def _month_aligned(o: int) -> bool:
    d = date.fromordinal(o)
    return d.day == 1 or (d + timedelta(days=1)).day == 1


def _aligned_shape(series, clip=None) -> tuple | None:
    """The other shape of a line (see _shape), answered per birth month *and* as_of.

    Here birth-relative points may meet fixed dates (a season, a fiscal year, clipping dates),
    so every birth-relative point must be reach(生後N月) and every fixed date the first or the
    last day of a month: for persons born on days 4–26 every reach(生後N月) falls on days 3–25
    of its month, so whether it is before or after a first/last day of a month (± 1 day) is
    decided by the month alone.  Comparisons with as_of are decided by the month too when no
    point falls in the month of as_of, which the engine checks (with the season, municipal
    data).  Returns (months of the birth-relative points, (), birth-cohort bound months,
    whether the sex matters, "aligned").
    """
    months: set = set()
    born: set = set()
    if any(c is not None and not _month_aligned(c) for c in (clip or ())):
        return None

    def ok(p) -> bool:
        if p is None:
            return True
        if p[0] == "m":
            months.add(p[1])
            return True
        return p[0] in ("fys", "fye") or (p[0] == "date" and _month_aligned(p[1]))

    for s in series:
        lists = [s.population] if s.seasonal else [ws for p in s.paths for ws in p.windows]
        for ws in lists:
            for w in ws:
                if w.started_by is not None:
                    continue  # applies only after a counted dose: never to a fresh line
                if not (ok(w.start) and ok(w.end)):
                    return None
                if any(c is not None and not _month_aligned(c) for c in (w.not_before,
                                                                          w.not_after)):
                    return None
                for bd in (w.born_from, w.born_to):
                    if bd is not None:
                        d = date.fromordinal(bd)
                        born.add(d.year * 12 + d.month - 1)
        for p in s.paths or ():
            for t in p.targets:
                if not (ok(t.min_age) and ok(t.max_age)):
                    return None
    sex_matters = any(s.sex is not None for s in series) or any(
        w.sex is not None for s in series
        for ws in ([s.population] if s.seasonal else [ws for p in s.paths for ws in p.windows])
        for w in ws)
    return tuple(sorted(months)), (), frozenset(born), sex_matters, "aligned"


class RuleSet:
    """Compiled rules: build once (``default_rules()`` or ``load_rules``), share freely."""

    def __init__(self, vaccines: dict[str, Vaccine], series: list[Series], entries: list[Entry],
                 files: list[str], sources: dict[str, str] | None = None):
        self.vaccines = vaccines
        self.series = series
        self.entries = entries
        self.files = files
        # file name → the version a verdict cites ("同梱 mr.yaml", "covid-2021 第2版 …").
        self.sources = sources or {f: f"同梱 {f}" for f in files}
        self._judged: dict[str, frozenset[str]] = {}
        # Birth-date-derived dates and windows, shared between evaluations (see engine._Person).
        self.person_cache: dict = {}
        # Spans of WindowList.fy_part per (list, fiscal-year offset, sex, conditions).
        self.fy_windows_cache: dict = {}
        # Answers of lines with a shape (see _shape) per (birth month, sex, conditions).
        self.translated_cache: dict = {}
        # A product name may serve several codes (乾燥弱毒生水痘ワクチン「ビケン」: VAR and ZOSTER_LIVE).
        self.product_to_vaccines: dict[str, frozenset[str]] = {}
        for v in vaccines.values():
            for p in v.products:
                key = norm_product(p)
                self.product_to_vaccines[key] = self.product_to_vaccines.get(key, frozenset()) | {v.code}

    @property
    def vaccine_codes(self) -> tuple[str, ...]:
        return tuple(self.vaccines)

    def version_of(self, vaccine: str) -> str:
        """The rule file version that judges doses of ``vaccine`` ("" for an unknown code)."""
        v = self.vaccines.get(vaccine)
        return self.sources.get(v.file, "") if v is not None else ""

    def judged_by(self, vaccine: str) -> frozenset[str]:
        """The versions of every file a dose of ``vaccine`` is judged by (its own and its series')."""
        hit = self._judged.get(vaccine)
        if hit is None:
            v = self.vaccines.get(vaccine)
            files = {v.file, *(s.file for s in v.series)} if v is not None else set()
            hit = self._judged[vaccine] = frozenset(self.sources.get(f, f) for f in files)
        return hit

    def pregnancy_windows(self, expected_delivery: date) -> list[tuple[str, date, date]]:
        """(series id, first day, last day) of every pregnancy series' 定期 window for a pregnancy
        with this expected delivery date (RSV_MATERNAL: 28週0日 = EDD − 84 … 36週6日 = EDD − 22)."""
        out = []
        edd = expected_delivery.toordinal()
        for s in self.series:
            if s.pregnancy:
                a, b = s.pregnancy_window(edd)
                if a <= b:
                    out.append((s.id, date.fromordinal(a), date.fromordinal(b)))
        return out


def norm_product(p: str) -> str:
    """Product names compare without spaces, hyphens, underscores, 中黒 or case."""
    return re.sub(r"[\s\-_・]", "", p).casefold()


# ---------------------------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------------------------


class _Ctx:
    def __init__(self, file: str, interned: dict | None = None):
        self.file = file
        self.conditions = set(CONDITIONS)
        self.interned = interned if interned is not None else {}

    def fail(self, where: str, msg: str):
        raise RuleError(f"{self.file}: {where}: {msg}", file=self.file, where=where, detail=msg)

    def keys(self, where: str, d: Any, allowed: Iterable[str], required: Iterable[str] = ()):
        if not isinstance(d, Mapping):
            self.fail(where, f"expected a mapping, got {type(d).__name__}")
        allowed = set(allowed)
        extra = set(d) - allowed
        if extra:
            self.fail(where, f"unknown key(s) {sorted(map(str, extra))}; allowed: {sorted(allowed)}")
        for r in required:
            if r not in d or d[r] in (None, ""):
                self.fail(where, f"missing required key '{r}'")

    def date(self, where: str, v: Any) -> int:
        if isinstance(v, date):
            return v.toordinal()
        if isinstance(v, str):
            try:
                return date.fromisoformat(v).toordinal()
            except ValueError:
                pass
        self.fail(where, f"expected a date YYYY-MM-DD, got {v!r}")

    def int_(self, where: str, v: Any, lo: int = 0) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            self.fail(where, f"expected an integer >= {lo}, got {v!r}")
        return v


_AGE_KEYS = {"years", "months", "weeks", "days"}


def _point(c: _Ctx, where: str, p: Any, *, allow_after: bool):
    if p is None:
        return None
    if p == "birth":
        return ("d", 0)
    if not isinstance(p, Mapping):
        c.fail(where, f"expected a point (mapping or 'birth'), got {p!r}")
    keys = set(p)
    if "after" in keys:
        if not allow_after:
            c.fail(where, "an interval point ('after') is not allowed here")
        c.keys(where, p, {"after", "months", "days"}, ["after"])
        ref = p["after"]
        if isinstance(ref, Mapping):
            c.keys(where + ".after", ref, {"dose"}, ["dose"])
            ref = c.int_(where + ".after.dose", ref["dose"], 1)
        elif ref not in ("previous", "last_valid"):
            c.fail(where, f"'after' must be previous, last_valid or {{dose: N}}, got {ref!r}")
        months = c.int_(where + ".months", p.get("months", 0))
        days = c.int_(where + ".days", p.get("days", 0))
        if "months" not in p and "days" not in p:
            c.fail(where, "an interval needs 'months' and/or 'days'")
        return ("after", ref, months, days)
    if keys == {"date"}:
        return ("date", c.date(where, p["date"]))
    if keys == {"fy_start_of_age"}:
        return ("fys", c.int_(where, p["fy_start_of_age"]))
    if keys == {"fy_end_of_age"}:
        return ("fye", c.int_(where, p["fy_end_of_age"]))
    if keys and keys <= _AGE_KEYS:
        if "weeks" in keys or ("days" in keys and not keys & {"years", "months"}):
            if keys & {"years", "months"}:
                c.fail(where, "do not mix weeks/days with years/months")
            return ("d", 7 * c.int_(where, p.get("weeks", 0)) + c.int_(where, p.get("days", 0)))
        if "days" in keys:
            c.fail(where, "an age in years/months cannot carry days")
        return ("m", 12 * c.int_(where, p.get("years", 0)) + c.int_(where, p.get("months", 0)))
    c.fail(where, f"unrecognised point {dict(p)!r}")


def _windows(c: _Ctx, where: str, items: Any, basis: str) -> WindowList:
    if not isinstance(items, list) or not items:
        c.fail(where, "expected a non-empty list of windows")
    out = WindowList()
    for i, w in enumerate(items):
        wh = f"{where}[{i}]"
        c.keys(wh, w, {"from", "to", "fy_of_age", "year_of_age", "when", "not_before",
                       "not_after", "source", "group"}, ["source"])
        when = w.get("when") or {}
        c.keys(wh + ".when", when, {"born_from", "born_to", "condition", "sex", "fiscal_years",
                                    "started_by"})
        if "condition" in when and when["condition"] not in c.conditions:
            c.fail(wh + ".when.condition", f"unknown condition {when['condition']!r}")
        if "sex" in when and when["sex"] not in ("M", "F"):
            c.fail(wh + ".when.sex", "sex must be M or F")
        fys = when.get("fiscal_years")
        if fys is not None and (not isinstance(fys, list) or len(fys) != 2):
            c.fail(wh + ".when.fiscal_years", "expected [first_fy, last_fy]")
        kw = dict(
            born_from=c.date(wh, when["born_from"]) if "born_from" in when else None,
            born_to=c.date(wh, when["born_to"]) if "born_to" in when else None,
            condition=when.get("condition"),
            sex=when.get("sex"),
            fiscal_years=tuple(c.int_(wh, y) for y in fys) if fys else None,
            started_by=c.date(wh, when["started_by"]) if "started_by" in when else None,
            not_before=c.date(wh, w["not_before"]) if "not_before" in w else None,
            not_after=c.date(wh, w["not_after"]) if "not_after" in w else None,
            source=w["source"],
            group=str(w.get("group") or ""),
        )
        forms = [k for k in ("from", "fy_of_age", "year_of_age") if k in w]
        if len(forms) != 1:
            c.fail(wh, "a window needs exactly one of from/to, fy_of_age, year_of_age")
        if "from" in w:
            if "to" not in w:
                c.fail(wh, "missing 'to' (use to: null for an open end)")
            out.append(Window(_point(c, wh + ".from", w["from"], allow_after=False),
                              _point(c, wh + ".to", w["to"], allow_after=False), **kw))
            continue
        key = forms[0]
        ages = w[key] if isinstance(w[key], list) else [w[key]]
        for a in ages:
            a = c.int_(wh + "." + key, a)
            if key == "fy_of_age" or basis == "fiscal_year":
                out.append(Window(("fys", a), ("fye", a), **kw))
            else:  # age_year: from reach(N歳) to the day before reach(N+1歳)
                out.append(Window(("m", 12 * a), ("ye", a), **kw))
    out.dynamic = any(w.started_by is not None for w in out)
    out.compiled = tuple(_compile_window(w) for w in out)
    # Windows that depend on the birth date only through the fiscal year of reach(N歳) (no
    # reach(生後N月), birth + days or birth-cohort condition): the engine shares their spans
    # between persons with the same fiscal-year offset, sex and conditions.
    fy_kinds = ("fys", "fye", "date")
    fy = [w.born_from is None and w.born_to is None and w.started_by is None
          and w.start[0] in fy_kinds and (w.end is None or w.end[0] in fy_kinds) for w in out]
    if any(fy) and not any(w.started_by is not None for w in out):
        out.fy_part = tuple(cw for cw, f in zip(out.compiled, fy) if f)
        out.exact_part = tuple(cw for cw, f in zip(out.compiled, fy) if not f)
    else:
        out.fy_part, out.exact_part = (), out.compiled
    w0 = out[0]
    out.simple = len(out) == 1 and not any(
        (w0.born_from, w0.born_to, w0.condition, w0.sex, w0.fiscal_years, w0.not_before,
         w0.not_after, w0.started_by))
    # Identical window lists (MR's two antigens, DTP and polio, …) share one object, so the
    # engine computes a person's windows once per distinct list.
    key = tuple((w.start, w.end, w.born_from, w.born_to, w.condition, w.sex, w.fiscal_years,
                 w.not_before, w.not_after, w.started_by) for w in out)
    return c.interned.setdefault(key, out)


# Point codes of compiled windows (the engine's inner loop): (code, argument).
PT_MONTHS, PT_DAYS, PT_DATE, PT_FYS, PT_FYE, PT_YE = range(6)


def compile_point(p) -> tuple[int, int] | None:
    """A birth-relative point as (code, argument); ("ye", N) becomes (PT_YE, 12 * (N + 1))."""
    if p is None:
        return None
    k = p[0]
    if k == "m":
        return PT_MONTHS, p[1]
    if k == "d":
        return PT_DAYS, p[1]
    if k == "date":
        return PT_DATE, p[1]
    if k == "fys":
        return PT_FYS, p[1]
    if k == "fye":
        return PT_FYE, p[1]
    if k == "ye":
        return PT_YE, 12 * (p[1] + 1)
    raise ValueError(f"not a window point: {p!r}")


def _compile_window(w: Window) -> tuple:
    """(start code, start arg, end code, end arg, sex, condition, born_from, born_to,
    first FY start, last FY end, not_before, not_after, started_by) — ordinals or None."""
    sc, sa = compile_point(w.start)
    ec, ea = compile_point(w.end) if w.end is not None else (None, None)
    fy_lo = fy_hi = None
    if w.fiscal_years is not None:
        fy_lo = date(w.fiscal_years[0], 4, 1).toordinal()
        fy_hi = date(w.fiscal_years[1] + 1, 4, 1).toordinal() - 1
    return (sc, sa, ec, ea, w.sex, w.condition, w.born_from, w.born_to, fy_lo, fy_hi,
            w.not_before, w.not_after, w.started_by)


def _targets(c: _Ctx, where: str, doses: Any, term_ids: dict[str, int]) -> list[Target]:
    if not isinstance(doses, list) or not doses:
        c.fail(where, "expected a non-empty list of doses")
    out: list[Target] = []
    term = 0
    for i, d in enumerate(doses):
        wh = f"{where}[{i}]"
        c.keys(wh, d, {"name", "term", "intervals", "min_age", "max_age", "skip_if", "standard",
                       "source"}, ["name", "source"])
        if "term" in d:
            if str(d["term"]) not in term_ids:
                c.fail(wh + ".term", f"unknown term {d['term']!r}; terms: {sorted(term_ids)}")
            nt = term_ids[str(d["term"])]
            if nt < term:
                c.fail(wh + ".term", "doses must be listed in term order")
            term = nt
        intervals = []
        for j, p in enumerate(d.get("intervals") or []):
            pt = _point(c, f"{wh}.intervals[{j}]", p, allow_after=True)
            if pt[0] != "after":
                c.fail(f"{wh}.intervals[{j}]", "an interval must be an 'after' point")
            if isinstance(pt[1], int) and pt[1] > i:
                c.fail(f"{wh}.intervals[{j}]", f"dose {pt[1]} is not before dose {i + 1}")
            intervals.append(pt)
        skip_if = None
        if "skip_if" in d:
            c.keys(wh + ".skip_if", d["skip_if"], {"dose", "given_after"}, ["dose", "given_after"])
            k = c.int_(wh + ".skip_if.dose", d["skip_if"]["dose"], 1)
            if k > i:
                c.fail(wh + ".skip_if.dose", f"dose {k} is not before dose {i + 1}")
            skip_if = (k, _point(c, wh + ".skip_if.given_after", d["skip_if"]["given_after"],
                                 allow_after=False))
        std = d.get("standard") or {}
        c.keys(wh + ".standard", std, {"from", "to"})
        out.append(Target(
            i + 1, d["name"], term, tuple(intervals),
            _point(c, wh + ".min_age", d.get("min_age"), allow_after=False),
            _point(c, wh + ".max_age", d.get("max_age"), allow_after=False),
            skip_if,
            _point(c, wh + ".standard.from", std.get("from"), allow_after=True),
            _point(c, wh + ".standard.to", std.get("to"), allow_after=True),
            d["source"],
        ))
    return out


def _series(c: _Ctx, where: str, s: Any) -> Series:
    c.keys(where, s, {"id", "name", "kind", "category", "vaccines", "sex", "once_ever",
                      "continuity", "terms", "paths", "doses", "season", "population",
                      "age_year_basis", "gestation", "not_before", "source"},
           ["id", "name", "kind", "category", "vaccines", "source"])
    where = f"{where}({s['id']})"
    kind = s["kind"]
    if kind not in SERIES_KINDS:
        c.fail(where + ".kind", f"must be one of {SERIES_KINDS}")
    if not isinstance(s["vaccines"], list) or not all(isinstance(v, str) for v in s["vaccines"]):
        c.fail(where + ".vaccines", "expected a list of vaccine codes")
    if s.get("sex") not in (None, "M", "F"):
        c.fail(where + ".sex", "sex must be M or F")
    basis = s.get("age_year_basis", "fiscal_year")
    if basis not in ("fiscal_year", "age_year"):
        c.fail(where + ".age_year_basis", "must be fiscal_year or age_year")
    cont = s.get("continuity") or {}
    if not isinstance(cont, Mapping) or not all(isinstance(v, list) for v in cont.values()):
        c.fail(where + ".continuity", "expected {first_vaccine: [allowed vaccines]}")
    for k, v in cont.items():
        for code in [k, *v]:
            if code not in s["vaccines"]:
                c.fail(where + ".continuity", f"{code} is not one of the series' vaccines")
    common = dict(id=s["id"], name=s["name"], kind=kind, category=s["category"],
                  vaccines=frozenset(s["vaccines"]), sex=s.get("sex"),
                  once_ever=bool(s.get("once_ever", False)),
                  continuity={k: frozenset(v) for k, v in cont.items()}, source=s["source"],
                  file=c.file)
    if kind == "pregnancy":
        for k in ("terms", "paths", "doses", "season", "population"):
            if k in s:
                c.fail(where, f"a pregnancy series takes gestation/not_before, not '{k}'")
        g = s.get("gestation")
        c.keys(where + ".gestation", g, {"from", "to", "source"}, ["from", "to", "source"])
        ga = []
        for k in ("from", "to"):
            pt = _point(c, f"{where}.gestation.{k}", g[k], allow_after=False)
            if pt is None or pt[0] != "d":
                c.fail(f"{where}.gestation.{k}", "a gestational age in weeks/days (40週0日 = delivery)")
            ga.append(pt[1])
        if not ga[0] <= ga[1] <= 280:
            c.fail(where + ".gestation", "expected from <= to <= 40週0日")
        # days before the expected delivery date (40週0日 = 280 days)
        gestation = (280 - ga[0], 280 - ga[1], g["source"])
        nb = c.date(where + ".not_before", s["not_before"]) if "not_before" in s else None
        return Series(**common, gestation=gestation, not_before=nb, terms=(), paths=(),
                      season=None, population=None)
    for k in ("gestation", "not_before"):
        if k in s:
            c.fail(where, f"'{k}' belongs to pregnancy series only")
    if kind == "seasonal":
        for k in ("terms", "paths", "doses"):
            if k in s:
                c.fail(where, f"a seasonal series takes season/population, not '{k}'")
        c.keys(where + ".season", s.get("season"), {"start", "end", "source"},
               ["start", "end", "source"])
        season = tuple(_mmdd(c, f"{where}.season.{k}", s["season"][k]) for k in ("start", "end"))
        return Series(**common, season=season,
                      population=_windows(c, where + ".population", s.get("population"), basis),
                      terms=(), paths=())
    for k in ("season", "population"):
        if k in s:
            c.fail(where, f"'{k}' belongs to seasonal series only")
    terms_raw = s.get("terms")
    if not isinstance(terms_raw, list) or not terms_raw:
        c.fail(where + ".terms", "expected a non-empty list of terms")
    terms = []
    term_ids: dict[str, int] = {}
    for i, t in enumerate(terms_raw):
        wh = f"{where}.terms[{i}]"
        c.keys(wh, t, {"id", "name", "windows", "source"}, ["id", "name", "windows", "source"])
        tid = str(t["id"])
        if tid in term_ids:
            c.fail(wh, f"duplicate term id {tid!r}")
        term_ids[tid] = i
        terms.append(Term(i, tid, t["name"], _windows(c, wh + ".windows", t["windows"], basis),
                          t["source"]))
    if ("paths" in s) == ("doses" in s):
        c.fail(where, "give either 'doses' (one path) or 'paths'")
    raw_paths = s["paths"] if "paths" in s else [
        {"id": "default", "name": s["name"], "doses": s["doses"], "source": s["source"]}]
    if not isinstance(raw_paths, list) or not raw_paths:
        c.fail(where + ".paths", "expected a non-empty list of paths")
    paths = []
    for i, p in enumerate(raw_paths):
        wh = f"{where}.paths[{i}]"
        c.keys(wh, p, {"id", "name", "when", "windows", "doses", "source"},
               ["id", "name", "doses", "source"])
        when = p.get("when") or {}
        c.keys(wh + ".when", when, {"first_after", "first_until", "first_vaccines",
                                    "second_after"})
        fv = when.get("first_vaccines")
        if fv is not None:
            if not isinstance(fv, list) or any(v not in s["vaccines"] for v in fv):
                c.fail(wh + ".when.first_vaccines", "expected a list of the series' vaccines")
        sa = when.get("second_after")
        if sa is not None:
            sa = _point(c, wh + ".when.second_after", {"after": {"dose": 1}, **sa},
                        allow_after=True)
        pw = {}
        for tid, ws in (p.get("windows") or {}).items():
            if str(tid) not in term_ids:
                c.fail(wh + ".windows", f"unknown term {tid!r}")
            pw[term_ids[str(tid)]] = _windows(c, f"{wh}.windows.{tid}", ws, basis)
        targets = _targets(c, wh + ".doses", p["doses"], term_ids)
        windows = [pw.get(t.index, t.windows) for t in terms]
        paths.append(SeriesPath(p["id"], p["name"],
                          _point(c, wh + ".when.first_after", when.get("first_after"),
                                 allow_after=False),
                          _point(c, wh + ".when.first_until", when.get("first_until"),
                                 allow_after=False),
                          frozenset(fv) if fv else None, sa, windows, targets, p["source"]))
    return Series(**common, terms=tuple(terms), paths=tuple(paths), season=None, population=None)


def _mmdd(c: _Ctx, where: str, v: Any) -> tuple[int, int]:
    m = re.fullmatch(r"(\d\d)-(\d\d)", str(v))
    if not m:
        c.fail(where, f"expected MM-DD, got {v!r}")
    mm, dd = int(m[1]), int(m[2])
    try:
        date(2024, mm, dd)  # a leap year, so 02-29 is accepted
    except ValueError:
        c.fail(where, f"not a calendar day: {v!r}")
    return mm, dd


def tokutei_groups(section: Any, c: "_Ctx") -> dict[str, dict]:
    """The 特定接種 (特措法第28条) groups of a campaign file: ``{id: {name, source, job_categories}}``.

    ``tokutei: {source, groups: [{id, name, source, job_categories: [{code, name, source}]}]}``; each group id
    becomes a person condition (the staff list of that group), each job category (職種区分) is a value the
    staff list must name."""
    if section is None:
        return {}
    c.keys("tokutei", section, {"source", "groups", "notes"}, ["source", "groups"])
    groups = section["groups"]
    if not isinstance(groups, list) or not groups:
        c.fail("tokutei.groups", "expected a non-empty list of {id, name, source, job_categories}")
    out: dict[str, dict] = {}
    for i, g in enumerate(groups):
        wg = f"tokutei.groups[{i}]"
        c.keys(wg, g, {"id", "name", "source", "job_categories", "notes"}, ["id", "name", "source", "job_categories"])
        if str(g["id"]) in out:
            c.fail(wg + ".id", f"duplicate group {g['id']}")
        jobs = g["job_categories"]
        if not isinstance(jobs, list) or not jobs:
            c.fail(wg + ".job_categories", "expected a non-empty list of {code, name, source}")
        cats: dict[str, dict] = {}
        for j, jc in enumerate(jobs):
            wj = f"{wg}.job_categories[{j}]"
            c.keys(wj, jc, {"code", "name", "source", "notes"}, ["code", "name", "source"])
            if str(jc["code"]) in cats:
                c.fail(wj + ".code", f"duplicate job category {jc['code']}")
            cats[str(jc["code"])] = {"name": str(jc["name"]), "source": str(jc["source"])}
        out[str(g["id"])] = {"name": str(g["name"]), "source": str(g["source"]), "job_categories": cats}
    return out


def _load_file(path: Path, interned: dict) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RuleError(f"{path}: cannot read: {e}", file=path.name, detail=f"cannot read: {e}") from e
    return _load_text(path.name, text, interned)


def _load_text(name: str, text: str, interned: dict) -> dict:
    c = _Ctx(name, interned)
    try:
        # libyaml's safe loader where PyYAML was built with it: the same documents, several times faster
        # (every process that prints or pays reads the 17 rule files first).
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise RuleError(f"{name}: not valid YAML: {e}", file=name, detail=f"not valid YAML: {e}") from e
    c.keys("<top>", doc, {"schema", "name", "category", "source", "vaccines", "series",
                          "entries", "notes", "priority_groups", "release", "fees", "tokutei"},
           ["schema", "name", "category", "source", "series", "entries"])
    if doc["schema"] != SCHEMA:
        c.fail("schema", f"expected {SCHEMA!r}, got {doc['schema']!r}")
    pg = doc.get("priority_groups")
    if pg is not None:
        # 特措法 priority groups (住民接種): each group id becomes a person condition.
        if not isinstance(pg, list):
            c.fail("priority_groups", "expected a list of {id, name, source}")
        for i, g in enumerate(pg):
            c.keys(f"priority_groups[{i}]", g, {"id", "name", "source", "evidence"}, ["id", "name", "source"])
            c.conditions.add(str(g["id"]))
    for code in tokutei_groups(doc.get("tokutei"), c):
        c.conditions.add(code)
    vaccines = {}
    for code, v in (doc.get("vaccines") or {}).items():
        wh = f"vaccines.{code}"
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", str(code)):
            c.fail(wh, "vaccine codes are upper-case identifiers")
        c.keys(wh, v, {"name", "live", "products", "regular_from", "regular_until",
                       "product_rules", "source"}, ["name", "live", "source"])
        if v["live"] not in LIVE_KINDS:
            c.fail(wh + ".live", f"must be one of {LIVE_KINDS}")
        products = v.get("products") or []
        if not isinstance(products, list) or not all(isinstance(p, str) for p in products):
            c.fail(wh + ".products", "expected a list of product names")
        prules = []
        for j, r in enumerate(v.get("product_rules") or []):
            rw = f"{wh}.product_rules[{j}]"
            c.keys(rw, r, {"products", "label", "regular_from", "regular_until", "min_age",
                           "source"}, ["products", "label", "source"])
            if not isinstance(r["products"], list) or not all(isinstance(x, str)
                                                              for x in r["products"]):
                c.fail(rw + ".products", "expected a list of product names")
            missing = [x for x in r["products"] if x not in products]
            if missing:
                c.fail(rw + ".products", f"{missing} are not in the vaccine's products")
            min_age = _point(c, rw + ".min_age", r.get("min_age"), allow_after=False)
            if min_age is not None and min_age[0] != "m":
                c.fail(rw + ".min_age", "an age in years/months")
            prules.append(ProductRule(
                frozenset(norm_product(x) for x in r["products"]), r["label"],
                c.date(rw, r["regular_from"]) if "regular_from" in r else None,
                c.date(rw, r["regular_until"]) if "regular_until" in r else None,
                min_age, r["source"]))
        vaccines[code] = Vaccine(code, v["name"], v["live"], tuple(products),
                                 c.date(wh, v["regular_from"]) if "regular_from" in v else None,
                                 name,
                                 c.date(wh, v["regular_until"]) if "regular_until" in v else None,
                                 v["source"], prules)
    if not isinstance(doc["series"], list) or not doc["series"]:
        c.fail("series", "expected a non-empty list")
    series = [_series(c, f"series[{i}]", s) for i, s in enumerate(doc["series"])]
    return {"vaccines": vaccines, "series": series, "entries": doc["entries"], "ctx": c}


def load_rules(extra_files: Iterable[str | Path] = (), *, include_default: bool = True,
               overrides: Mapping[str, Mapping[str, Any]] | None = None,
               texts: Iterable[tuple[str, str]] = (), replaced: Iterable[str] = (),
               sources: Mapping[str, str] | None = None) -> RuleSet:
    """Read and compile rule files; raise ``RuleError`` naming the file and key on bad data.

    ``extra_files`` adds files outside the default set (e.g. ``rules/pandemic/*.yaml``).
    ``texts`` adds files given as (name, YAML text) — uploaded rule files; ``replaced`` names
    shipped files left out because an uploaded amendment takes their place.
    ``overrides`` maps a series id to a few settings that are municipal data rather than law:
    ``{"FLU_ELDER": {"season": ("10-15", "01-31")}}``.
    ``sources`` names the version of each file (file name → label) for verdicts to cite;
    files not named there are the shipped ones.
    """
    skip = set(replaced)
    files = [f for f in sorted(RULES_DIR.glob("*.yaml")) if f.name not in skip] if include_default else []
    files += [Path(f) for f in extra_files]
    docs = [(f.name, f) for f in files] + list(texts)
    vaccines: dict[str, Vaccine] = {}
    series: list[Series] = []
    raw_entries = []
    interned: dict = {}
    for name, src in docs:
        part = _load_file(src, interned) if isinstance(src, Path) else _load_text(name, src, interned)
        for code, v in part["vaccines"].items():
            if code in vaccines:
                raise RuleError(f"{name}: vaccine {code} already defined in {vaccines[code].file}", file=name,
                                where=f"vaccines.{code}", detail=f"already defined in {vaccines[code].file}")
            vaccines[code] = v
        for s in part["series"]:
            if any(s.id == o.id for o in series):
                raise RuleError(f"{name}: series {s.id} defined twice", file=name, detail=f"series {s.id} defined twice")
            series.append(s)
        raw_entries.append((part["ctx"], part["entries"]))
    by_id = {s.id: s for s in series}
    for s in series:
        for code in s.vaccines:
            if code not in vaccines:
                raise RuleError(f"{s.file}: series {s.id} counts unknown vaccine {code}")
    for v in vaccines.values():
        v.series = tuple(s for s in series if v.code in s.vaccines)
        if not v.series:
            raise RuleError(f"{v.file}: vaccine {v.code} counts toward no series")
        # The series whose dose number the ledger shows: the one defined in the same file.
        v.home = next((s for s in v.series if s.file == v.file), v.series[0])
    entries: list[Entry] = []
    for c, items in raw_entries:
        if not isinstance(items, list):
            c.fail("entries", "expected a list")
        for i, e in enumerate(items):
            wh = f"entries[{i}]"
            c.keys(wh, e, {"code", "series", "product"}, ["code", "series"])
            ids = e["series"] if isinstance(e["series"], list) else [e["series"]]
            for sid in ids:
                if sid not in by_id:
                    c.fail(wh + ".series", f"unknown series {sid!r}")
            prod = e.get("product")
            if prod is not None and not all(prod in by_id[sid].vaccines for sid in ids):
                c.fail(wh + ".product", f"{prod} is not a vaccine of {ids}")
            if any(x.code == e["code"] for x in entries):
                c.fail(wh, f"duplicate eligibility entry {e['code']}")
            codes = frozenset([prod]) if prod else frozenset().union(
                *(by_id[sid].vaccines for sid in ids))
            clip = None
            if prod is not None and (vaccines[prod].regular_from is not None
                                     or vaccines[prod].regular_until is not None):
                clip = (vaccines[prod].regular_from, vaccines[prod].regular_until)
            entries.append(Entry(e["code"], tuple(by_id[sid] for sid in ids), prod, codes,
                                 any(vaccines[v].live == "injected" for v in codes), clip))
    for sid, ov in (overrides or {}).items():
        if sid not in by_id:
            raise RuleError(f"override for unknown series {sid!r}")
        s = by_id[sid]
        for k, v in ov.items():
            if k == "season" and s.kind == "seasonal" and len(v) == 2:
                c = _Ctx(f"override {sid}")
                s.season = tuple(_mmdd(c, "season", x) for x in v)
            else:
                raise RuleError(f"override {sid}.{k} is not supported")
    rank = {code: i for i, code in enumerate(ENTRY_ORDER)}
    entries.sort(key=lambda e: rank.get(e.code, len(rank)))
    names = [n for n, _src in docs]
    return RuleSet(vaccines, series, entries, names,
                   {n: (sources or {}).get(n, f"同梱 {n}") for n in names})


_DEFAULT: RuleSet | None = None


def default_rules() -> RuleSet:
    """The rules in rules/*.yaml (not rules/pandemic/), compiled on first use and cached."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_rules()
    return _DEFAULT
