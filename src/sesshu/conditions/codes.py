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
    evidence: frozenset[str] | None = None  # the evidence kinds that show it (None: any)


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


def with_campaign_groups(cat: ConditionCatalog, groups: dict[str, dict]) -> ConditionCatalog:
    """The catalog plus the priority groups (接種順位) of the active campaigns (RuleBook.groups): staff record
    membership as a condition, on the evidence the campaign names (本人の申告, 施設の証明書, 名簿)."""
    if not groups:
        return cat
    extra = {}
    for code, g in groups.items():
        if code in cat.conditions:
            continue
        unknown = [e for e in g["evidence"] if e not in cat.evidence]
        if unknown:
            raise ValueError(f"campaign {g['campaign']}: priority group {code}: unknown evidence {unknown}")
        extra[code] = ConditionKind(code=code, label=g["name"], description="", applies_to=f"実施計画 {g['campaign']}",
                                    source=g["source"], required_grade=None, impairments={},
                                    evidence=frozenset(g["evidence"]) or None)
    return ConditionCatalog(conditions={**cat.conditions, **extra}, evidence=cat.evidence)


@lru_cache(maxsize=1)
def catalog() -> ConditionCatalog:
    text = resources.files("sesshu").joinpath("data/person_conditions.yaml").read_text(encoding="utf-8")
    return parse_catalog(yaml.safe_load(text))
