"""名簿の取込: a list of persons in a campaign's priority group sent by institutions (医療従事者等 lists from
hospitals, 高齢者施設 staff lists), matched to persons on the registry (residents and 住登外者) and
recorded as their condition. Unmatched rows come back with their line number and a Japanese reason."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import select

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.audit.service import AuditEvent
from sesshu.clock import today_jst, utcnow
from sesshu.conditions.models import PersonCondition
from sesshu.conditions.service import catalog_in
from sesshu.db import Database
from sesshu.domain.errors import InvalidInput
from sesshu.domain.schedule.book import TOKUTEI_EVIDENCE
from sesshu.domain.text import clean, kana_key
from sesshu.domain.wareki import DateParseError, parse_date
from sesshu.imports.csvfile import CsvSource, inspect_file
from sesshu.ledger.evaluation import reevaluate_persons
from sesshu.registry.models import Person
from sesshu.rulesets.active import rule_book

HEADERS = ("宛名番号", "氏名カナ", "生年月日", "性別", "所属")
JOB_COLUMN = "職種区分"  # 特定接種 staff lists: the job category code of the campaign's tokutei group
_SEX = {"男": "M", "女": "F", "M": "M", "F": "F", "1": "M", "2": "F"}
EVIDENCE = "institution_list"
PURPOSE = "接種順位の名簿の取込"


@dataclass
class GroupListSummary:
    group: str
    read: int = 0
    recorded: int = 0
    already: int = 0  # the person already holds the group
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    by_job_category: dict[str, int] = field(default_factory=dict)  # 特定接種: persons recorded per 職種区分


def _match(s, scope, v: dict) -> tuple[str | None, str]:
    """(宛名番号, "") or (None, the reason in Japanese)."""
    atena = clean(v.get("宛名番号", "")).replace(" ", "")
    if atena:
        p = s.get(Person, atena)
        if p is None or not access.is_visible(s, scope, atena):
            return None, f"宛名番号 {atena} の方は登録されていません"
        return atena, ""
    kana, sex_text, birth_text = kana_key(v.get("氏名カナ", "")), clean(v.get("性別", "")), v.get("生年月日", "")
    if not kana or not birth_text.strip() or not sex_text:
        return None, "宛名番号がない行は、氏名カナ・生年月日・性別がすべて必要です"
    sex = _SEX.get(sex_text)
    if sex is None:
        return None, f"性別は 男・女 で書いてください（{sex_text}）"
    try:
        birth = parse_date(birth_text)
    except DateParseError as e:
        return None, f"生年月日: {e}"
    q = select(Person.atena_no).where(Person.kana_key == kana, Person.birth_date == birth, Person.sex == sex)
    where = access.person_filter(scope, Person.atena_no)
    found = list(s.execute(q if where is None else q.where(where)).scalars())
    if not found:
        return None, ("カナ氏名・生年月日・性別が一致する方が住民記録・住登外者にいません"
                      "（市外にお住まいの方は、先に住登外者の登録（画面「住登外者の登録を申請する」、二人確認）をしてください）")
    if len(found) > 1:
        return None, f"カナ氏名・生年月日・性別が同じ方が {len(found)} 人います。宛名番号を記入してください"
    return found[0], ""


def import_group_list(db: Database, *, actor: Actor, path: Path, group: str, reason: str,
                      confirmed_on: date | None = None) -> GroupListSummary:
    """Record ``group`` for every matched row (one transaction with the audit row); nothing for the others.

    A 特定接種 group (the campaign's ``tokutei`` section) takes the staff list of that group: every row names
    its 職種区分 (one of the group's job categories), and the list is all-or-nothing — one rejected row and
    nobody is recorded (a staff list is the basis of the 特定接種 and must be whole)."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("取込の理由を入力してください")
    today = today_jst()
    confirmed_on = confirmed_on or today
    facts = inspect_file(path)
    summary = GroupListSummary(group=group)
    try:
        return _import(db, actor, path, group, reason, today, confirmed_on, facts, summary)
    except _Rejected:
        summary.already = 0
        with db.transaction() as s:  # the rows were read: the attempt is on record, nobody was recorded
            audit.record(s, actor, "person.condition_import", purpose=PURPOSE, detail=
                         {"group": group, "file": path.name, "sha256": facts.sha256, "read": summary.read,
                          "recorded": 0, "rejected": len(summary.rejected), "all_or_nothing": True})
        return summary


class _Rejected(Exception):
    pass


def _import(db, actor, path, group, reason, today, confirmed_on, facts, summary) -> GroupListSummary:
    with db.transaction() as s:
        scope = access.require_some_task(s, actor)
        kind = catalog_in(s).conditions.get(group)
        if kind is None or kind.impairments:
            raise InvalidInput(f"「{group}」は適用中の実施計画の接種順位の群・特定接種の群ではありません")
        jobs = rule_book(s).groups[group].get("job_categories") if kind.evidence == {TOKUTEI_EVIDENCE} else None
        evidence = TOKUTEI_EVIDENCE if jobs is not None else EVIDENCE
        if kind.evidence is not None and evidence not in kind.evidence:
            raise InvalidInput(f"「{kind.label}」は名簿では確認しません（確認書類: {'、'.join(sorted(kind.evidence))}）")
        held = set(s.execute(select(PersonCondition.atena_no).where(
            PersonCondition.condition_code == group, PersonCondition.status == "active")).scalars())
        matched: list[str] = []
        job_of: dict[str, str] = {}
        required, known = (("所属",), HEADERS) if jobs is None else (("所属", JOB_COLUMN), (*HEADERS, JOB_COLUMN))
        for row in CsvSource(path, facts=facts, required=required, known=known).rows():
            summary.read += 1
            if row.problem:
                summary.rejected.append((row.line_no, row.problem))
                continue
            where = clean(row.values.get("所属", ""))
            if not where:
                summary.rejected.append((row.line_no, "所属（医療機関・施設の名称）がありません"))
                continue
            job = ""
            if jobs is not None:
                job = clean(row.values.get(JOB_COLUMN, "")).replace(" ", "")
                if job not in jobs:
                    listed = "、".join(f"{c}（{j['name']}）" for c, j in jobs.items())
                    summary.rejected.append((row.line_no, f"職種区分「{job}」は実施計画にありません（{listed}）"
                                             if job else f"職種区分がありません（{listed}）"))
                    continue
            atena, why = _match(s, scope, row.values)
            if atena is None:
                summary.rejected.append((row.line_no, why))
                continue
            if atena in held or atena in matched:
                summary.already += 1
                continue
            matched.append(atena)
            job_of[atena] = job
            note = f"{path.name}: {where}" + (f" 職種区分 {job}（{jobs[job]['name']}）" if job else "")
            s.add(PersonCondition(
                atena_no=atena, condition_code=group, impairment="", evidence_kind=evidence, evidence_grade=None,
                evidence_no="", evidence_issued_on=None, evidence_note=note[:200], job_category=job,
                confirmed_on=confirmed_on, valid_from=None, valid_until=None, status="active", recorded_at=utcnow(),
                recorded_by=actor.label, record_reason=reason[:200]))
        if jobs is not None and summary.rejected:
            raise _Rejected()  # all-or-nothing: rolls the rows back; the caller gets the rejected rows
        s.flush()
        changed = reevaluate_persons(s, matched, today)
        summary.recorded = len(matched)
        for a in matched:
            if job_of[a]:
                summary.by_job_category[job_of[a]] = summary.by_job_category.get(job_of[a], 0) + 1
        detail = {"group": group, "file": path.name, "sha256": facts.sha256, "read": summary.read,
                  "recorded": len(matched), "already": summary.already, "rejected": len(summary.rejected),
                  "records_changed": changed, **({"tokutei": True, "by_job_category": summary.by_job_category}
                                                 if jobs is not None else {})}
        # One entry per person recorded, so a person's audit trail shows where the group came from.
        audit.record_many(s, actor, [AuditEvent("person.condition_import", a, PURPOSE, detail)
                                     for a in (matched or [None])])
    return summary
