"""What the law allows in a relief case — pure (no database, "today" passed in).

予防接種法 第16条: which benefits exist for which class of vaccination (benefits.yaml), to whom (a living
person gets no death benefit; 障害児養育年金 is for a person under 18, 障害年金 for 18 and over) and up to
what amount (amounts.yaml, 予防接種法施行令). Every check returns Japanese reasons, so the claim form,
the decision, a correction and the approval of a correction refuse the same things with the same words.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources

import yaml

from sesshu.domain.jdates import reach_age

# 接種区分 of a vaccination record (ledger) → the class of the relief case.
# 住民接種・特定接種 (新型インフルエンザ等対策特別措置法) are relieved as 臨時接種 (同法 第46条・第28条).
# 任意接種 is outside 予防接種法: its relief is the PMDA 医薬品副作用被害救済制度, not this one.
CLASS_OF_CATEGORY = {"routine_a": "A", "routine_b": "B", "temporary": "temporary",
                     "pandemic_resident": "temporary", "designated": "temporary"}
DEATH_BENEFITS = ("death_lump_sum", "funeral", "survivor_pension", "survivor_lump_sum")
CHILD_PENSION, ADULT_PENSION = "child_disability_pension", "disability_pension"
ADULT_AGE = 18


@lru_cache(maxsize=1)
def benefit_rules() -> dict:
    return yaml.safe_load(resources.files("sesshu").joinpath("relief/benefits.yaml").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def amounts() -> dict:
    return yaml.safe_load(resources.files("sesshu").joinpath("relief/amounts.yaml").read_text(encoding="utf-8"))


def label(kind: str) -> str:
    spec = benefit_rules()["benefits"].get(kind)
    return spec["label"] if spec else "（不明な給付）"


def class_label(vclass: str) -> str:
    return benefit_rules()["classes"].get(vclass, "（不明な区分）")


def class_of_record(category: str) -> str | None:
    """The relief class of a record's 接種区分, or None when the record is not a vaccination under the law."""
    return CLASS_OF_CATEGORY.get(category or "")


def class_refusal(category: str, category_label: str) -> str:
    if not category:
        return ("この接種記録には接種区分が記録されていません。記録を職権修正して接種区分を入れてから"
                "請求を受け付けてください")
    return (f"この接種記録の接種区分は「{category_label}」です。予防接種法の救済（定期接種・臨時接種）の対象では"
            "ありません（任意接種は医薬品副作用被害救済制度（PMDA）の対象です）")


@dataclass(frozen=True)
class Person:
    """What the law looks at: the birth date (age) and the date of death, if any."""

    birth_date: date
    died_on: date | None


def under_18_on(p: Person, on: date) -> bool:
    return on < reach_age(p.birth_date, ADULT_AGE)


def claim_problems(kinds: list[str], vclass: str, person: Person) -> list[str]:
    """A claim: known benefits, existing for the class, and no death benefit for a living person."""
    r = benefit_rules()["benefits"]
    out = []
    if not kinds:
        out.append("請求する給付の種類を選択してください")
    unknown = [k for k in kinds if k not in r]
    if unknown:
        out.append("請求する給付の指定が正しくありません")
    wrong = [k for k in kinds if k in r and vclass not in r[k]["classes"]]
    if wrong:
        out.append(f"{class_label(vclass)}では請求できない給付です: " + "、".join(label(k) for k in wrong)
                   + "（予防接種法 第16条）")
    if person.died_on is None:
        death = [k for k in kinds if k in DEATH_BENEFITS]
        if death:
            out.append("接種を受けた方は死亡の記録がないため、請求できない給付です: "
                       + "、".join(label(k) for k in death) + "（死亡した方の遺族・葬祭を行う者への給付です）")
    return out


def maximum(kind: str, vclass: str) -> tuple[int | None, str]:
    """(the highest amount the decision may record — a pension's monthly amount —, its basis)."""
    table = amounts()
    spec = table["benefits"].get(kind, {})
    basis = f"{spec.get('basis', '')}（{table['table_date'][:4]}年4月の額。出典: {spec.get('source', '')}）"
    yearly = spec.get("yearly_max")
    cap = spec.get("max")
    if yearly is None and cap is None and kind in table.get("outer_bound", {}):
        bound = table["benefits"][table["outer_bound"][kind]]
        yearly, cap = bound.get("yearly_max"), bound.get("max")
        basis += f"。額の出典がないため、A類の{label(table['outer_bound'][kind])}の額を上限としています"
    if yearly is not None:
        return yearly // 12, basis
    return cap, basis


def benefit_problems(kind: str, amount: int, first_month: date, *, vclass: str, claimed: list[str],
                     person: Person) -> list[str]:
    """One benefit of a decision (or of its correction), checked against the class, the claim, the person
    and the amounts of the law. `first_month` is the first month paid (a pension) or the month of the
    event the benefit is for."""
    r = benefit_rules()["benefits"]
    spec = r.get(kind)
    if spec is None:
        return ["給付の種類が正しくありません"]
    name = spec["label"]
    out = []
    if vclass not in spec["classes"]:
        out.append(f"{name}は{class_label(vclass)}にはない給付です（予防接種法 第16条）")
    if kind not in claimed:
        out.append(f"{name}は請求されていません。請求者から追加の請求があった場合は、先に「追加請求」を記録してください")
    if kind in DEATH_BENEFITS and person.died_on is None:
        out.append(f"{name}は死亡した方についての給付です。接種を受けた方に死亡の記録がありません")
    if kind in (CHILD_PENSION, ADULT_PENSION) and person.died_on is not None and first_month > person.died_on:
        out.append(f"{name}の支給開始の月が、接種を受けた方の死亡の日より後です")
    if kind == CHILD_PENSION and not under_18_on(person, first_month):
        out.append(f"{name}は18歳未満の方の給付です。支給開始の月に18歳以上のため、障害年金として認定してください")
    if kind == ADULT_PENSION and under_18_on(person, first_month):
        out.append(f"{name}は18歳以上の方の給付です。支給開始の月に18歳未満のため、障害児養育年金として認定してください")
    if amount <= 0:
        out.append(f"{name}の金額を1円以上で入力してください")
    cap, basis = maximum(kind, vclass)
    if cap is not None and amount > cap:
        unit = "月額" if spec["periodic"] else "金額"
        out.append(f"{name}の{unit} {amount:,}円は法令の上限 {cap:,}円を超えています（{basis}）")
    return out


def child_pension_end(person: Person) -> date:
    """The last month of a 障害児養育年金: the month in which the person reaches 18."""
    return reach_age(person.birth_date, ADULT_AGE).replace(day=1)
