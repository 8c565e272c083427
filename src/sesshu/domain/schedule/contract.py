"""The JSON contract of the schedule engine (evaluate_json), used by the web API and tests.

Input::

    {"birth_date": "YYYY-MM-DD", "sex": "M"|"F", "as_of": "YYYY-MM-DD",
     "conditions": ["designated_disability"],
     "pregnancies": [{"expected_delivery": "YYYY-MM-DD"}],      # 妊娠届 (40週0日 on that date)
     "doses": [{"vaccine": "<code>", "date": "YYYY-MM-DD", "product": "..."}]}

Output::

    {"doses": [{"vaccine", "date", "status", "dose_number", "codes", "reasons"}],   # input order
     "eligibility": [{"vaccine", "next_dose", "status", "earliest", "standard_from",
                      "standard_until", "legal_until"}]}
"""

from __future__ import annotations

from datetime import date
from typing import Any

from .engine import DoseFacts, PersonFacts, evaluate
from .book import RuleBook
from .rules import RuleSet

SCHEDULE_VACCINE_CODES: tuple[str, ...] = (
    "HIB", "PCV", "HEPB", "ROTA1", "ROTA5", "DPTIPVHIB", "DPTIPV", "DPT", "IPV", "BCG", "MR",
    "MEASLES", "RUBELLA", "VAR", "JE", "DT", "HPV2", "HPV4", "HPV9", "RSV_MATERNAL", "FLU_ELDER", "PPSV23",
    "PCV20_ELDER", "COVID", "ZOSTER_LIVE", "ZOSTER_RZV",
)


class ContractError(ValueError):
    """The payload does not follow the contract; the message says which field."""


def _date(v: Any, where: str) -> date:
    if isinstance(v, str):
        try:
            return date.fromisoformat(v)
        except ValueError:
            pass
    raise ContractError(f"{where}: expected a date YYYY-MM-DD, got {v!r}")


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def parse_payload(payload: dict) -> tuple[PersonFacts, list[DoseFacts], date]:
    if not isinstance(payload, dict):
        raise ContractError("payload: expected an object")
    sex = payload.get("sex")
    if sex not in ("M", "F"):
        raise ContractError(f"sex: expected 'M' or 'F', got {sex!r}")
    conditions = payload.get("conditions") or []
    if not isinstance(conditions, list) or not all(isinstance(c, str) for c in conditions):
        raise ContractError("conditions: expected a list of strings")
    raw_preg = payload.get("pregnancies") or []
    if not isinstance(raw_preg, list):
        raise ContractError("pregnancies: expected a list of {expected_delivery}")
    pregnancies = []
    for i, p in enumerate(raw_preg):
        if not isinstance(p, dict):
            raise ContractError(f"pregnancies[{i}]: expected {{expected_delivery}}")
        pregnancies.append(_date(p.get("expected_delivery"), f"pregnancies[{i}].expected_delivery"))
    person = PersonFacts(_date(payload.get("birth_date"), "birth_date"), sex, frozenset(conditions),
                         tuple(pregnancies))
    as_of = _date(payload.get("as_of"), "as_of")
    raw = payload.get("doses") or []
    if not isinstance(raw, list):
        raise ContractError("doses: expected a list")
    doses = []
    for i, d in enumerate(raw):
        if not isinstance(d, dict) or not isinstance(d.get("vaccine"), str):
            raise ContractError(f"doses[{i}]: expected {{vaccine, date, product?}}")
        product = d.get("product")
        if product is not None and not isinstance(product, str):
            raise ContractError(f"doses[{i}].product: expected a string")
        doses.append(DoseFacts(d["vaccine"], _date(d.get("date"), f"doses[{i}].date"), product or None))
    return person, doses, as_of


def evaluate_json(payload: dict, rules: RuleSet | None = None, *, book: RuleBook | None = None) -> dict:
    """Evaluate a contract payload; raise ``ContractError`` on a malformed one.

    With ``book`` (the rules in force over time, sesshu.rulesets) each dose is judged by the rules in
    force on its date and the lines by those in force on ``as_of``; every dose and line then also
    says which rule file version judged it (``"rules"``)."""
    person, doses, as_of = parse_payload(payload)
    if book is None:
        ev = evaluate(person, doses, as_of, rules)
        return _output(ev.doses, ev.eligibility)
    now = book.at(as_of)
    evs = {id(rs): (rs, evaluate(person, doses, as_of, rs, lines=frozenset() if rs is not now else None))
           for rs in {id(r): r for r in [now, *(book.at(d.date) for d in doses)]}.values()}
    judged = [(evs[id(book.at(d.date))][1].doses[i], book.at(d.date)) for i, d in enumerate(doses)]
    out = _output([r for r, _rs in judged], evs[id(now)][1].eligibility)
    for o, (r, rs) in zip(out["doses"], judged):
        o["rules"] = rs.version_of(r.vaccine)
    for o in out["eligibility"]:
        o["rules"] = _line_version(now, o["vaccine"])
    return out


def _line_version(rules: RuleSet, line: str) -> str:
    entry = next((e for e in rules.entries if e.code == line), None)
    return rules.sources.get(entry.series[0].file, "") if entry is not None else ""


def _output(doses, eligibility) -> dict:
    return {
        "doses": [
            {"vaccine": r.vaccine, "date": r.date.isoformat(), "status": r.status,
             "dose_number": r.dose_number, "codes": list(r.codes), "reasons": list(r.reasons)}
            for r in doses
        ],
        "eligibility": [
            {"vaccine": e.vaccine, "next_dose": e.next_dose, "status": e.status,
             "earliest": _iso(e.earliest), "standard_from": _iso(e.standard_from),
             "standard_until": _iso(e.standard_until), "legal_until": _iso(e.legal_until)}
            for e in eligibility
        ],
    }
