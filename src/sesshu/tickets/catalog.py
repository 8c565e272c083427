"""Data the tickets feature reads: 券種 codes, issue/invalidation reasons, the letters' wording, and the
labels of each eligibility line (name, 期) from the schedule rules."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from sesshu.domain.errors import InvalidInput
from sesshu.domain.schedule import RuleSet, default_rules

_DIR = Path(__file__).parent
_CATEGORY = {"A類": "routine_a", "B類": "routine_b"}


def _category(series_category: str) -> str:
    """A line's 接種区分: A類/B類 for the shipped lines; a campaign's 住民接種 or 特定接種 (特措法)."""
    if series_category in _CATEGORY:
        return _CATEGORY[series_category]
    if "特定接種" in series_category:
        return "designated"
    if "住民接種" in series_category or "臨時" in series_category:
        return "pandemic_resident"
    return "routine_a"


@lru_cache(maxsize=1)
def kinds_data() -> dict:
    return yaml.safe_load((_DIR / "kinds.yaml").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def letters() -> dict:
    return yaml.safe_load((_DIR / "letters.yaml").read_text(encoding="utf-8"))


def invalidation_reasons() -> dict[str, str]:
    return kinds_data()["invalidation_reasons"]


def check_invalidation_reason(reason: str) -> str:
    reasons = invalidation_reasons()
    reason = reason.strip()
    if reason not in reasons:
        raise InvalidInput(f"無効にする理由は {'・'.join(reasons)} のいずれかです")
    return reason


@dataclass(frozen=True)
class LineInfo:
    code: str  # eligibility line (MR, HPV, …)
    name: str  # 麻しん・風しん（MR）
    category: str  # routine_a / routine_b
    kind: str  # 券種
    terms: tuple[str, ...]  # 期 of each target dose, when the rules name one ("" otherwise)

    def term_of(self, dose: int) -> str:
        return self.terms[dose - 1] if 0 < dose <= len(self.terms) else ""

    def dose_text(self, dose: int) -> str:
        """How the dose is called on paper: "2期" when the 期 has one dose, else "1期 3回目" or "3回目"."""
        term = self.term_of(dose)
        if term and self.terms.count(term) == 1:
            return term
        return f"{term + ' ' if term else ''}{dose}回目"


def lines(rules: RuleSet | None = None) -> dict[str, LineInfo]:
    """Every line a 接種券 can be issued for: the shipped ones, and with ``rules`` (``rule_book(s).at(day)``)
    the lines of the campaigns in force that day (住民接種, 特定接種)."""
    return _lines(rules or default_rules())


@lru_cache(maxsize=8)  # one entry per compiled rule set (a book holds a few)
def _lines(rules: RuleSet) -> dict[str, LineInfo]:
    kind_of = {c: k["code"] for k in kinds_data()["kinds"] for c in k["categories"]}
    out = {}
    for e in rules.entries:
        series = e.series[0]
        category = _category(series.category)
        terms: tuple[str, ...] = ()
        paths = series.paths or ()
        if paths:
            # The 期 of each dose, where every path of the series agrees on it.
            longest = max(len(p.targets) for p in paths)
            named = []
            for i in range(longest):
                ids = {series.terms[p.targets[i].term].id for p in paths if i < len(p.targets)}
                only = ids.pop() if len(ids) == 1 else ""
                named.append(only if only.endswith("期") else "")
            terms = tuple(named)
        out[e.code] = LineInfo(code=e.code, name=_display_name(e.code, series.name), category=category,
                               kind=kind_of[category], terms=terms)
    return out


def _display_name(code: str, fallback: str) -> str:
    names = letters().get("line_names", {})
    return names.get(code, fallback)


@lru_cache(maxsize=8)
def _aliases(rules: RuleSet) -> dict[str, str]:
    """Every vaccine code → its eligibility line (HPV9 → HPV, MEASLES → MR)."""
    out = {code: code for code in _lines(rules)}
    for e in rules.entries:
        for v in sorted(e.vaccines):
            out.setdefault(v, e.code)
    return out


def line_vaccines(code: str, rules: RuleSet | None = None) -> frozenset[str]:
    """The vaccine codes a ticket of this line may be used for."""
    return frozenset(v for v, line in _aliases(rules or default_rules()).items() if line == code) | {code}


def line_info(code: str, rules: RuleSet | None = None) -> LineInfo:
    rules = rules or default_rules()
    info = _lines(rules).get(_aliases(rules).get(code.strip().upper(), ""))
    if info is None:
        raise InvalidInput(f"接種種別「{code}」の接種券は発行できません（{', '.join(_lines(rules))}）")
    return info
