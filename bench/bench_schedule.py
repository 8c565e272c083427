"""Throughput of the schedule engine: persons/s evaluating + forecasting every vaccine.

Run: .venv/bin/python bench/bench_schedule.py [persons] [--mix pyramid|child|all] [--no-single]
     (default 200,000 persons of the pyramid mix; issue 4's figure: 1000000)

Measured in CPU time of one process (one core, unaffected by other load), on fresh rules (empty
caches), for two paths over the same persons in random order:

* **batch** — ``evaluate_many(persons, as_of)``, one call for the whole population (the
  nightly ``evaluate_pending`` calls it per 2,000 persons); the results are kept and their memory
  is reported;
* **single** — ``evaluate(person, doses, as_of)`` per person (results dropped one by one).

The batch shares work between persons with the same birth date, sex and conditions, so its rate
grows with the city: a 1,000,000-person city has ~27 persons per birth date, a 200,000 sample
about 5.  Populations:

* **pyramid** (the headline figure): a city's residents by Japan's population pyramid
  (総務省 人口推計 2023, 5-year bands: ~11 % under 15, ~60 % 15–64, ~29 % 65+), birth dates
  drawn uniformly inside each band, persons in random order.  Histories follow age: children get
  the routine schedule up to ``as_of`` (some doses missed, dates jittered, ~5 % started months
  late as catch-up), teenagers and young adults keep their childhood records (70 %), girls HPV
  (~35 %), JE 特例 and HPV キャッチアップ doses for the cohorts that have them, adults 25–64
  have no 定期 doses, elders get influenza in ~half the years since 65 (ledger kept ~10 years),
  COVID, PPSV23 (35 %), zoster.
* **child-heavy** (``--mix child``): 3 of 4 persons a fully vaccinated child (25 doses), 1 of 4
  a 72-year-old with 13 doses; birth dates repeat (365 / 3,000 distinct), then all distinct.
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from datetime import date, timedelta

from sesshu.domain import jdates
from sesshu.domain.schedule import DoseFacts, PersonFacts, evaluate, evaluate_many, load_rules

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
    late = rng.choice((90, 180, 270, 400, 550)) if rng.random() < 0.05 else 0  # catch-up
    m = lambda n: jdates.reach_months(birth, n) + timedelta(days=late + rng.choice(  # noqa: E731
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
    elif sex == "F" and date(1997, 4, 2) <= birth <= date(2009, 4, 1) and rng.random() < 0.25:
        # HPV キャッチアップ (FY2022–FY2024, completion allowed into FY2025)
        start = date(2022, 4, 1) + timedelta(days=rng.randint(0, 1080))
        v = rng.choice(("HPV9", "HPV9", "HPV4"))
        for g in (0, 2, 6):
            doses.append(DoseFacts(v, start + timedelta(days=31 * g + rng.randint(0, 9))))
    if date(1995, 4, 2) <= birth <= date(2007, 4, 1) and rng.random() < 0.3:
        # JE 特例: the doses missed in 2005–2010, caught up before 20
        start = jdates.reach_months(birth, rng.randint(110, 220))
        for g in (0, 1, 12):
            doses.append(DoseFacts("JE", start + timedelta(days=31 * g + rng.randint(6, 20))))
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


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    """Resident memory of this process now (MB; Linux /proc, else the peak)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return _peak_rss_mb()


def run_single(people, as_of, rules) -> float:
    t0 = time.process_time()  # CPU time of this process: one core, unaffected by other load
    for p, d in people:
        evaluate(p, d, as_of, rules)
    return len(people) / (time.process_time() - t0)


def run_batch(people, as_of, rules) -> tuple[float, list]:
    t0 = time.process_time()
    results = evaluate_many(people, as_of, rules)
    return len(people) / (time.process_time() - t0), results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("persons", nargs="?", type=int, default=200_000)
    ap.add_argument("--mix", choices=("pyramid", "child", "all"), default="pyramid")
    ap.add_argument("--no-single", action="store_true", help="measure the batch path only")
    args = ap.parse_args()
    n, as_of = args.persons, AS_OF
    runs = []
    if args.mix in ("pyramid", "all"):
        runs.append(("pyramid", lambda: pyramid(n, as_of)))
    if args.mix in ("child", "all"):
        runs += [("child-heavy, birth dates repeat", lambda: population(n, False)),
                 ("child-heavy, every birth date distinct", lambda: population(n, True))]
    for label, make in runs:
        people = make()
        n_doses = sum(len(d) for _p, d in people)
        n_groups = len({(p.birth_date, p.sex, p.conditions) for p, _d in people})
        n_births = len({p.birth_date for p, _d in people})
        print(f"{label}: {n:,} persons ({n_births:,} birth dates, {n_groups:,} birth date × sex × "
              f"conditions), {n_doses / n:.1f} doses each, as of {as_of}", flush=True)
        before = _rss_mb()
        rules = load_rules()  # fresh rules: empty caches
        rate, results = run_batch(people, as_of, rules)
        lines = sum(len(e.eligibility) for e in results)
        print(f"  batch  evaluate_many: {rate:>8,.0f} persons/s  ({lines / n:.0f} eligibility lines "
              f"each; the {n:,} results take {_rss_mb() - before:,.0f} MB, RSS with the input "
              f"{_rss_mb():,.0f} MB, peak {_peak_rss_mb():,.0f} MB)", flush=True)
        del results
        if not args.no_single:
            rate = run_single(people, as_of, load_rules())
            print(f"  single evaluate:      {rate:>8,.0f} persons/s", flush=True)
        del people


if __name__ == "__main__":
    main()
