"""Throughput of the schedule engine: persons/s evaluating + forecasting every vaccine.

Run: .venv/bin/python bench/bench_schedule.py [persons]
Each person has a realistic history (a fully vaccinated 9-year-old: 25 doses, or a 72-year-old
with yearly influenza/COVID doses and PPSV23); every eligibility line is forecast. Measured in
CPU time of one process, once with repeating birth dates (a city batch: the engine caches
birth-date-derived windows) and once with every birth date distinct (cold cache).
"""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta

from sesshu.domain import jdates
from sesshu.domain.schedule import DoseFacts, PersonFacts, evaluate, load_rules


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
    people = []
    for i in range(n):
        if i % 4 == 3:
            b = date(1954, 1, 1) + timedelta(days=i if distinct_births else i % 3000)
            people.append((PersonFacts(b, "M" if i % 2 else "F"), elder(b)))
        else:
            b = date(2017, 4, 2) + timedelta(days=(i // 4) % 3000 if distinct_births else i % 365)
            people.append((PersonFacts(b, "F" if i % 2 else "M"), child(b)))
    return people


def run(people, as_of, rules) -> float:
    t0 = time.process_time()  # CPU time of this process: one core, unaffected by other load
    for p, d in people:
        evaluate(p, d, as_of, rules)
    return len(people) / (time.process_time() - t0)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    as_of = date(2026, 11, 1)
    for distinct in (False, True):
        rules = load_rules()  # fresh rules: an empty per-birth-date cache
        people = population(n, distinct)
        n_doses = sum(len(d) for _p, d in people)
        rate = run(people, as_of, rules)
        label = "every birth date distinct" if distinct else "birth dates repeat (city batch)"
        print(f"{n} persons, {n_doses / n:.1f} doses each, {len(rules.entries)} eligibility "
              f"lines, {label}: {rate:,.0f} persons/s")


if __name__ == "__main__":
    main()
