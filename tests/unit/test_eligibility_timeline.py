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
