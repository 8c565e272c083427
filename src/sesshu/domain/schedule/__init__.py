"""Vaccination schedule engine: rule data (rules/*.yaml), evaluation and forecast.

Pure domain code: no database, no web, and "today" (``as_of``) is always passed in.

- ``evaluate(person, doses, as_of, rules=None) -> Evaluation`` — the Python API (ledger).
- ``evaluate_many([(person, doses), ...], as_of, rules=None) -> list[Evaluation]`` — the same
  for a batch (one ``as_of``), sharing the work of persons born on the same day.
- ``evaluate_json(payload) -> dict`` — the JSON contract (web API, CLI ``sesshu schedule``).
- ``load_rules(extra_files=(), include_default=True, overrides=None) -> RuleSet`` — compile rule
  files (e.g. ``PANDEMIC_DIR / "example.yaml"``); ``default_rules()`` is the cached default set.
- Codes and their Japanese messages: ``CODES`` (docs/schedule-error-codes.md).
"""

from .codes import CODES, Code
from .contract import SCHEDULE_VACCINE_CODES, ContractError, evaluate_json
from .engine import (
    DoseFacts,
    DoseResult,
    EligibilityResult,
    Evaluation,
    PersonFacts,
    evaluate,
    evaluate_many,
)
from .rules import PANDEMIC_DIR, RULES_DIR, RuleError, RuleSet, default_rules, load_rules

__all__ = [
    "CODES",
    "PANDEMIC_DIR",
    "RULES_DIR",
    "SCHEDULE_VACCINE_CODES",
    "Code",
    "ContractError",
    "DoseFacts",
    "DoseResult",
    "EligibilityResult",
    "Evaluation",
    "PersonFacts",
    "RuleError",
    "RuleSet",
    "default_rules",
    "evaluate",
    "evaluate_many",
    "evaluate_json",
    "load_rules",
]
