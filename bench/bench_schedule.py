"""Throughput of the schedule engine: persons/s evaluating + forecasting every vaccine.

Run: .venv/bin/python bench/bench_schedule.py [persons]      (default 50,000)

Measured in CPU time of one process (one core, unaffected by other load), on fresh rules (an
empty per-birth-date cache) for three populations:

* **pyramid** (the headline figure): a city's residents by Japan's population pyramid
  (総務省 人口推計 2023, 5-year bands: ~11 % under 15, ~60 % 15–64, ~29 % 65+), birth dates
  drawn uniformly inside each band (so, as in a real city, nearly every person in a sample has a
  different birth date; persons in random order).  Histories follow age: children get the
  routine schedule up to ``as_of`` (some doses missed, dates jittered), teenagers and young adults
  keep their childhood records (70 %), girls HPV (~35 %), adults 25–64 have no 定期 doses, elders
  get influenza in ~half the years since 65 (ledger kept ~10 years), COVID, PPSV23, zoster.
* **child-heavy, birth dates repeat**: 3 of 4 persons a fully vaccinated child (25 doses), 1 of 4
  a 72-year-old with 13 doses; 365 / 3,000 distinct birth dates (the original bench).
* **child-heavy, every birth date distinct**: the same with (nearly) distinct birth dates.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date, timedelta

from sesshu.domain import jdates
from sesshu.domain.schedule import DoseFacts, PersonFacts, evaluate, load_rules

AS_OF = date(2026, 11, 1)

# Japan, 1 Oct 2023, thousands of persons per 5-year age band (0-4, 5-9, …, 95-99, 100+).
PYRAMID = (4141, 4851, 5283, 5484, 6247, 6345, 6472, 7317, 8044, 9474, 9660, 8196, 7479, 7431,
           9059, 7256, 5911, 3926, 1953, 537, 92)


def child(birth: date) -> list[DoseFacts]:
    m = lambda n, extra=0: jdates.reach_months(birth, n) + timedelta(days=extra)  # noqa: E731
    doses = []
    for v in ("HIB", "PCV", "DPTIPV"):
        doses += [DoseFacts(v, m(2, 1)), DoseFacts(v, m(3, 2)), DoseFacts(v, m(4, 3)),
                  DoseFacts(v, m(13, 5))]
    doses += [DoseFacts("HEPB", m(2, 1)), DoseFacts("HEPB", m(3, 2)), DoseFacts("HEPB", m(8, 1))]
    doses += [DoseFacts("ROTA1", m(2, 1)), DoseFacts("ROTA1", m(3, 2))]
    doses += [DoseFacts("BCG", m(5, 10)), DoseFacts("MR", m(12, 1)), DoseFacts("VAR", m(12, 1)),
              DoseFacts("VAR", m(19, 1)), DoseFacts("JE", m(36, 3)), DoseFacts("JE", m(37, 3)),
              DoseFacts("JE", m(48, 3)), DoseFacts("MR", jdates.mr2_window(birth)[0] + timedelta(days=30))]
    return doses


def elder(birth: date) -> list[DoseFacts]:
    doses = [DoseFacts("FLU_ELDER", date(y, 11, 1)) for y in range(2016, 2026)]
    doses += [DoseFacts("COVID", date(2024, 11, 1)), DoseFacts("COVID", date(2025, 10, 20)),
              DoseFacts("PPSV23", jdates.reach_age(birth, 65) + timedelta(days=40))]
    return doses


def population(n: int, distinct_births: bool) -> list[tuple[PersonFacts, list[DoseFacts]]]:
    """The child-heavy mix (3 children : 1 elder)."""
    people = []
    for i in range(n):
        if i % 4 == 3:
            b = date(1954, 1, 1) + timedelta(days=i if distinct_births else i % 3000)
            people.append((PersonFacts(b, "M" if i % 2 else "F"), elder(b)))
        else:
            b = date(2017, 4, 2) + timedelta(days=(i // 4) % 3000 if distinct_births else i % 365)
            people.append((PersonFacts(b, "F" if i % 2 else "M"), child(b)))
    return people


# --- the pyramid mix ---------------------------------------------------------------------------

_CHILD_SCHEDULE = (  # (vaccine, months of age at the standard time)
    ("PCV", (2, 3, 4, 13)), ("HEPB", (2, 3, 8)), ("BCG", (5,)), ("MR", (12,)), ("VAR", (12, 19)),
    ("JE", (36, 37, 48, 110)), ("DT", (134,)),
)


def _pyramid_child(rng: random.Random, birth: date, sex: str, as_of: date) -> list[DoseFacts]:
    m = lambda n: jdates.reach_months(birth, n) + timedelta(days=rng.choice(  # noqa: E731
        (1, 3, 7, 10, 14, 21, 30, 45)))
    sched = list(_CHILD_SCHEDULE)
    if birth >= date(2024, 2, 1):
        sched.append(("DPTIPVHIB", (2, 3, 4, 13)))
    else:
        sched += [("HIB", (2, 3, 4, 13)), ("DPTIPV" if birth >= date(2012, 6, 1) else "DPT",
                                          (3, 4, 5, 17))]
        if birth < date(2012, 6, 1):
            sched.append(("IPV", (3, 4, 5, 17)))
    if birth >= date(2020, 6, 1):
        sched.append(("ROTA1", (2, 3)) if rng.random() < 0.6 else ("ROTA5", (2, 3, 4)))
    doses = []
    for v, months in sched:
        if rng.random() < 0.04:
            continue  # never started
        for n in months:
            if rng.random() < 0.03:
                break  # stopped
            doses.append(DoseFacts(v, m(n)))
    if rng.random() < 0.93:
        doses.append(DoseFacts("MR", jdates.mr2_window(birth)[0] + timedelta(days=rng.randint(0, 300))))
    if sex == "F" and rng.random() < 0.35:
        start = jdates.reach_months(birth, rng.choice((150, 160, 175, 190)))
        for g in (0, 2, 6):
            doses.append(DoseFacts("HPV9", start + timedelta(days=31 * g + rng.randint(0, 9))))
    return [d for d in doses if d.date <= as_of]


def _pyramid_elder(rng: random.Random, birth: date, as_of: date) -> list[DoseFacts]:
    r65 = jdates.reach_age(birth, 65)
    keen = rng.random()
    doses = []
    for fy in range(max(r65.year, as_of.year - 10), as_of.year + 1):
        if rng.random() < keen:
            d = date(fy, rng.choice((10, 11, 11, 12)), rng.randint(1, 28))
            if r65 <= d <= as_of:
                doses.append(DoseFacts("FLU_ELDER", d))
    for d in (date(2024, 11, 5), date(2025, 10, 25), date(2026, 10, 20)):
        if d >= r65 and d <= as_of and rng.random() < keen * 0.5:
            doses.append(DoseFacts("COVID", d + timedelta(days=rng.randint(0, 40))))
    if rng.random() < 0.35:
        d = r65 + timedelta(days=rng.randint(20, 300))
        if d <= as_of:
            doses.append(DoseFacts("PPSV23", d))
    if rng.random() < 0.08:
        d = date(2025, rng.randint(5, 12), rng.randint(1, 28))
        if d <= as_of:
            doses.append(DoseFacts("ZOSTER_RZV", d))
            if d + timedelta(days=70) <= as_of:
                doses.append(DoseFacts("ZOSTER_RZV", d + timedelta(days=70)))
    return doses


def pyramid(n: int, as_of: date = AS_OF, seed: int = 1) -> list[tuple[PersonFacts, list[DoseFacts]]]:
    rng = random.Random(seed)
    bands = rng.choices(range(len(PYRAMID)), weights=PYRAMID, k=n)
    people = []
    for band in bands:
        age_days = rng.randint(band * 5 * 365, (band + 1) * 5 * 365 + 1)
        birth = as_of - timedelta(days=age_days)
        sex = rng.choice("MF")
        age = band * 5
        if age < 15:
            doses = _pyramid_child(rng, birth, sex, as_of)
        elif age < 25:
            doses = _pyramid_child(rng, birth, sex, as_of) if rng.random() < 0.7 else []
        elif age >= 65:
            doses = _pyramid_elder(rng, birth, as_of)
        else:
            doses = []
        cond = frozenset(("designated_disability",)) if age >= 60 and rng.random() < 0.02 \
            else frozenset()
        people.append((PersonFacts(birth, sex, cond), doses))
    return people


def run(people, as_of, rules) -> float:
    t0 = time.process_time()  # CPU time of this process: one core, unaffected by other load
    for p, d in people:
        evaluate(p, d, as_of, rules)
    return len(people) / (time.process_time() - t0)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
    as_of = AS_OF
    runs = [("pyramid", pyramid(n, as_of)),
            ("child-heavy, birth dates repeat (city batch)", population(n, False)),
            ("child-heavy, every birth date distinct", population(n, True))]
    for label, people in runs:
        rules = load_rules()  # fresh rules: an empty per-birth-date cache
        n_doses = sum(len(d) for _p, d in people)
        n_births = len({p.birth_date for p, _d in people})
        rate = run(people, as_of, rules)
        print(f"{label}: {n} persons ({n_births} birth dates), {n_doses / n:.1f} doses each, "
              f"{len(rules.entries)} eligibility lines: {rate:,.0f} persons/s")


if __name__ == "__main__":
    main()
