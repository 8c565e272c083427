"""Use cases: record and end a person's condition (the B類 60–64 criterion).

Each change is a 職権 act of a staff member holding record.correct on a person their 事務 covers;
it is audited in the same transaction, and the person's records are re-evaluated there too, so an
エラーコード never disagrees with the conditions on file. Rows are never deleted.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.clock import today_jst, utcnow
from sesshu.conditions.codes import ConditionCatalog, catalog, with_campaign_groups
from sesshu.conditions.facts import span_of
from sesshu.conditions.models import PersonCondition
from sesshu.conditions.schemas import ConditionEntry, ConditionOut, condition_out
from sesshu.db import Database, get_row
from sesshu.domain.errors import Conflict, InvalidInput, NotFound
from sesshu.domain.text import clean
from sesshu.ledger.evaluation import reevaluate_persons
from sesshu.rulesets.active import rule_book

REASON_MAX = 200


def person_conditions(s: Session, atena_no: str, today: date) -> list[ConditionOut]:
    """Every condition row of a person, newest first, in the caller's transaction (read only)."""
    rows = s.execute(select(PersonCondition).where(PersonCondition.atena_no == atena_no)
                     .order_by(PersonCondition.recorded_at.desc(), PersonCondition.id.desc())).scalars().all()
    return [condition_out(r, today) for r in rows]


def list_conditions(db: Database, *, actor: Actor, atena_no: str,
                    purpose: str = "接種対象の要件の確認") -> list[ConditionOut]:
    with db.transaction() as s:
        access.visible_person(s, actor, atena_no)
        out = person_conditions(s, atena_no, today_jst())
        audit.record(s, actor, "person.condition_view", atena_no=atena_no, purpose=purpose,
                     detail={"rows": len(out)})
    return out


def _reason(raw: str, label: str) -> str:
    reason = (raw or "").strip()  # kept as typed (clean() would fold full-width brackets)
    if not reason:
        raise InvalidInput(f"{label}を入力してください")
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"{label}が長すぎます（{REASON_MAX}文字まで）")
    return reason


def validate_entry(entry: ConditionEntry, today: date, cat: ConditionCatalog | None = None) -> ConditionEntry:
    """The entry with its text cleaned, or InvalidInput naming the first problem in Japanese.
    ``cat``: the catalog with the active campaigns' priority groups (``catalog_in``)."""
    cat = cat or catalog()
    kind = cat.conditions.get(entry.condition_code)
    if kind is None:
        raise InvalidInput(f"要件の種類「{entry.condition_code}」は登録できません（{'、'.join(cat.conditions)}）")
    if kind.impairments and entry.impairment not in kind.impairments:
        raise InvalidInput("障害の種類を選んでください（" + "、".join(kind.impairments.values()) + "）")
    if not kind.impairments and entry.impairment:
        raise InvalidInput(f"「{kind.label}」には障害の種類を入力しません")
    allowed = {c: e for c, e in cat.evidence.items() if kind.evidence is None or c in kind.evidence}
    evidence = allowed.get(entry.evidence_kind)
    if evidence is None:
        raise InvalidInput("確認した書類を選んでください（" + "、".join(f"{c}: {e.label}" for c, e in allowed.items()) + "）")
    number, note = clean(entry.evidence_no), clean(entry.evidence_note)
    if len(number) > 40:
        raise InvalidInput("手帳番号が長すぎます（40文字まで）")
    if len(note) > 200:
        raise InvalidInput("書類の記載事項が長すぎます（200文字まで）")
    grade = entry.evidence_grade
    if "grade" in evidence.needs:
        if grade is None:
            raise InvalidInput(f"{evidence.label}の等級を入力してください")
        if not 1 <= grade <= 7:
            raise InvalidInput("等級は1〜7級で入力してください")
        if kind.required_grade is not None and grade != kind.required_grade:
            raise InvalidInput(f"定期接種の対象となるのは{kind.required_grade}級相当の障害です"
                               f"（{evidence.label}の等級: {grade}級）")
    elif grade is not None:
        raise InvalidInput(f"{evidence.label}には等級を入力しません")
    if "number" in evidence.needs and not number:
        raise InvalidInput(f"{evidence.label}の番号を入力してください")
    if "note" in evidence.needs and not note:
        raise InvalidInput(f"{evidence.label}を作成した医療機関・医師と、記載された障害の程度を入力してください")
    if entry.confirmed_on is None:
        raise InvalidInput("書類を確認した日を入力してください")
    for d, label in ((entry.confirmed_on, "書類を確認した日"), (entry.evidence_issued_on, "書類の交付日")):
        if d is not None and d > today:
            raise InvalidInput(f"{label}が未来の日付です")
    if entry.evidence_issued_on is not None and entry.evidence_issued_on > entry.confirmed_on:
        raise InvalidInput("書類の交付日が、書類を確認した日より後です")
    if entry.valid_from is not None and entry.valid_until is not None and entry.valid_until < entry.valid_from:
        raise InvalidInput("有効期間の終了日が開始日より前です")
    return replace(entry, evidence_no=number, evidence_note=note, reason=_reason(entry.reason, "登録理由"))


def catalog_in(s: Session) -> ConditionCatalog:
    """The conditions staff may record: the shipped ones and the active campaigns' priority groups."""
    return with_campaign_groups(catalog(), rule_book(s).groups)


def record_condition(db: Database, *, actor: Actor, atena_no: str, entry: ConditionEntry) -> ConditionOut:
    """Record that a person meets a condition, on the evidence seen; re-evaluate their records."""
    today = today_jst()
    with db.transaction() as s:
        cat = catalog_in(s)
    entry = validate_entry(entry, today, cat)
    with db.transaction() as s:
        access.visible_person(s, actor, atena_no, lock=True)  # one change per person at a time
        for other in s.execute(select(PersonCondition).where(
                PersonCondition.atena_no == atena_no, PersonCondition.condition_code == entry.condition_code,
                PersonCondition.status == "active")).scalars():
            span = span_of(other)
            if span is not None and (span.valid_until is None or span.valid_until >= today):
                raise Conflict(f"この方には同じ要件が既に登録されています（登録番号 {other.id}）。"
                               "内容を変える場合は、先にその登録を終了するか取り消してください")
        row = PersonCondition(
            atena_no=atena_no, condition_code=entry.condition_code, impairment=entry.impairment,
            evidence_kind=entry.evidence_kind, evidence_grade=entry.evidence_grade, evidence_no=entry.evidence_no,
            evidence_issued_on=entry.evidence_issued_on, evidence_note=entry.evidence_note,
            confirmed_on=entry.confirmed_on, valid_from=entry.valid_from, valid_until=entry.valid_until,
            status="active", recorded_at=utcnow(), recorded_by=actor.label, record_reason=entry.reason)
        s.add(row)
        s.flush()
        changed = reevaluate_persons(s, [atena_no], today)
        # The evidence number and the kind of impairment stay in the table (要配慮個人情報), not in the log.
        audit.record(s, actor, "person.condition_set", atena_no=atena_no, purpose="接種対象の要件の登録",
                     detail={"condition_id": row.id, "condition": row.condition_code,
                             "evidence_kind": row.evidence_kind, "confirmed_on": row.confirmed_on,
                             "valid_from": row.valid_from, "valid_until": row.valid_until,
                             "reason": entry.reason, "records_changed": changed})
        return condition_out(row, today, cat)


SELF_DECLARED = "self_declared"


def self_declared_group(s: Session) -> str | None:
    """The priority group an active campaign confirms by the person's own declaration on the 予診票
    (基礎疾患: evidence ``self_declared``); None when no campaign has one. Two such groups are ambiguous."""
    found = [code for code, g in rule_book(s).groups.items() if SELF_DECLARED in g.get("evidence", ())]
    if len(found) > 1:
        raise InvalidInput(f"本人の記載で確認する接種順位の群が複数あります（{'、'.join(found)}）")
    return found[0] if found else None


def record_self_declared(s: Session, actor: Actor, declared: list[tuple[str, str]], *, group: str,
                         source: str, confirmed_on: date) -> list[str]:
    """In the caller's transaction (the 予診票 import): record ``group`` for each (宛名番号, 記載) whose person
    does not hold it yet, evidence self_declared, one audit entry each. Returns the persons recorded."""
    wanted: dict[str, str] = {}
    for a, text in declared:  # one per person: the first row's wording
        wanted.setdefault(a, text)
    if not wanted:
        return []
    held = set(s.execute(select(PersonCondition.atena_no).where(
        PersonCondition.condition_code == group, PersonCondition.status == "active",
        PersonCondition.atena_no.in_(list(wanted)))).scalars())
    fresh = [a for a in wanted if a not in held]
    now = utcnow()
    for a in fresh:
        s.add(PersonCondition(
            atena_no=a, condition_code=group, impairment="", evidence_kind=SELF_DECLARED, evidence_grade=None,
            evidence_no="", evidence_issued_on=None, evidence_note=f"{source}: {wanted[a]}"[:200],
            confirmed_on=confirmed_on, valid_from=None, valid_until=None, status="active", recorded_at=now,
            recorded_by=actor.label, record_reason="予診票の基礎疾患の記載（取込）"))
    # The wording of the declaration stays in the table (要配慮個人情報), not in the log.
    audit.record_many(s, actor, [audit.AuditEvent("person.condition_set", a, "予診票の取込（基礎疾患の本人記載）",
                                                  {"condition": group, "evidence_kind": SELF_DECLARED, "file": source})
                                 for a in fresh])
    return fresh


def end_condition(db: Database, *, actor: Actor, atena_no: str, condition_id: int, reason: str,
                  ended_on: date | None = None, withdraw: bool = False) -> ConditionOut:
    """End a condition (it held up to ended_on, default today) or withdraw one recorded by mistake
    (it never held). The row stays; the person's records are re-evaluated."""
    today = today_jst()
    reason = _reason(reason, "終了理由" if not withdraw else "取消理由")
    if withdraw and ended_on is not None:
        raise InvalidInput("誤登録の取消では終了日を指定しません")
    with db.transaction() as s:
        access.visible_person(s, actor, atena_no, lock=True)
        row = get_row(s, PersonCondition, condition_id, with_for_update=True)
        if row is None or row.atena_no != atena_no:
            raise NotFound("指定の要件の登録はありません")
        if row.status != "active":
            raise Conflict(f"この登録は既に{'取り消されて' if row.status == 'withdrawn' else '終了して'}います")
        if withdraw:
            row.status = "withdrawn"
        else:
            ended_on = ended_on or today
            if ended_on > today:
                raise InvalidInput("終了日に未来の日付は指定できません（期限が決まっている場合は有効期間の終了日として登録します）")
            if row.valid_from is not None and ended_on < row.valid_from:
                raise InvalidInput("終了日が有効期間の開始日より前です。誤って登録した場合は「誤登録の取消」を選んでください")
            row.status, row.ended_on = "ended", ended_on
        row.ended_at, row.ended_by, row.end_reason = utcnow(), actor.label, reason
        s.flush()
        changed = reevaluate_persons(s, [atena_no], today)
        audit.record(s, actor, "person.condition_withdraw" if withdraw else "person.condition_end", atena_no=atena_no,
                     purpose="接種対象の要件の取消（誤登録）" if withdraw else "接種対象の要件の終了",
                     detail={"condition_id": row.id, "condition": row.condition_code, "ended_on": row.ended_on,
                             "reason": reason, "records_changed": changed})
        return condition_out(row, today)


def find_active(db: Database, *, actor: Actor, atena_no: str, condition_code: str) -> int:
    """The id of the person's one active row of this code (CLI: --end CODE)."""
    with db.transaction() as s:
        access.visible_person(s, actor, atena_no)
        ids = list(s.execute(select(PersonCondition.id).where(
            PersonCondition.atena_no == atena_no, PersonCondition.condition_code == condition_code,
            PersonCondition.status == "active").order_by(PersonCondition.id)).scalars())
    if not ids:
        raise NotFound(f"この方には終了できる「{condition_code}」の登録がありません")
    if len(ids) > 1:
        raise Conflict(f"終了できる登録が複数あります（登録番号 {', '.join(map(str, ids))}）。--id で指定してください")
    return ids[0]
