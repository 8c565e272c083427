"""Shared helpers for the schedule tests: run the JSON contract and pick results apart."""
from __future__ import annotations

from sesshu.domain.schedule import evaluate_json


def evaluate_doses(doses, *, birth: str, as_of: str, sex: str = "F", conditions=(), rules=None) -> dict:
    """doses: (vaccine, date) pairs, or (vaccine, date, product) triples."""
    payload = {"birth_date": birth, "sex": sex, "as_of": as_of, "conditions": list(conditions),
               "doses": [{"vaccine": d[0], "date": d[1], **({"product": d[2]} if len(d) > 2 else {})}
                         for d in doses]}
    return evaluate_json(payload, rules) if rules is not None else evaluate_json(payload)


def outcome(r: dict) -> list[tuple]:
    return [(d["status"], d["dose_number"], d["codes"]) for d in r["doses"]]


def line(r: dict, code: str) -> dict:
    return next(e for e in r["eligibility"] if e["vaccine"] == code)
