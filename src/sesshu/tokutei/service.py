"""特定接種 (特措法第28条): the staff list of a campaign's tokutei group, and the doses counted by 接種区分 so
that 特定接種 stays apart from 住民接種 (the government asks for them separately; the city pays for its own
staff's 特定接種 from its own budget line)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.conditions.group_list import GroupListSummary, import_group_list
from sesshu.conditions.models import PersonCondition
from sesshu.db import Database
from sesshu.domain.errors import InvalidInput
from sesshu.ledger.models import VaccinationRecord
from sesshu.ledger.reference import CATEGORIES
from sesshu.rulesets.active import rule_book

CAMPAIGN_CATEGORIES = ("designated", "pandemic_resident")  # 特定接種, 住民接種
NO_LIST = "（名簿の職種区分なし）"


def staff_jobs(s: Session, atena_nos: list[str]) -> dict[str, list[tuple[str, str]]]:
    """The 特定接種 staff-list rows of these persons: atena → [(group, 職種区分 label)] — the code with the name
    the active campaign file gives it (「1 区分1 …」), or the code alone when no active file names it."""
    if not atena_nos:
        return {}
    groups = rule_book(s).groups
    out: dict[str, list[tuple[str, str]]] = {}
    for i in range(0, len(atena_nos), 5000):
        for atena, group, job in s.execute(
                select(PersonCondition.atena_no, PersonCondition.condition_code, PersonCondition.job_category)
                .where(PersonCondition.atena_no.in_(atena_nos[i:i + 5000]), PersonCondition.job_category != "",
                       PersonCondition.status != "withdrawn").order_by(PersonCondition.id)):
            name = ((groups.get(group) or {}).get("job_categories") or {}).get(job, {}).get("name", "")
            out.setdefault(atena, []).append((group, f"{job} {name}".strip()))
    return out


def tokutei_groups(db: Database) -> dict[str, dict]:
    """The 特定接種 groups of the active campaigns: ``{id: {name, source, job_categories, campaign}}``."""
    with db.transaction() as s:
        return {code: g for code, g in rule_book(s).groups.items() if g.get("tokutei")}


def import_staff_list(db: Database, *, actor: Actor, path: Path, group: str, reason: str,
                      confirmed_on: date | None = None) -> GroupListSummary:
    """A 特定接種 staff list (all-or-nothing, every row with its 職種区分); see import_group_list."""
    groups = tokutei_groups(db)
    if group not in groups:
        known = "、".join(f"{c}（{g['name']}）" for c, g in groups.items()) or "適用中の実施計画に特定接種の群がありません"
        raise InvalidInput(f"「{group}」は特定接種の群ではありません（{known}）")
    return import_group_list(db, actor=actor, path=path, group=group, reason=reason, confirmed_on=confirmed_on)


@dataclass(frozen=True)
class CountRow:
    category: str        # designated | pandemic_resident
    category_label: str  # 特定接種（特措法） | 住民接種（特措法）
    vaccine: str
    dose_no: int | None
    doses: int           # valid doses (vaccinated, judged without error)
    invalid: int         # doses judged with an error
    persons: int
    # 特定接種 only: valid doses by the 職種区分 of the person's staff list (NO_LIST when on none)
    by_job: dict = None  # type: ignore[assignment]


def count_doses(db: Database, *, actor: Actor, date_from: date | None = None, date_to: date | None = None,
                purpose: str = "特定接種・住民接種の接種実績の集計") -> list[CountRow]:
    """Doses under 接種区分 特定接種 and 住民接種, by vaccine and dose number, counted apart (aggregates only;
    the count reads persons' records, so it is audited)."""
    if date_from and date_to and date_from > date_to:
        raise InvalidInput("集計期間の開始日が終了日より後です")
    R = VaccinationRecord
    with db.transaction() as s:
        scope = access.require_some_task(s, actor)
        q = (select(R.category, R.vaccine_code, R.dose_no, R.error_code, func.count(), func.count(R.atena_no.distinct()))
             .where(R.category.in_(CAMPAIGN_CATEGORIES), R.status == "active", R.screening_result == "vaccinated")
             .group_by(R.category, R.vaccine_code, R.dose_no, R.error_code))
        if date_from:
            q = q.where(R.vaccinated_on >= date_from)
        if date_to:
            q = q.where(R.vaccinated_on <= date_to)
        where = access.person_filter(scope, R.atena_no)
        if where is not None:
            q = q.where(where)
        acc: dict[tuple, list[int]] = {}
        for cat, vaccine, dose_no, error_code, n, persons in s.execute(q):
            ok = not error_code  # one group holds every valid dose: its distinct persons are the persons counted
            row = acc.setdefault((cat, vaccine, dose_no), [0, 0, 0])
            row[0 if ok else 1] += n
            row[2] += persons if ok else 0
        jobs_of: dict[tuple, dict[str, int]] = {}
        q = (select(R.atena_no, R.vaccine_code, R.dose_no)
             .where(R.category == "designated", R.status == "active", R.screening_result == "vaccinated",
                    R.error_code == ""))
        if date_from:
            q = q.where(R.vaccinated_on >= date_from)
        if date_to:
            q = q.where(R.vaccinated_on <= date_to)
        if where is not None:
            q = q.where(where)
        designated = s.execute(q).all()
        labels = staff_jobs(s, sorted({a for a, _v, _d in designated}))
        for atena, vaccine, dose_no in designated:
            label = labels[atena][0][1] if atena in labels else NO_LIST
            per = jobs_of.setdefault(("designated", vaccine, dose_no), {})
            per[label] = per.get(label, 0) + 1
        out = [CountRow(cat, CATEGORIES.get(cat, cat), vaccine, dose_no, v, bad, persons,
                        dict(sorted(jobs_of.get((cat, vaccine, dose_no), {}).items())) if cat == "designated" else {})
               for (cat, vaccine, dose_no), (v, bad, persons) in sorted(
                   acc.items(), key=lambda kv: (CAMPAIGN_CATEGORIES.index(kv[0][0]), kv[0][1], kv[0][2] or 0))]
        audit.record(s, actor, "tokutei.count", purpose=purpose,
                     detail={"from": date_from, "to": date_to, "rows": len(out)})
    return out
