"""The engine's shortcuts give exactly the answers of its plain walk.

- birth-relative points from the month tables equal the ``jdates`` conventions;
- lines answered once per birth month (Entry.shape) and window spans
  shared per fiscal-year offset (WindowList.fy_part) equal the uncached computation;
- the direct slot constructor builds the same lines as the dataclass' own ``__init__``.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from sesshu.domain import jdates
from sesshu.domain.schedule import (
    PANDEMIC_DIR,
    DoseFacts,
    EligibilityResult,
    PersonFacts,
    evaluate,
    load_rules,
)
from sesshu.domain.schedule import engine

CODES = ("HIB", "PCV", "HEPB", "ROTA1", "ROTA5", "DPTIPVHIB", "DPTIPV", "DPT", "IPV", "BCG", "MR",
         "VAR", "JE", "DT", "HPV9", "HPV4", "FLU_ELDER", "PPSV23", "COVID", "ZOSTER_LIVE",
         "ZOSTER_RZV", "PANDEMIC_EXAMPLE")


def _plain(rules):
    """The same rules with every shortcut switched off."""
    for e in rules.entries:
        e.shape = None
    seen = set()
    for s in rules.series:
        lists = [s.population] if s.seasonal else \
            [t.windows for t in s.terms] + [w for p in s.paths for w in p.windows]
        for ws in lists:
            if id(ws) not in seen:
                seen.add(id(ws))
                ws.fy_part, ws.exact_part = (), ws.compiled
    return rules


def test_points_follow_jdates():
    rules = load_rules()
    rng = random.Random(7)
    births = [date(1900, 1, 1) + timedelta(days=rng.randint(0, 60000)) for _ in range(1500)]
    births += [date(y, m, d) for y in (2000, 2023, 2024) for m in (1, 2, 3, 4, 5, 12)
               for d in (1, 2, 28, 29, 30, 31) if d <= jdates._last_day(y, m)]
    for b in births:
        P = engine._Person(PersonFacts(b, "F"), rules)
        for n in (0, 1, 2, 7, 12, 13, 24, 60, 90, 156, 780, 1200):
            assert P.point(("m", n), None) == jdates.reach_months(b, n).toordinal()
        for n in (0, 5, 12, 16, 65, 100):
            fy = jdates.fiscal_year(jdates.reach_age(b, n))
            assert P.point(("fys", n), None) == jdates.fiscal_year_start(fy).toordinal()
            assert P.point(("fye", n), None) == jdates.fiscal_year_end(fy).toordinal()
            assert P.point(("ye", n), None) == jdates.reach_age(b, n + 1).toordinal() - 1


def test_slot_constructor_builds_equal_lines():
    d = date(2025, 1, 2)
    a = engine._new_line("HIB", 1, "expired", d, None, d, d)
    b = EligibilityResult("HIB", 1, "expired", d, None, d, d)
    assert type(a) is EligibilityResult and a == b and hash(a) == hash(b) and repr(a) == repr(b)


def _people(rng, n):
    out = []
    for _ in range(n):
        as_of = date(2023, 1, 1) + timedelta(days=rng.randint(0, 2500))
        # few birth months, so the per-month caches are shared between many persons
        if rng.random() < 0.7:  # few birth months: the per-month answers are shared a lot
            y = rng.choice((1950, 1960, 1985, 1995, 2005, 2007, 2009, 2012, 2019, 2021, 2024))
            m = rng.choice((1, 3, 4, 10))
            b = date(y, m, min(rng.randint(1, 31 if rng.random() < 0.2 else 28),
                               jdates._last_day(y, m)))
        else:
            b = date(1905, 1, 1) + timedelta(days=rng.randint(0, 45000))
        doses = []
        for _k in range(rng.choice((0, 0, 0, 1, 2, 5))):
            doses.append(DoseFacts(rng.choice(CODES),
                                   b + timedelta(days=rng.randint(0, max(0, (as_of - b).days + 30)))))
        cond = frozenset(rng.sample(("designated_disability", "medical_high_risk"),
                                    rng.randint(0, 1)))
        out.append((PersonFacts(b, rng.choice("MF"), cond), doses, as_of))
    return out


def test_shortcuts_match_the_plain_walk():
    rng = random.Random(11)
    people = _people(rng, 4000)
    fast = load_rules([PANDEMIC_DIR / "example.yaml"])
    plain = _plain(load_rules([PANDEMIC_DIR / "example.yaml"]))
    for p, d, as_of in people + people[::-1]:
        assert evaluate(p, d, as_of, fast) == evaluate(p, d, as_of, plain), (p, d, as_of)
    # the shortcuts were taken
    assert len(fast.fy_windows_cache) > 50
    shared = {e.code for e in fast.entries if e.shape is not None}
    assert {"HIB", "MR", "JE", "HPV", "FLU_ELDER", "COVID", "PPSV23", "ZOSTER_LIVE"} <= shared
    assert {"HIB", "MR", "JE", "HPV"} <= _used(fast)



def _used(rules) -> set[str]:
    """The lines answered from a shared (birth month) answer at least once."""
    n = len(rules.entries)
    used = set()
    for slots in rules.translated_cache.values():
        for j, x in enumerate(slots):
            if x is None or x is engine._NO_SHAPE:
                continue
            answers = list(x.values()) if isinstance(x, dict) else x[4:]  # aligned: {as_of: …}
            if any(a is not None and a is not engine._NO_SHAPE for a in answers):
                used.add(rules.entries[j % n].code)
    return used


def test_shortcuts_match_the_plain_walk_in_a_batch():
    """One as_of for everybody, as in a nightly batch: the per-as_of answers are shared."""
    rng = random.Random(12)
    for as_of in (date(2026, 11, 1), date(2025, 2, 15)):
        people = [(p, d) for p, d, _a in _people(rng, 2500)]
        fast = load_rules([PANDEMIC_DIR / "example.yaml"])
        plain = _plain(load_rules([PANDEMIC_DIR / "example.yaml"]))
        for p, d in people:
            assert evaluate(p, d, as_of, fast) == evaluate(p, d, as_of, plain), (p, d, as_of)
        assert {"HIB", "MR", "JE", "FLU_ELDER", "COVID", "PPSV23", "ZOSTER_RZV"} <= _used(fast)
    assert not plain.translated_cache or not any(
        x for slots in plain.translated_cache.values() for x in slots)
