"""Use cases of 問合せ・開示・訂正・利用停止. Each function owns its transaction and its audit rows.

- Every inquiry gets a 受付票 (Inquiry row): who asked, in what relation, how identity was confirmed,
  what was asked, and later how it was answered. Requests carry their legal deadline (rules.yaml).
- 開示請求: `disclosure_package` prints the person's registry data, every vaccination record, who
  accessed their data and when (department and role; staff names only when the city allows it,
  SESSHU_DISCLOSURE_SHOW_STAFF_NAMES) and the linkage exchanges about them. The 個人番号 is masked unless
  the request covers it. The print is logged (exports.log_print) in the transaction that read the data.
- 訂正請求: `correct_by_request` goes through the ledger's correction flow with the request as its reason.
- 利用停止請求: `suspend_use` marks the person; other features skip them and log each refusal
  (sesshu.disclosure.suspension).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.auth.permissions import has_permission
from sesshu.clock import today_jst, utcnow
from sesshu.config import Settings
from sesshu.db import Database, get_row
from sesshu.disclosure.models import STATUSES, Inquiry, UseSuspension
from sesshu.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from sesshu.domain.text import clean
from sesshu.registry.models import Person

PURPOSE = "開示・訂正・利用停止請求と問合せの対応"
NOT_FOUND = "指定の受付票はありません"


@lru_cache(maxsize=1)
def rules() -> dict:
    return yaml.safe_load(resources.files("sesshu").joinpath("disclosure/rules.yaml").read_text(encoding="utf-8"))


def kind_label(kind: str) -> str:
    return rules()["kinds"].get(kind, {}).get("label", kind)


def due_date(kind: str, received_on: date) -> date | None:
    days = rules()["kinds"][kind]["days"]
    return received_on + timedelta(days=int(days)) if days else None


@dataclass(frozen=True)
class InquiryOut:
    id: int
    kind: str
    kind_label: str
    atena_no: str | None
    received_on: date
    channel: str
    requester_name: str
    requester_relation: str
    identity_method: str
    question: str
    covers_my_number: bool
    due_on: date | None
    status: str
    status_label: str
    answer: str
    answered_on: date | None
    answered_by: str
    result_ref: str
    received_by: str
    version: int
    days_left: int | None  # until the deadline, as of today (negative: overdue)

    @classmethod
    def from_row(cls, r: Inquiry, today: date) -> "InquiryOut":
        r_rules = rules()
        return cls(id=r.id, kind=r.kind, kind_label=kind_label(r.kind), atena_no=r.atena_no,
                   received_on=r.received_on, channel=r_rules["channels"].get(r.channel, r.channel),
                   requester_name=r.requester_name,
                   requester_relation=r_rules["relations"].get(r.requester_relation, r.requester_relation),
                   identity_method=r_rules["identity_methods"].get(r.identity_method, r.identity_method),
                   question=r.question, covers_my_number=r.covers_my_number, due_on=r.due_on, status=r.status,
                   status_label=STATUSES.get(r.status, r.status), answer=r.answer, answered_on=r.answered_on,
                   answered_by=r.answered_by, result_ref=r.result_ref, received_by=r.received_by, version=r.version,
                   days_left=(r.due_on - today).days if r.due_on and r.status == "open" else None)


def _text(value: str, label: str, limit: int, *, required: bool = True) -> str:
    value = clean(value or "").strip()
    if required and not value:
        raise InvalidInput(f"{label}を入力してください")
    if len(value) > limit:
        raise InvalidInput(f"{label}は{limit}文字以内で入力してください")
    return value


def _choice(value: str, table: str, label: str) -> str:
    if value not in rules()[table]:
        raise InvalidInput(f"{label}を選択してください")
    return value


def _require(actor: Actor, permission: str = "disclosure.manage") -> None:
    if actor.kind == "user" and not has_permission(actor.role, permission):
        raise Forbidden("この操作を行う権限がありません")


def _person(s: Session, actor: Actor, atena_no: str) -> Person:
    p = s.get(Person, atena_no) if atena_no.isdigit() and len(atena_no) <= 15 else None
    if p is None:
        raise NotFound(f"宛名番号 {atena_no} の方は登録されていません")
    access.check_visible(s, actor, atena_no, message=f"宛名番号 {atena_no} の方は登録されていません")
    return p


def _load(s: Session, actor: Actor, inquiry_id: int, *, lock: bool = False) -> Inquiry:
    row = get_row(s, Inquiry, inquiry_id, with_for_update=lock) if lock else get_row(s, Inquiry, inquiry_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    if row.atena_no:
        access.check_visible(s, actor, row.atena_no, message=NOT_FOUND)
    return row


# --- 受付 -------------------------------------------------------------------------------------------------

def receive(db: Database, *, actor: Actor, kind: str, atena_no: str = "", received_on: date | None = None,
            channel: str, requester_name: str, requester_relation: str, identity_method: str, question: str,
            covers_my_number: bool = False) -> InquiryOut:
    """Write the 受付票. A request (開示・訂正・利用停止) must name the person and a confirmed identity."""
    _require(actor)
    today = today_jst()
    received_on = received_on or today
    if kind not in rules()["kinds"]:
        raise InvalidInput("受付の種類を選択してください")
    if received_on > today:
        raise InvalidInput("受付日が未来の日付です")
    channel = _choice(channel, "channels", "受付の方法")
    relation = _choice(requester_relation, "relations", "請求者と本人の関係")
    identity = _choice(identity_method, "identity_methods", "本人確認の方法")
    name = _text(requester_name, "請求者（問合せ者）の氏名", 100)
    question = _text(question, "問合せ・請求の内容", 2000)
    atena_no = clean(atena_no or "").replace(" ", "")
    if kind != "inquiry":
        if not atena_no:
            raise InvalidInput(f"{kind_label(kind)}は対象の方の宛名番号を入力してください")
        if identity == "none":
            raise InvalidInput(f"{kind_label(kind)}は本人確認の方法を記録してください（個人情報の保護に関する法律 第77条第2項）")
    with db.transaction() as s:
        if atena_no:
            _person(s, actor, atena_no)
        row = Inquiry(kind=kind, atena_no=atena_no or None, received_on=received_on, channel=channel,
                      requester_name=name, requester_relation=relation, identity_method=identity, question=question,
                      covers_my_number=bool(covers_my_number) and kind == "disclosure",
                      due_on=due_date(kind, received_on), status="open", answer="", answered_by="", result_ref="",
                      received_by=actor.label, created_at=utcnow())
        s.add(row)
        s.flush()
        audit.record(s, actor, "inquiry.receive", atena_no=row.atena_no, purpose=PURPOSE,
                     detail={"inquiry_id": row.id, "kind": kind, "channel": channel, "relation": relation,
                             "identity": identity, "due_on": row.due_on})
        return InquiryOut.from_row(row, today)


def answer(db: Database, *, actor: Actor, inquiry_id: int, expected_version: int, text: str,
           answered_on: date | None = None) -> InquiryOut:
    """Record how the inquiry was answered (the 受付票's last part)."""
    _require(actor)
    text = _text(text, "回答の内容", 2000)
    today = today_jst()
    with db.transaction() as s:
        row = _load(s, actor, inquiry_id, lock=True)
        if row.version != expected_version:
            raise Conflict("他の職員がこの受付票を先に更新しました。画面を開き直してください")
        if row.status != "open":
            raise Conflict("この受付票は回答済みです")
        row.answer, row.answered_on, row.answered_by, row.status = text, answered_on or today, actor.label, "answered"
        s.flush()
        audit.record(s, actor, "inquiry.answer", atena_no=row.atena_no, purpose=PURPOSE,
                     detail={"inquiry_id": row.id, "kind": row.kind, "answered_on": row.answered_on,
                             "within_deadline": row.due_on is None or row.answered_on <= row.due_on})
        return InquiryOut.from_row(row, today)


def list_inquiries(db: Database, *, actor: Actor, status: str | None = "open", limit: int = 200) -> list[InquiryOut]:
    """受付票 visible to the actor, the nearest deadline first. The list names requesters: audited."""
    _require(actor)
    today = today_jst()
    with db.transaction() as s:
        q = select(Inquiry).order_by(Inquiry.due_on.is_(None), Inquiry.due_on, Inquiry.id).limit(limit)
        if status:
            q = q.where(Inquiry.status == status)
        scope = access.scope_of(s, actor)
        cond = access.person_filter(scope, Inquiry.atena_no)
        if cond is not None:
            q = q.where((Inquiry.atena_no.is_(None)) | cond)
        rows = [InquiryOut.from_row(r, today) for r in s.execute(q).scalars()]
        audit.record(s, actor, "inquiry.list", purpose=PURPOSE, detail={"status": status, "rows": len(rows)})
        return rows


def get_inquiry(db: Database, *, actor: Actor, inquiry_id: int) -> InquiryOut:
    _require(actor)
    with db.transaction() as s:
        row = _load(s, actor, inquiry_id)
        audit.record(s, actor, "inquiry.view", atena_no=row.atena_no, purpose=PURPOSE, detail={"inquiry_id": row.id})
        return InquiryOut.from_row(row, today_jst())


def _request(s: Session, actor: Actor, inquiry_id: int, kind: str) -> Inquiry:
    row = _load(s, actor, inquiry_id, lock=True)
    if row.kind != kind:
        raise InvalidInput(f"この受付票は{kind_label(row.kind)}です（{kind_label(kind)}ではありません）")
    if row.status != "open":
        raise Conflict("この受付票は回答済みです")
    return row


# --- 訂正請求 -------------------------------------------------------------------------------------------

def correct_by_request(db: Database, settings: Settings, *, actor: Actor, inquiry_id: int, record_id: int, expected_version: int,
                       changes: dict) -> InquiryOut:
    """訂正請求: the ledger's correction flow, with the request as the reason on the record's history."""
    from sesshu.ledger.models import VaccinationRecord
    from sesshu.ledger.service import Correction, correct_record

    _require(actor, "record.correct")
    with db.transaction() as s:
        row = _request(s, actor, inquiry_id, "correction")
        r = get_row(s, VaccinationRecord, record_id)
        if r is None or r.atena_no != row.atena_no:
            raise InvalidInput("訂正する接種記録は、請求した方の記録から選んでください")
        reason = f"訂正請求（受付番号 {row.id}・{row.received_on.isoformat()}受付）: {row.question}"[:400]
    correct_record(db, settings, actor=actor, correction=Correction(record_id=record_id, expected_version=expected_version,
                                                          reason=reason, changes=changes))
    with db.transaction() as s:
        row = _request(s, actor, inquiry_id, "correction")
        refs = [x for x in row.result_ref.split(",") if x] + [f"record:{record_id}"]
        row.result_ref = ",".join(refs)[:80]
        s.flush()
        audit.record(s, actor, "inquiry.correct", atena_no=row.atena_no, purpose=PURPOSE,
                     detail={"inquiry_id": row.id, "record_id": record_id, "fields": sorted(changes)})
        return InquiryOut.from_row(row, today_jst())


# --- 利用停止請求 ---------------------------------------------------------------------------------------

def suspend_use(db: Database, *, actor: Actor, inquiry_id: int, since: date | None = None) -> InquiryOut:
    """利用停止: from now on only legally required processing uses this person (docs/disclosure.md)."""
    _require(actor)
    with db.transaction() as s:
        row = _request(s, actor, inquiry_id, "suspension")
        if s.get(UseSuspension, row.atena_no) is not None:
            raise Conflict("この方は既に利用停止中です")
        s.add(UseSuspension(atena_no=row.atena_no, inquiry_id=row.id, since=since or today_jst(),
                            created_by=actor.label, created_at=utcnow()))
        row.result_ref = "suspended"
        s.flush()
        audit.record(s, actor, "inquiry.suspend", atena_no=row.atena_no, purpose=PURPOSE,
                     detail={"inquiry_id": row.id})
        return InquiryOut.from_row(row, today_jst())


def is_suspended(s: Session, atena_no: str) -> bool:
    return s.get(UseSuspension, atena_no) is not None
