"""The condition codes, their Japanese labels, legal sources and accepted evidence, as data
(sesshu/data/person_conditions.yaml), checked against the conditions the schedule engine knows."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from sesshu.domain.schedule.rules import CONDITIONS as ENGINE_CONDITIONS


@dataclass(frozen=True)
class ConditionKind:
    code: str
    label: str
    description: str
    applies_to: str
    source: str
    required_grade: int | None
    impairments: dict[str, str]


@dataclass(frozen=True)
class EvidenceKind:
    code: str
    label: str
    needs: frozenset[str]  # grade / number / note
    source: str


@dataclass(frozen=True)
class ConditionCatalog:
    conditions: dict[str, ConditionKind]
    evidence: dict[str, EvidenceKind]


def parse_catalog(data: dict) -> ConditionCatalog:
    if not isinstance(data, dict) or data.get("schema") != "sesshu.person_conditions/1":
        raise ValueError("person_conditions.yaml: schema must be sesshu.person_conditions/1")
    conditions = {}
    for code, c in (data.get("conditions") or {}).items():
        if code not in ENGINE_CONDITIONS:
            raise ValueError(f"person_conditions.yaml: {code} is not a condition the schedule engine knows")
        for key in ("label", "source", "impairments"):
            if not c.get(key):
                raise ValueError(f"person_conditions.yaml: {code}.{key} is required")
        conditions[code] = ConditionKind(code=code, label=c["label"], description=c.get("description", "").strip(),
                                         applies_to=c.get("applies_to", ""), source=c["source"].strip(),
                                         required_grade=c.get("required_grade"),
                                         impairments={str(k): str(v) for k, v in c["impairments"].items()})
    evidence = {}
    for code, e in (data.get("evidence_kinds") or {}).items():
        needs = frozenset(e.get("needs") or ())
        if not e.get("label") or not needs <= {"grade", "number", "note"}:
            raise ValueError(f"person_conditions.yaml: evidence_kinds.{code} needs a label and known needs")
        evidence[code] = EvidenceKind(code=code, label=e["label"], needs=needs, source=e.get("source", ""))
    if not conditions or not evidence:
        raise ValueError("person_conditions.yaml: at least one condition and one evidence kind are required")
    return ConditionCatalog(conditions=conditions, evidence=evidence)


@lru_cache(maxsize=1)
def catalog() -> ConditionCatalog:
    text = resources.files("sesshu").joinpath("data/person_conditions.yaml").read_text(encoding="utf-8")
    return parse_catalog(yaml.safe_load(text))
