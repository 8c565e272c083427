"""evaluate(lines=...) forecasts only the asked lines and never changes a dose's verdict."""
from __future__ import annotations

import random
from datetime import date, timedelta

from sesshu.domain.schedule import DoseFacts, PersonFacts, evaluate


def _cases(n=400):
    rng = random.Random(11)
    codes = ["HIB", "PCV", "MR", "VAR", "DPTIPVHIB", "DPTIPV", "JE", "HPV9", "FLU_ELDER", "BCG", "ROTA1", "COVID"]
    for _ in range(n):
        birth = date(1950, 1, 1) + timedelta(days=rng.randrange(27000))
        doses = [DoseFacts(rng.choice(codes), birth + timedelta(days=rng.randrange(6000))) for _ in range(rng.randrange(10))]
        yield PersonFacts(birth, rng.choice("MF")), [d for d in doses if d.date <= date(2026, 11, 1)]


def test_verdicts_are_the_same_with_any_line_filter():
    for person, doses in _cases():
        full = evaluate(person, doses, date(2026, 11, 1))
        for lines in (frozenset(), frozenset({"MR"}), frozenset({"HPV", "FLU_ELDER"})):
            part = evaluate(person, doses, date(2026, 11, 1), lines=lines)
            assert [(d.status, d.dose_number, d.codes) for d in part.doses] == \
                [(d.status, d.dose_number, d.codes) for d in full.doses]
            assert part.eligibility == [e for e in full.eligibility if e.vaccine in lines]
