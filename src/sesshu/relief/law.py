"""What the law allows in a relief case — pure (no database, "today" passed in).

予防接種法 第16条: which benefits exist for which class of vaccination (benefits.yaml), to whom (a living
person gets no death benefit; 障害児養育年金 is for a person under 18, 障害年金 for 18 and over) and up to
what amount (amounts.yaml, 予防接種法施行令: the table of the month the amount is for, or of the date of
death; a 医療手当 is the fixed amount of its month's days of 通院・入院). Every check returns Japanese reasons, so the claim form,
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


# --- amounts (amounts.yaml): the table of the month the amount is for, or of the date of death -------------

PENSIONS = (CHILD_PENSION, ADULT_PENSION, "survivor_pension")
DEATH_DATED = ("death_lump_sum", "survivor_lump_sum", "funeral")  # the table in force on the date of death
ALLOWANCE = "medical_allowance"


@dataclass(frozen=True)
class Figure:
    """One figure of the law for a date: the legal amount, or (estimated) an outer bound."""

    value: int
    table: str  # e.g. 令和6年度
    source: str
    estimated: bool = False
    years: int = 0  # Aprils since the table whose figure was raised (estimated)
    before_first: bool = False  # the date is before the first table with this figure


def _fiscal_label(on: date) -> str:
    fy = on.year if on.month >= 4 else on.year - 1
    if fy >= 2019:
        return "令和元年度" if fy == 2019 else f"令和{fy - 2018}年度"
    return f"平成{fy - 1988}年度"


def _table_class(vclass: str) -> str:
    return amounts().get("temporary_uses", "A") if vclass == "temporary" else vclass


def _tables() -> list[dict]:
    return sorted(amounts()["tables"], key=lambda t: t["effective_from"])


def figure(kind: str, name: str, vclass: str, on: date) -> Figure | None:
    """The figure `name` (low/high, grade1, care1, amount …) of a benefit for the date `on`; None when no
    table has it. A figure missing in the year in force is the latest earlier one raised by the yearly
    allowance for each April since (rounded up to 100 yen), and says so."""
    cls = _table_class(vclass)
    found = [(date.fromisoformat(t["effective_from"]), t) for t in _tables()
             if name in (t.get(cls, {}).get(kind) or {})]
    if not found:
        return None
    earlier = [(d, t) for d, t in found if d <= on]
    if not earlier:
        d, t = found[0]
        entry = t[cls][kind]
        return Figure(entry[name], t["label"], entry.get("source") or t[cls].get("source", ""), estimated=True,
                      before_first=True)
    d, t = earlier[-1]
    years = sum(1 for y in range(d.year + 1, on.year + 1) if date(y, 4, 1) <= on)
    entry = t[cls][kind]
    source = entry.get("source") or t[cls].get("source", "")
    value = entry[name]
    if years:
        factor = (100 + amounts()["yearly_allowance_percent"]) ** years
        value = -(-value * factor // (100 ** years * 100)) * 100  # rounded up to 100 yen
    return Figure(value, t["label"], source, estimated=bool(years), years=years)


def amount_date(kind: str, first_month: date, person: Person) -> date:
    """The date whose table applies: the date of death for 死亡一時金・遺族一時金・葬祭料, otherwise the
    month the amount is for (a pension's first month, the month of care of a 医療手当)."""
    if kind in DEATH_DATED and person.died_on is not None:
        return person.died_on
    return first_month


def _estimate_note(f: Figure, on: date) -> str:
    if not f.estimated:
        return ""
    if f.before_first:
        return f"（{_fiscal_label(on)}の額は未登録のため、{f.table}の額を上限にしています）"
    return (f"（{_fiscal_label(on)}の額は未確認のため、{f.table}の額に年{amounts()['yearly_allowance_percent']}%の"
            f"改定幅を{f.years}年分見込んだ上限です）")


def maximum(kind: str, vclass: str, on: date) -> tuple[int | None, str]:
    """(the highest amount a decision may record for `on` — a pension's monthly amount —, its basis)."""
    cls = _table_class(vclass)
    article = amounts()["basis"].get(cls, {}).get(kind, "予防接種法施行令")
    if kind == "medical_expenses":
        return None, article
    if kind == ALLOWANCE:
        high = figure(kind, "high", vclass, on)
        if high is None:
            return None, article
        return high.value, f"{article}。{_fiscal_label(on)}の月額 {high.value:,}円{_estimate_note(high, on)}（出典: {high.table} {high.source}）"
    if kind in (CHILD_PENSION, ADULT_PENSION):
        best, parts = None, []
        for grade in ("grade1", "grade2", "grade3"):
            g = figure(kind, grade, vclass, on)
            if g is None:
                continue
            care = figure(kind, "care" + grade[-1], vclass, on)
            total = g.value + (care.value if care else 0)
            if best is None or total > best[0]:
                best = (total, g, care)
        if best is None:
            return None, article
        total, g, care = best
        parts.append(f"{g.value:,}円{_estimate_note(g, on)}")
        if care:
            parts.append(f"介護加算 {care.value:,}円{_estimate_note(care, on)}")
        cited = [f"{g.table} {g.source}"] + ([f"{care.table} {care.source}"] if care and care.source != g.source else [])
        return total // 12, (f"{article}。{_fiscal_label(on)}の最も高い等級の年額 " + "＋".join(parts)
                             + f"、月額 {total // 12:,}円（出典: {'、'.join(cited)}）")
    f = figure(kind, "amount", vclass, on)
    if f is None:
        return None, article
    unit = "年額" if kind in PENSIONS else "額"
    cap = f.value // 12 if kind in PENSIONS else f.value
    monthly = f"、月額 {cap:,}円" if kind in PENSIONS else ""
    return cap, f"{article}。{_fiscal_label(on)}の{unit} {f.value:,}円{_estimate_note(f, on)}{monthly}（出典: {f.table} {f.source}）"


# --- 医療手当: the amount of a month follows the days of 通院 and 入院 in it ---------------------------------

@dataclass(frozen=True)
class CareDays:
    """Days of care in one month: 通院 and 入院 (a day with both counts as 入院 only)."""

    outpatient: int
    inpatient: int


def _days_in_month(month: date) -> int:
    nxt = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return (nxt - month).days


def allowance_band(care: CareDays) -> str:
    """'high' or 'low' by 予防接種法施行令 第11条."""
    bands = amounts()["medical_allowance_bands"]
    if care.outpatient and care.inpatient:
        return "high"
    if care.outpatient >= bands["outpatient_days_high"] or care.inpatient >= bands["inpatient_days_high"]:
        return "high"
    return "low"


def _band_text(care: CareDays) -> str:
    bands = amounts()["medical_allowance_bands"]
    if care.outpatient and care.inpatient:
        return f"同じ月に通院（{care.outpatient}日）と入院（{care.inpatient}日）"
    if care.inpatient:
        limit = bands["inpatient_days_high"]
        return f"入院{care.inpatient}日（{limit}日{'以上' if care.inpatient >= limit else '未満'}）"
    limit = bands["outpatient_days_high"]
    return f"通院{care.outpatient}日（{limit}日{'以上' if care.outpatient >= limit else '未満'}）"


def allowance_hint(vclass: str, month: date) -> str:
    """The two monthly amounts of 医療手当 for a month, as the decision form shows them."""
    low, high = figure(ALLOWANCE, "low", vclass, month), figure(ALLOWANCE, "high", vclass, month)
    if low is None or high is None:
        return ""
    bands = amounts()["medical_allowance_bands"]
    kind = "上限" if high.estimated else "額"
    return (f"{_fiscal_label(month)}の{kind}: 月に通院{bands['outpatient_days_high']}日以上・入院{bands['inpatient_days_high']}日以上・"
            f"入院と通院の両方 {high.value:,}円、それ未満 {low.value:,}円{_estimate_note(high, month)}")


def allowance_problems(amount: int, month: date, care: CareDays | None, *, vclass: str,
                       vaccinated_on: date | None = None, decided_on: date | None = None) -> list[str]:
    """A 医療手当 of one month: the days must fit the month, and the amount is the one the law fixes for
    those days (予防接種法施行令 第11条) — exactly, when that year's figures are known."""
    name = label(ALLOWANCE)
    if care is None:
        return [f"{name}の通院日数・入院日数を入力してください（額はその月の日数で決まります）"]
    ym = f"{month.year}年{month.month}月"
    out = []
    if care.outpatient < 0 or care.inpatient < 0:
        out.append(f"{name}の日数は0以上で入力してください")
    elif care.outpatient + care.inpatient > _days_in_month(month):
        out.append(f"{name}の通院日数と入院日数の合計が{ym}の日数（{_days_in_month(month)}日）を超えています。"
                   "同じ日に通院と入院がある日は入院の日として数えてください")
    elif care.outpatient == 0 and care.inpatient == 0:
        out.append(f"{ym}に通院・入院の日がありません。医療を受けた日のない月の{name}は支給されません")
    if vaccinated_on is not None and month < vaccinated_on.replace(day=1):
        out.append(f"{name}の対象の月（{ym}）が接種の月より前です")
    if decided_on is not None and month > decided_on.replace(day=1):
        out.append(f"{name}の対象の月（{ym}）が決定の日より後です。医療を受けた月を入力してください")
    if out:
        return out
    band = allowance_band(care)
    f = figure(ALLOWANCE, band, vclass, month)
    if f is None:
        return out
    article = amounts()["basis"].get(_table_class(vclass), {}).get(ALLOWANCE, "予防接種法施行令 第11条")
    if not f.estimated and amount != f.value:
        out.append(f"{name}の額 {amount:,}円が法令の額と違います。{ym}は{_band_text(care)}のため、月額 {f.value:,}円です"
                   f"（{article}。{f.table}の額。出典: {f.source}）")
    elif f.estimated and amount > f.value:
        out.append(f"{name}の額 {amount:,}円は、{ym}・{_band_text(care)}の上限 {f.value:,}円を超えています"
                   f"（{article}{_estimate_note(f, month)}。出典: {f.table} {f.source}）")
    return out


def benefit_problems(kind: str, amount: int, first_month: date, *, vclass: str, claimed: list[str],
                     person: Person, care: CareDays | None = None, vaccinated_on: date | None = None,
                     decided_on: date | None = None) -> list[str]:
    """One benefit of a decision (or of its correction), checked against the class, the claim, the person
    and the amounts of the law. `first_month` is the first month paid (a pension) or the month of the
    event the benefit is for (the month of care of a 医療手当); `care` the days of care of a 医療手当."""
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
    if kind == ALLOWANCE:
        return out + allowance_problems(amount, first_month, care, vclass=vclass, vaccinated_on=vaccinated_on,
                                        decided_on=decided_on)
    cap, basis = maximum(kind, vclass, amount_date(kind, first_month, person))
    if cap is not None and amount > cap:
        unit = "月額" if spec["periodic"] else "金額"
        out.append(f"{name}の{unit} {amount:,}円は法令の上限 {cap:,}円を超えています（{basis}）")
    return out


def child_pension_end(person: Person) -> date:
    """The last month of a 障害児養育年金: the month in which the person reaches 18."""
    return reach_age(person.birth_date, ADULT_AGE).replace(day=1)


SURVIVOR_PENSION_MONTHS = 120  # 施行令 第24条: 十年を限度
SURVIVOR_PENSION_CREDIT_MAX = 84  # …その支給を受けた期間（七年を超えるときは七年）を控除


def survivor_pension_end(first_month: date, disability_months: int = 0) -> date:
    """The last month of a 遺族年金 (予防接種法施行令 第24条): ten years at most, less the months the deceased
    received a 障害年金 for the same vaccination (counted up to seven years)."""
    months = SURVIVOR_PENSION_MONTHS - min(max(disability_months, 0), SURVIVOR_PENSION_CREDIT_MAX)
    index = first_month.year * 12 + first_month.month - 1 + months - 1
    return date(index // 12, index % 12 + 1, 1)

