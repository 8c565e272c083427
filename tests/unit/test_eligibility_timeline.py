"""Where a forecast can change with as_of (domain.schedule.timeline): the days the eligibility table samples."""
from __future__ import annotations

from datetime import date, timedelta

from sesshu.domain.schedule import PersonFacts, default_rules, evaluate
from sesshu.domain.schedule.timeline import line_points, relevant_vaccines


def _answer(facts, line, day):
    (e,) = [e for e in evaluate(facts, [], day, default_rules(), lines=frozenset((line,))).eligibility]
    return e


def test_the_answer_is_the_same_between_two_sampled_days_for_every_line_and_day():
    """Walk every day of two years for infants, a school child and an elderly person: whenever the
    answer changes from one day to the next, the new day is one of the sampled points."""
    rules = default_rules()
    first, last = date(2026, 1, 1), date(2027, 12, 31)
    for birth, sex in ((date(2025, 11, 30), "F"), (date(2026, 2, 28), "M"), (date(2019, 4, 1), "F"),
                       (date(1960, 10, 2), "M")):
        facts = PersonFacts(birth_date=birth, sex=sex)
        for entry in rules.entries:
            if entry.pregnancy:
                continue
            points = line_points(facts, rules, entry.code, first.toordinal(), last.toordinal())
            prev = _answer(facts, entry.code, first)
            day = first + timedelta(days=1)
            while day <= last:
                now = _answer(facts, entry.code, day)
                if now != prev:
                    assert day.toordinal() in points, (entry.code, birth, day, prev, now)
                prev = now
                day += timedelta(days=1)


def test_a_record_changes_only_the_lines_its_vaccine_is_counted_in_or_the_live_lines():
    rules = default_rules()
    assert relevant_vaccines(rules, "FLU_ELDER") == {"FLU_ELDER"}
    assert {"DPTIPVHIB", "HIB", "DPTIPV"} <= relevant_vaccines(rules, "HIB")  # a combined vaccine's series
    live = {v.code for v in rules.vaccines.values() if v.live == "injected"}
    assert live <= relevant_vaccines(rules, "MR") and live <= relevant_vaccines(rules, "VAR")
    assert "FLU_ELDER" not in relevant_vaccines(rules, "MR")


def test_points_from_the_rule_digest_are_the_points_of_the_plain_walk():
    """points_by_line (per rule set digest: fixed points once, age points per distinct age) lists exactly
    what the walk of every entry for every person (reference_points) lists."""
    import random

    from sesshu.domain.schedule.timeline import points_by_line, reference_points

    rules = default_rules()
    lines = [e.code for e in rules.entries]
    rnd = random.Random(5)
    first, last = date(2026, 11, 5).toordinal(), date(2027, 7, 8).toordinal()
    births = [date(1930, 1, 1) + timedelta(days=rnd.randrange(35000)) for _ in range(150)]
    births += [date(2019, 4, 1), date(2020, 4, 2), date(2024, 2, 29), date(1961, 3, 31)]
    for birth in births:
        sex = rnd.choice("MF")
        pregnancies = (date(2027, 1, 10), date(2027, 9, 1)) if sex == "F" and rnd.random() < 0.3 else ()
        facts = PersonFacts(birth_date=birth, sex=sex, pregnancies=pregnancies)
        assert points_by_line(facts, rules, lines, first, last) == reference_points(facts, rules, lines, first, last)


def _daily(monkeypatch, facts, book, first, last):
    """evaluate_spans with every day of the period sampled and every dose taken as relevant to every line
    (so every probe is evaluated): the reference for the sampling and the sharing."""
    from sesshu.eligibility import refresh

    every = set(range(first.toordinal(), last.toordinal() + 1))
    with monkeypatch.context() as m:
        m.setattr(refresh, "_samples", lambda f, book, sets, lines, *a: {ln: set(every) for ln in lines})
        m.setattr(refresh, "_relevant", lambda rs, line: frozenset(rs.vaccines))
        return refresh.evaluate_spans(None, facts, book, first, last)


def test_sampled_spans_with_shared_probes_equal_spans_evaluated_on_every_day(monkeypatch):
    """Dose dates sampled only for the lines their vaccine can change, and the probe taken to be the
    person's own answer on lines none of their doses can change: the spans are those of an evaluation
    on every day of the period (no sharing can apply there beyond the same rule, so this also checks that
    skipping the probe evaluation changes no opens_on)."""
    from sesshu.conditions.facts import ConditionSpan
    from sesshu.domain.schedule.book import compile_book
    from sesshu.eligibility import refresh

    class Row:
        _n = 0

        def __init__(self, vaccine, on, screening=None):
            Row._n += 1
            self.id, self.vaccine_code, self.vaccinated_on, self.screening_result = Row._n, vaccine, on, screening

    book = compile_book(())
    first, last = date(2026, 9, 20), date(2027, 2, 10)
    disability = (ConditionSpan("designated_disability", date(2026, 10, 15), date(2026, 12, 31)),)
    people = [
        # an infant: HIB doses (relevant to HIB), a 予診のみ visit, and an unrelated adult vaccine
        refresh._Facts("1", date(2026, 7, 3), "F", [Row("HIB", date(2026, 9, 5)), Row("HIB", date(2026, 10, 20)),
                                                    Row("PCV", date(2026, 11, 2), "screened_only"),
                                                    Row("FLU_ELDER", date(2026, 12, 1))], (), ()),
        # 60–64 with a designated disability for part of the period, an irrelevant dose in the period
        refresh._Facts("2", date(1963, 11, 20), "M", [Row("HPV9", date(2026, 11, 10))], disability, ()),
        # the same with a relevant dose (the probes are evaluated)
        refresh._Facts("3", date(1963, 11, 20), "M", [Row("FLU_ELDER", date(2026, 10, 20))], disability, ()),
        # an elder turning 65 in the period, a live vaccine before (27-day rule lines)
        refresh._Facts("4", date(1961, 12, 15), "F", [Row("ZOSTER_LIVE", date(2026, 11, 25))], (), ()),
        # a school child with a JE dose and an MR dose
        refresh._Facts("5", date(2019, 5, 30), "M", [Row("JE", date(2026, 10, 2)), Row("MR", date(2026, 12, 24))],
                       (), ()),
        # past MR 2期 with no MR dose: a varicella dose (live) makes the engine answer not_yet for MR while
        # the probe (no dose) is expired — the probe decides, and is evaluated
        refresh._Facts("6", date(2017, 6, 10), "F", [Row("VAR", date(2026, 10, 5))], (), ()),
    ]
    key = lambda r: (r["atena_no"], r["line"], r["valid_from"])  # noqa: E731
    sampled = sorted(refresh.evaluate_spans(None, people, book, first, last), key=key)
    daily = sorted(_daily(monkeypatch, people, book, first, last), key=key)
    assert sampled and sampled == daily
