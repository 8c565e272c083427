"""Folding product alternatives into one row per shot (what the person page shows)."""
from __future__ import annotations

from datetime import date

from sesshu.domain.schedule import evaluate, load_rules
from sesshu.domain.schedule.display import fold_alternatives
from sesshu.domain.schedule.engine import DoseFacts, PersonFacts

AS_OF = date(2026, 11, 26)


def _lines(birth: date, doses: list[tuple[str, date]]):
    result = evaluate(PersonFacts(birth_date=birth, sex="M"), [DoseFacts(vaccine=v, date=d) for v, d in doses],
                      AS_OF, rules=load_rules())
    return result.eligibility


def _rows(birth, doses):
    latest = {}
    for v, d in doses:
        latest[v] = max(latest.get(v, d), d)
    return {r.line.vaccine: (r.line.status, r.line.next_dose, r.alternatives, r.included_in)
            for r in fold_alternatives(_lines(birth, doses), latest)}


def test_a_baby_on_the_five_in_one_sees_one_row_for_the_next_shot():
    rows = _rows(date(2026, 1, 10), [("DPTIPVHIB", date(2026, 3, 10)), ("DPTIPVHIB", date(2026, 4, 10))])
    assert rows["DPTIPVHIB"] == ("eligible", 3, ["DPTIPV", "DPT", "IPV"], None)
    assert not {"DPTIPV", "DPT", "IPV"} & set(rows)
    # ヒブ has its own last date (5 years) so it keeps its row, marked as given with the 五種混合.
    assert rows["HIB"] == ("eligible", 3, [], "DPTIPVHIB")
    assert rows["PCV"][0] == "eligible" and rows["MR"][0] == "not_yet"


def test_a_child_on_four_in_one_plus_hib_keeps_hib_as_its_own_row():
    birth = date(2023, 1, 10)
    doses = [("DPTIPV", date(2023, 3, 10)), ("HIB", date(2023, 3, 10)),
             ("DPTIPV", date(2023, 4, 10)), ("HIB", date(2023, 4, 10))]
    rows = _rows(birth, doses)
    assert "DPTIPV" in rows and "HIB" in rows and rows["HIB"][3] is None
    assert "DPTIPVHIB" in rows  # protects against more than the product in use: never folded into it
    assert set(rows["DPTIPV"][2]) <= {"DPT", "IPV"}


def test_nothing_is_folded_when_the_answers_differ():
    lines = _lines(date(2026, 1, 10), [("DPTIPVHIB", date(2026, 3, 10))])
    codes = [r.line.vaccine for r in fold_alternatives(lines, {"DPTIPVHIB": date(2026, 3, 10)})]
    folded = {c for r in fold_alternatives(lines, {"DPTIPVHIB": date(2026, 3, 10)}) for c in r.alternatives}
    by = {l.vaccine: l for l in lines}
    for code in folded:  # every folded line said exactly what its row says
        assert (by[code].status, by[code].next_dose, by[code].earliest) == \
            (by["DPTIPVHIB"].status, by["DPTIPVHIB"].next_dose, by["DPTIPVHIB"].earliest)
    assert len(codes) + len(folded) == len(lines)
