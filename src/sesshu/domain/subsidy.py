"""費用助成 (copay exemption) decided by matching an application against 地方税関係情報.

Pure: the caller passes the household's members (from the registry copy) and the tax rows of the
fiscal year (from the tax system's file). The rule (demo city's 費用助成要綱, see billing/data/fees.yaml):
a household on 生活保護, or one where every member is 市民税非課税, pays no copay. A household where
a member's tax status is unknown cannot be decided by matching: staff must check the papers and, if
they exempt the person anyway, that manual decision needs a second person's approval.
"""
from __future__ import annotations

from dataclasses import dataclass

EXEMPT = "exempt"
NOT_EXEMPT = "not_exempt"
UNDETERMINED = "undetermined"
OUTCOMES = {EXEMPT: "免除（自己負担なし）", NOT_EXEMPT: "免除なし", UNDETERMINED: "判定不能（税情報なし）"}


@dataclass(frozen=True)
class TaxFact:
    atena_no: str
    household_no: str
    taxable: bool  # 市民税 課税
    welfare: bool  # 生活保護 受給


@dataclass(frozen=True)
class SubsidyMatch:
    outcome: str
    reason: str
    members: tuple[str, ...]  # 宛名番号 of the household members considered
    used: tuple[TaxFact, ...]  # the tax rows the decision rests on


def match_household(applicant: str, members: list[str], facts: list[TaxFact]) -> SubsidyMatch:
    """members: 宛名番号 of the applicant's household in the registry; facts: tax rows of the fiscal year
    for those persons or for the household number (the tax system's household on 1 January)."""
    everyone = tuple(sorted({applicant, *members, *(f.atena_no for f in facts)}))
    by_person = {f.atena_no: f for f in facts}
    used = tuple(by_person[a] for a in everyone if a in by_person)
    if any(f.welfare for f in used):
        return SubsidyMatch(EXEMPT, "生活保護受給世帯のため自己負担を免除します", everyone, used)
    taxable = [f.atena_no for f in used if f.taxable]
    if taxable:
        return SubsidyMatch(NOT_EXEMPT, f"市民税課税の世帯員がいるため免除の対象外です（{len(taxable)}人）", everyone, used)
    unknown = [a for a in everyone if a not in by_person]
    if unknown:
        return SubsidyMatch(UNDETERMINED, f"税情報のない世帯員がいるため判定できません（宛名番号 {'、'.join(unknown)}）",
                            everyone, used)
    return SubsidyMatch(EXEMPT, "世帯全員が市民税非課税のため自己負担を免除します", everyone, used)
