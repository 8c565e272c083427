"""evaluate_many (the batch path) gives exactly what evaluate gives, person by person.

The batch shares a person's derived dates, the answers of untouched lines and the whole
forecast of persons with no dose between persons with the same facts; these tests compare every
field of every result with the single-person path on fresh rules (no cache shared between the
two), for random persons and histories that repeat birth dates as a city does.
"""

from __future__ import annotations

import gc
import random
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sesshu.domain.schedule import (
    PANDEMIC_DIR,
    DoseFacts,
    PersonFacts,
    evaluate,
    evaluate_many,
    load_rules,
)

CODES = ("HIB", "PCV", "HEPB", "ROTA1", "ROTA5", "DPTIPVHIB", "DPTIPV", "DPT", "IPV", "BCG", "MR",
         "VAR", "JE", "DT", "HPV2", "HPV4", "HPV9", "FLU_ELDER", "PPSV23", "COVID", "ZOSTER_LIVE",
         "ZOSTER_RZV", "PANDEMIC_EXAMPLE", "NOT_A_VACCINE")
PRODUCTS = (None, None, None, "ガーダシル", "シルガード9", "ビケン", "not a product")
CONDITIONS = ("designated_disability", "medical_high_risk")


def _single(items, as_of, rules, lines=None):
    return [evaluate(p, d, as_of, rules, lines=lines) for p, d in items]


def _month_edge(y: int, m: int, d: int) -> date:
    while True:
        try:
            return date(y, m, d)
        except ValueError:
            d -= 1


births = st.one_of(
    st.dates(min_value=date(1920, 1, 1), max_value=date(2026, 12, 31)),
    st.builds(_month_edge, st.integers(1940, 2026), st.integers(1, 12),
              st.sampled_from((1, 2, 3, 4, 26, 27, 28, 29, 30, 31))),
)


@st.composite
def persons(draw, pool):
    birth = draw(st.sampled_from(pool))
    facts = PersonFacts(birth, draw(st.sampled_from("MF")),
                        frozenset(draw(st.lists(st.sampled_from(CONDITIONS), max_size=2))))
    span = max(1, (date(2027, 6, 1) - birth).days)
    doses = draw(st.lists(st.builds(
        DoseFacts, st.sampled_from(CODES),
        st.integers(-30, span).map(lambda n: birth + timedelta(days=n)),
        st.sampled_from(PRODUCTS)), max_size=8))
    return facts, doses


@st.composite
def cities(draw):
    pool = draw(st.lists(births, min_size=1, max_size=6, unique=True))
    return draw(st.lists(persons(pool), min_size=1, max_size=25))


as_ofs = st.one_of(st.sampled_from((date(2026, 11, 1), date(2025, 3, 31), date(2024, 10, 1))),
                   st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)))
line_filters = st.one_of(st.none(), st.just(frozenset()),
                         st.sets(st.sampled_from(("HIB", "MR", "JE", "HPV", "FLU_ELDER", "COVID",
                                                  "PPSV23", "ZOSTER_RZV", "PANDEMIC_EXAMPLE")),
                                 min_size=1, max_size=3).map(frozenset))


# Two rule sets, one per path, so neither path reads a cache the other one filled.
_BATCH_RULES = load_rules([PANDEMIC_DIR / "example.yaml"])
_SINGLE_RULES = load_rules([PANDEMIC_DIR / "example.yaml"])


@settings(max_examples=300, deadline=None)
@given(cities(), as_ofs, line_filters)
def test_batch_equals_single_evaluation(items, as_of, lines):
    batch = evaluate_many(items, as_of, _BATCH_RULES, lines=lines)
    assert batch == _single(items, as_of, _SINGLE_RULES, lines)


def _city(rng: random.Random, n: int, n_births: int) -> list:
    pool = [date(1925, 1, 1) + timedelta(days=rng.randint(0, 37000)) for _ in range(n_births)]
    pool += [date(2020, 1, 31), date(2024, 2, 29), date(2021, 4, 1), date(2019, 4, 2)]
    out = []
    for _ in range(n):
        b = rng.choice(pool)
        doses = []
        if rng.random() < 0.5:
            for _k in range(rng.randint(1, 12)):
                doses.append(DoseFacts(rng.choice(CODES[:-1]),
                                       b + timedelta(days=rng.randint(0, 10000))))
        cond = frozenset(("designated_disability",)) if rng.random() < 0.1 else frozenset()
        out.append((PersonFacts(b, rng.choice("MF"), cond), doses))
    return out


def test_batch_equals_single_evaluation_for_a_city():
    """Many persons per birth date, as in a real city (the groups are large)."""
    rng = random.Random(4)
    items = _city(rng, 3000, 60)
    for as_of in (date(2026, 11, 1), date(2025, 1, 31)):
        assert evaluate_many(items, as_of, load_rules()) == _single(items, as_of, load_rules())
        only = frozenset(("MR",))
        assert evaluate_many(items, as_of, load_rules(), lines=only) == _single(
            items, as_of, load_rules(), only)


def test_persons_without_doses_do_not_share_a_mutable_list():
    p = PersonFacts(date(1980, 5, 5), "F")
    a, b = evaluate_many([(p, []), (p, [])], date(2026, 11, 1))
    assert a == b and a.eligibility is not b.eligibility and a.doses is not b.doses
    a.eligibility.clear()
    assert b.eligibility == evaluate(p, [], date(2026, 11, 1)).eligibility != []


def test_results_follow_input_order_and_accept_any_iterable():
    rng = random.Random(9)
    items = _city(rng, 200, 5)
    as_of = date(2026, 11, 1)
    assert evaluate_many(iter(items), as_of) == _single(items, as_of, load_rules())
    assert evaluate_many([], as_of) == []


def test_garbage_collector_state_is_restored():
    items = _city(random.Random(1), 20, 3)
    assert gc.isenabled()
    evaluate_many(items, date(2026, 11, 1))
    assert gc.isenabled()
    gc.disable()
    try:
        evaluate_many(items, date(2026, 11, 1))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_garbage_collector_is_restored_when_the_batch_fails():
    bad = [(PersonFacts(date(2020, 1, 1), "F"), [DoseFacts("MR", "not a date")])]
    with pytest.raises(AttributeError):
        evaluate_many(bad, date(2026, 11, 1))
    assert gc.isenabled()


def test_ledger_evaluate_people_equals_evaluate_rows():
    """The ledger's batch helper (evaluate_pending, 対象者選定) gives each person's verdicts and
    lines exactly as its per-person helper does — 予診のみ visits among the doses included."""
    from collections import namedtuple

    from sesshu.domain.schedule.book import compile_book
    from sesshu.ledger.evaluation import evaluate_people, evaluate_rows

    book = compile_book(())  # the shipped rules only

    Row = namedtuple("Row", "id vaccine_code vaccinated_on screening_result")
    rng = random.Random(21)
    people, rid = [], 0
    for p, doses in _city(rng, 600, 25):
        rows = []
        for d in doses:
            rid += 1
            rows.append(Row(rid, d.vaccine, d.date, "screened_only" if rng.random() < 0.05 else "vaccinated"))
        people.append((p.birth_date, p.sex, rows))
    as_of = date(2026, 11, 1)
    for lines in (None, frozenset(), frozenset(("MR",))):
        assert evaluate_people(people, as_of, lines, book=book) == [
            evaluate_rows(b, sex, rows, as_of, lines, book=book) for b, sex, rows in people]


def test_a_screening_only_visit_is_judged_but_is_not_a_dose():
    """予診のみ: the doctor screened the child and did not vaccinate. The visit gets the verdict the dose
    would have had that day (it decides the 予診のみ fee), but the series does not move on: the child is
    still due for the same dose, and a later real dose is that dose, not the next one."""
    from types import SimpleNamespace

    from sesshu.domain.schedule.book import compile_book
    from sesshu.ledger.evaluation import evaluate_people, evaluate_rows

    book = compile_book(())  # the shipped rules only

    born = date(2024, 3, 10)
    visit = SimpleNamespace(id=1, vaccine_code="MR", vaccinated_on=date(2025, 4, 1), screening_result="screened_only")
    as_of = date(2025, 4, 15)
    ev = evaluate_rows(born, "F", [visit], as_of, book=book)
    assert ev.verdicts[1].status == "valid" and ev.verdicts[1].dose_number == 1
    mr = next(e for e in ev.eligibility if e.vaccine == "MR")
    assert mr.next_dose == 1 and mr.status != "complete"  # still due: nothing was given

    dose = SimpleNamespace(id=2, vaccine_code="MR", vaccinated_on=date(2025, 4, 20), screening_result="vaccinated")
    ev = evaluate_rows(born, "F", [visit, dose], date(2025, 5, 1), book=book)
    assert ev.verdicts[2].dose_number == 1 and ev.verdicts[2].status == "valid"
    assert next(e for e in ev.eligibility if e.vaccine == "MR").next_dose == 2
    assert evaluate_people([(born, "F", [visit, dose])], date(2025, 5, 1), book=book) == [ev]
    # The same visit counted as a dose would have closed 1期 — the bug this guards against.
    as_dose = SimpleNamespace(**{**vars(visit), "screening_result": "vaccinated"})
    assert next(e for e in evaluate_rows(born, "F", [as_dose], as_of, book=book).eligibility if e.vaccine == "MR").next_dose == 2
