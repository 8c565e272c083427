"""Use cases of four-eyes approvals. Each function owns its transaction and its audit rows.

Rules (enforced here, whatever the entry point — page, API or CLI):
- a request is made by a signed-in staff member holding the kind's permission;
- it is decided (approved or rejected) by a *different* signed-in staff member holding
  `approval.decide`. "Different" is checked by user id and by login: a person with two accounts
  is excluded by the one-person-one-account rule and the periodic account review, not by code —
  the audit log shows both accounts for that review;
- the CLI (an OS operator, no staff identity, no second factor) may list and show requests and file
  the kinds that say so (`os_may_request`: `sesshu linkage inquire`), but never decide them;
- a request is decided once; the requester may withdraw it while it is pending; a rejection needs a
  comment;
- approval and the change itself happen in one transaction. If the change can no longer be made
  (the record changed since the request, a duplicate appeared) nothing is applied and the request
  is closed as 処理不能 ("failed") with the reason: the requester files a new one with fresh data;
- every step — request, refusal, view, approve, reject, withdraw, failure — is audited; refused
  attempts are committed to the log before the error reaches the caller;
- a request is requested, listed, read and decided only by staff assigned to the kind's 事務
  (`ApprovalKind.tasks`) whose scope covers every person it touches (`_scope`): to anyone else it is
  answered like a request that does not exist.
"""
from __future__ import annotations

import json
import secrets

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.approvals.kinds import KINDS, Context, kind_of
from sesshu.approvals.models import STATUSES, ApprovalRequest
from sesshu.approvals.schemas import ApprovalDetail, ApprovalOut, ApprovalOverview, DetailRow
from sesshu.audit import service as audit
from sesshu.audit.service import AuditEvent
from sesshu.auth.permissions import has_permission
from sesshu.clock import today_jst, utcnow
from sesshu.config import Settings
from sesshu.db import Database, get_row
from sesshu.domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from sesshu.domain.text import clean
from sesshu.keys import KeyRing, load_keyring

DECIDE_PERMISSION = "approval.decide"
PURPOSE = "承認手続（ダブルチェック）"
MAX_TEXT = 400
SELF_DECISION = "ご自身の申請は承認・却下できません。別の承認者に依頼してください"
NOT_FOUND = "指定の申請はありません"


class ApprovalFailed(Conflict):
    """Approved, but the change could not be made: nothing was applied and the request is closed."""

    code = "E_APPROVAL_FAILED"


class _ApplyError(Exception):
    def __init__(self, error: DomainError):
        super().__init__(error.message)
        self.error = error


def may_decide(actor: Actor) -> bool:
    return actor.kind == "user" and actor.user_id is not None and has_permission(actor.role, DECIDE_PERMISSION)


def is_requester(row: ApprovalRequest, actor: Actor) -> bool:
    if actor.user_id is not None and row.requested_by_user_id == actor.user_id:
        return True
    return row.requested_by == actor.label


def _aad(row_or_ref) -> str:
    ref = row_or_ref if isinstance(row_or_ref, str) else row_or_ref.payload_ref
    return f"approval:{ref}"


def _payload(keys: KeyRing, row: ApprovalRequest) -> dict:
    return json.loads(keys.decrypt(row.payload_enc, aad=_aad(row)))


def _text(value: str, label: str, *, required: bool) -> str:
    value = " ".join(clean(value).split())
    if required and not value:
        raise InvalidInput(f"{label}を入力してください")
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"{label}は{MAX_TEXT}文字以内で入力してください")
    return value


def _scope(s: Session, actor: Actor, k, payload: dict | None = None) -> access.Scoped:
    """The actor's scope for this kind (NoTask without its 事務), each person of the payload checked."""
    scoped = access.scoped(s, actor, tasks=k.tasks)
    for atena_no in (k.atena_nos(payload) if payload is not None else ()):
        scoped.check(atena_no, message=NOT_FOUND)
    return scoped


def _in_scope(s: Session, actor: Actor, k, payload: dict) -> bool:
    try:
        _scope(s, actor, k, payload)
    except (access.NoTask, access.OutOfScope):
        return False
    return True


def kinds_in_scope(s: Session, actor: Actor) -> list[str]:
    """The kinds whose 事務 the actor holds: the only requests a list shows them."""
    if actor.kind == "os":
        return sorted(KINDS)
    held = access.scope_of(s, actor).tasks
    return sorted(code for code, k in KINDS.items() if held & set(k.tasks))


def _events(action: str, atena_nos: list[str], detail: dict) -> list[AuditEvent]:
    return [AuditEvent(action, a, PURPOSE, detail) for a in (atena_nos or [None])]


# --- request ------------------------------------------------------------------------------------------

def request_approval(db: Database, settings: Settings, *, actor: Actor, kind: str, raw: dict,
                     reason: str) -> ApprovalOut:
    """Ask for a change that needs a second person. The payload is stored encrypted."""
    k = kind_of(kind)
    operator = actor.kind == "os" and k.os_may_request
    if not operator and (actor.kind != "user" or actor.user_id is None):
        raise Forbidden("申請はWeb画面から、ログインした職員が行います")
    if not operator and not has_permission(actor.role, k.permission):
        raise Forbidden("この申請を行う権限がありません")
    reason = _text(reason, "申請理由", required=True)
    keys = load_keyring(settings)
    try:
        with db.transaction() as s:
            return ApprovalOut.from_row(request_in(s, keys, actor=actor, kind=kind, raw=raw, reason=reason))
    except DomainError as e:
        # Validation looks persons up (by 個人番号, by 4情報): a refused request is on record too.
        with db.transaction() as s:
            audit.record(s, actor, "approval.request_refused", purpose=PURPOSE,
                         detail={"kind": k.code, "code": e.code})
        raise


def request_in(s: Session, keys: KeyRing, *, actor: Actor, kind: str, raw: dict, reason: str) -> ApprovalRequest:
    """File a request in the caller's transaction (the web's request, or a row of an import that needs a
    second person: there the OS operator who ran the import is the requester, and a staff approver
    decides it on the web)."""
    k = kind_of(kind)
    _scope(s, actor, k)
    payload = k.validate(s, raw, Context(keys=keys, actor=actor, today=today_jst()))
    _scope(s, actor, k, payload)
    subject = k.subject(payload)
    subject_key = keys.keyed_hash(f"{k.code}:{subject}", domain="approval_subject") if subject else None
    if subject_key:
        pending = s.execute(select(ApprovalRequest.id).where(
            ApprovalRequest.subject_key == subject_key, ApprovalRequest.status == "requested")).scalar()
        if pending:
            raise Conflict(f"同じ内容の申請（申請番号 {pending}）が承認待ちです")
    ref = secrets.token_hex(16)
    row = ApprovalRequest(
        kind=k.code, status="requested", payload_ref=ref,
        payload_enc=keys.encrypt(json.dumps(payload, ensure_ascii=False), aad=_aad(ref)),
        summary=k.summary(payload)[:200], subject_key=subject_key, reason=reason,
        requested_by=actor.label, requested_by_user_id=actor.user_id, requested_at=utcnow(),
        decision_comment="", result_ref="")
    s.add(row)
    s.flush()
    audit.record_many(s, actor, _events("approval.request", k.atena_nos(payload),
                                        {"approval_id": row.id, "kind": k.code, "summary": row.summary}))
    return row


REGISTRY_REASON = "住民基本台帳ファイルの住登外者の行（取込時の申請）"


def non_resident_from_registry(s: Session, keys: KeyRing, actor: Actor, fields: dict) -> int:
    """registry.import_registry's hook: a new 住登外 row of the feed becomes a pending request, checked
    like the web form's (4情報 duplicates, 個人番号), keeping the feed's 宛名番号."""
    raw = {"name": fields["name"], "name_kana": fields["name_kana"], "sex": fields["sex"],
           "birth_date": fields["birth_date"].isoformat() if fields["birth_date"] else "",
           "postal_code": fields["postal_code"], "address": fields["address"], "phone": fields["phone"],
           "my_number": fields["_my_number"], "source_atena_no": fields["atena_no"]}
    return request_in(s, keys, actor=actor, kind="non_resident_registration", raw=raw, reason=REGISTRY_REASON).id


# --- reading ------------------------------------------------------------------------------------------

def _visible_to(actor: Actor):
    """Approvers and the CLI operator see every request; everyone else only their own."""
    if actor.kind == "os" or may_decide(actor):
        return None
    if actor.user_id is None:
        return ApprovalRequest.id < 0
    return ApprovalRequest.requested_by_user_id == actor.user_id


def list_approvals(db: Database, *, actor: Actor, status: str | None = None, limit: int = 200) -> list[ApprovalOut]:
    if status and status not in STATUSES:
        raise InvalidInput(f"状態は {' / '.join(STATUSES)} のいずれかです")
    with db.transaction() as s:
        q = select(ApprovalRequest).where(ApprovalRequest.kind.in_(kinds_in_scope(s, actor)))
        visible = _visible_to(actor)
        if visible is not None:
            q = q.where(visible)
        if status:
            q = q.where(ApprovalRequest.status == status)
        rows = s.execute(q.order_by(ApprovalRequest.id.desc()).limit(limit)).scalars().all()
        audit.record(s, actor, "approval.list", purpose=PURPOSE, detail={"status": status, "rows": len(rows)})
        return [ApprovalOut.from_row(r) for r in rows]


def _waiting_for(actor: Actor):
    """Requests this user may decide: open, and not their own (four eyes)."""
    return and_(ApprovalRequest.status == "requested",
                or_(ApprovalRequest.requested_by_user_id.is_(None),
                    ApprovalRequest.requested_by_user_id != actor.user_id))


def waiting_count(db: Database, *, actor: Actor) -> int:
    """How many requests wait for this user's decision (the supervisor's home). A count, no personal data."""
    if not may_decide(actor):
        return 0
    with db.transaction() as s:
        return s.execute(select(func.count()).select_from(ApprovalRequest).where(
            _waiting_for(actor), ApprovalRequest.kind.in_(kinds_in_scope(s, actor)))).scalar_one()


def overview(db: Database, *, actor: Actor, limit: int = 100) -> ApprovalOverview:
    """The approvals page: requests waiting for this user's decision, and this user's own requests."""
    with db.transaction() as s:
        to_decide = []
        kinds = kinds_in_scope(s, actor)
        if may_decide(actor):
            to_decide = s.execute(select(ApprovalRequest).where(_waiting_for(actor), ApprovalRequest.kind.in_(kinds))
                .order_by(ApprovalRequest.requested_at).limit(limit)).scalars().all()
        mine = s.execute(select(ApprovalRequest).where(ApprovalRequest.requested_by_user_id == actor.user_id,
                                                       ApprovalRequest.kind.in_(kinds))
                         .order_by(ApprovalRequest.id.desc()).limit(limit)).scalars().all() \
            if actor.user_id is not None else []
        audit.record(s, actor, "approval.list", purpose=PURPOSE,
                     detail={"to_decide": len(to_decide), "mine": len(mine)})
        return ApprovalOverview(to_decide=[ApprovalOut.from_row(r) for r in to_decide],
                                mine=[ApprovalOut.from_row(r) for r in mine])


def get_approval(db: Database, settings: Settings, *, actor: Actor, approval_id: int) -> ApprovalDetail:
    """One request with its payload described for the approver (個人番号 masked); the view is audited."""
    keys = load_keyring(settings)
    with db.transaction() as s:
        row = get_row(s, ApprovalRequest, approval_id)
        own = row is not None and is_requester(row, actor)
        refused = row is None or not (own or actor.kind == "os" or may_decide(actor))
        if not refused and not _in_scope(s, actor, kind_of(row.kind), _payload(keys, row)):
            refused = True  # outside the approver's 事務: answered like a missing request
        if refused:
            if row is not None:  # another clerk's request: answered like a missing one, and on record
                audit.record(s, actor, "approval.view_refused", purpose=PURPOSE, detail={"approval_id": row.id})
            detail = None
        else:
            detail = _detail(s, keys, actor, row, own)
    if refused:
        raise NotFound(NOT_FOUND)
    return detail


def _detail(s: Session, keys: KeyRing, actor: Actor, row: ApprovalRequest, own: bool) -> ApprovalDetail:
    """The request described for someone allowed to see it; the view is audited."""
    k = kind_of(row.kind)
    payload = _payload(keys, row)
    _scope(s, actor, k, payload)
    audit.record_many(s, actor, _events("approval.view", k.atena_nos(payload), {"approval_id": row.id}))
    pending = row.status == "requested"
    header, subjects, more = k.subjects(s, payload, actor) if k.subjects and pending else ([], [], 0)
    return ApprovalDetail(
        subjects_header=header, subjects=subjects, subjects_more=more,
        approval=ApprovalOut.from_row(row),
        details=[DetailRow(label=label, value=value) for label, value in k.details(payload)],
        own=own, may_decide=pending and not own and may_decide(actor), may_withdraw=pending and own,
        result_atena_no=k.outcome_atena_no(payload, row.result_ref) if row.status == "approved" else None)


# --- decisions ----------------------------------------------------------------------------------------

def approve(db: Database, settings: Settings, *, actor: Actor, approval_id: int, expected_version: int,
            comment: str = "") -> ApprovalOut:
    """Approve another staff member's request and carry out the change in the same transaction."""
    comment = _text(comment, "コメント", required=False)
    return _decide(db, settings, actor=actor, approval_id=approval_id, expected_version=expected_version,
                   outcome="approved", comment=comment)


def reject(db: Database, settings: Settings, *, actor: Actor, approval_id: int, expected_version: int,
           comment: str) -> ApprovalOut:
    """Reject another staff member's request; nothing is changed. The reason is required."""
    comment = _text(comment, "却下の理由", required=True)
    return _decide(db, settings, actor=actor, approval_id=approval_id, expected_version=expected_version,
                   outcome="rejected", comment=comment)


def _load(s: Session, approval_id: int) -> ApprovalRequest:
    row = get_row(s, ApprovalRequest, approval_id, with_for_update=True)
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


def _check_pending(row: ApprovalRequest, expected_version: int) -> None:
    if row.status != "requested":
        raise Conflict(f"この申請は既に「{STATUSES.get(row.status, row.status)}」です")
    if row.version != expected_version:
        raise Conflict("申請の状態が変わりました。画面を開き直して確認してください")


def _decide(db: Database, settings: Settings, *, actor: Actor, approval_id: int, expected_version: int,
            outcome: str, comment: str) -> ApprovalOut:
    keys = load_keyring(settings)
    refusal: str | None = None
    hidden = False
    try:
        with db.transaction() as s:
            row = _load(s, approval_id)
            k = kind_of(row.kind)
            if not may_decide(actor):
                refusal = ("承認・却下はWeb画面で、承認権限を持つ職員が行います" if actor.kind != "user"
                           else "この申請を承認・却下する権限がありません")
            elif is_requester(row, actor):
                refusal = SELF_DECISION
            elif not _in_scope(s, actor, k, _payload(keys, row)):
                # Outside the kind's 事務 or these persons' scope the request cannot be decided — nor
                # closed as 処理不能 by failing inside apply: it is answered like a missing one.
                refusal, hidden = NOT_FOUND, True
            if refusal:
                audit.record(s, actor, "approval.decision_refused", purpose=PURPOSE,
                             detail={"approval_id": row.id, "outcome": outcome, "self": refusal == SELF_DECISION,
                                     "out_of_scope": hidden})
            else:
                _check_pending(row, expected_version)
                payload = _payload(keys, row)
                atena_nos = k.atena_nos(payload)
                result = ""
                if outcome == "approved":
                    ctx = Context(keys=keys, actor=actor, today=today_jst(), approval_id=row.id, reason=row.reason)
                    try:
                        result = k.apply(s, payload, ctx)
                    except DomainError as e:
                        raise _ApplyError(e) from e
                row.status = outcome
                row.decided_by = actor.label
                row.decided_by_user_id = actor.user_id
                row.decided_at = utcnow()
                row.decision_comment = comment
                row.result_ref = result
                s.flush()
                action = "approval.approve" if outcome == "approved" else "approval.reject"
                audit.record_many(s, actor, _events(action, atena_nos or ([result] if result.isdigit() else []), {
                    "approval_id": row.id, "kind": k.code, "requested_by": row.requested_by, "result": result,
                    "comment": comment}))
                decided = ApprovalOut.from_row(row)
    except _ApplyError as failure:
        message = _close_failed(db, actor=actor, approval_id=approval_id, expected_version=expected_version,
                                error=failure.error)
        raise ApprovalFailed(message) from failure.error
    if hidden:
        raise NotFound(NOT_FOUND)
    if refusal:
        raise Forbidden(refusal)
    return decided


def _close_failed(db: Database, *, actor: Actor, approval_id: int, expected_version: int,
                  error: DomainError) -> str:
    """The change was rolled back; close the request as 処理不能 with the reason (own transaction)."""
    message = (f"この申請は反映できませんでした: {error.message}。"
               "申請は「処理不能」として閉じました。内容を確認して、改めて申請してください")
    with db.transaction() as s:
        row = _load(s, approval_id)
        if row.status == "requested" and row.version == expected_version:
            row.status = "failed"
            row.decided_by = actor.label
            row.decided_by_user_id = actor.user_id
            row.decided_at = utcnow()
            row.decision_comment = error.message[:MAX_TEXT]
        audit.record(s, actor, "approval.fail", purpose=PURPOSE,
                     detail={"approval_id": approval_id, "kind": row.kind, "code": error.code,
                             "reason": error.message})
    return message


def withdraw(db: Database, *, actor: Actor, approval_id: int, expected_version: int) -> ApprovalOut:
    """The requester takes back a pending request; nothing is changed."""
    refused: str | None = None
    with db.transaction() as s:
        row = _load(s, approval_id)
        if not is_requester(row, actor):
            refused = "visible" if may_decide(actor) else "hidden"
            audit.record(s, actor, "approval.withdraw_refused", purpose=PURPOSE, detail={"approval_id": row.id})
        else:
            _check_pending(row, expected_version)
            row.status = "withdrawn"
            row.decided_by = actor.label
            row.decided_by_user_id = actor.user_id
            row.decided_at = utcnow()
            s.flush()
            audit.record(s, actor, "approval.withdraw", purpose=PURPOSE, detail={"approval_id": row.id,
                                                                                  "kind": row.kind})
            out = ApprovalOut.from_row(row)
    if refused == "hidden":  # a request this user may not even see: the same answer as a missing one
        raise NotFound(NOT_FOUND)
    if refused:
        raise Forbidden("申請を取り下げられるのは申請した職員だけです")
    return out
