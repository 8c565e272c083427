"""Use cases of the city's half of information linkage. Each function owns its transactions and
writes its audit rows (and its 情報提供等記録) in the same transaction as the change.

Network calls to the hub are never made inside a database transaction: a use case reads or
records in one transaction, talks to the hub, then records the outcome in the next. Every step is
idempotent (permit ids are unique, the hub refuses a second answer), so a crash between the two
is finished by the next run of `sync`.
"""
from __future__ import annotations

import json
import time
from datetime import date, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.approvals.models import ApprovalRequest
from sesshu.audit import service as audit
from sesshu.clock import today_jst, utcnow
from sesshu.config import Settings
from sesshu.db import Database, get_row
from sesshu.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from sesshu.domain.text import clean
from sesshu.jobs.crash import crash_point
from sesshu.keys import load_keyring
from sesshu.ledger.evaluation import reevaluate_persons
from sesshu.ledger.models import VaccinationRecord, Vaccine
from sesshu.linkage import copies as cp
from sesshu.linkage.client import HubClient, HubError, make_client
from sesshu.linkage.envelope import (
    EnvelopeError,
    answer_aad,
    check_shape,
    hpke_open,
    hpke_seal,
    seal_envelope,
    utc_stamp,
    verify_signature,
)
from sesshu.linkage.models import (
    LinkageExchange,
    LinkageImportedRecord,
    LinkageInquiry,
    LinkageNonce,
    LinkagePersonCode,
    LinkageProvision,
    ProvisionBatch,
    ProvisionCopy,
)
from sesshu.linkage.rules import load_rules
from sesshu.linkage.schemas import BatchOut, ExchangeOut, InquiryOut, ProvisionOut, SyncSummary
from sesshu.registry.models import Person

PURPOSE = "情報連携（中間サーバー）"
INFO = "vaccination_history"
PERSON_NOT_FOUND = "指定の方は登録されていません"


# --- retention --------------------------------------------------------------------------------------

def _years_later(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 2/29 → 2/28
        return d.replace(year=d.year + years, day=28)


def record_years(settings: Settings) -> int:
    return settings.linkage_record_retention_years or load_rules().exchange_record_retention_years


def result_days(settings: Settings) -> int:
    return settings.linkage_result_retention_days or load_rules().result_retention_days


def _exchange(s: Session, settings: Settings, *, actor: Actor, atena_no: str | None, direction: str,
              counterpart: str, outcome: str, permit_id: str = "", records: int = 0, detail: str = "",
              task: str | None = None, info: str = INFO) -> None:
    """One 情報提供等記録 row (番号法23条), in the caller's transaction."""
    s.add(LinkageExchange(atena_no=atena_no, direction=direction, counterpart=counterpart,
                          task=task or load_rules().task, info=info, permit_id=permit_id or "", outcome=outcome,
                          records=records, actor=actor.label, occurred_at=utcnow(), detail=detail[:400],
                          keep_until=_years_later(today_jst(), record_years(settings))))


# --- 自動応答不可 -------------------------------------------------------------------------------------

def set_manual_only(db: Database, *, actor: Actor, atena_no: str, manual_only: bool, reason: str) -> None:
    """Mark a person's 副本 自動応答不可 (e.g. DV支援措置) or back to automatic answers."""
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidInput("理由を入力してください")
    with db.transaction() as s:
        if s.get(Person, atena_no) is None:
            raise NotFound(PERSON_NOT_FOUND)
        access.check_visible(s, actor, atena_no, message=PERSON_NOT_FOUND)
        code = cp.person_code(s, atena_no)
        code.manual_only, code.manual_reason = manual_only, reason[:200]
        audit.record(s, actor, "linkage.manual_only", atena_no=atena_no, purpose=PURPOSE,
                     detail={"manual_only": manual_only, "reason": reason[:200]})


# --- 副本: prepare → check → approve → publish ---------------------------------------------------------

def prepare_batch(db: Database, *, actor: Actor) -> BatchOut:
    """Build the 差分 of 副本 since the last publication: new, corrected and voided records."""
    with db.transaction() as s:
        open_batches = s.execute(select(ProvisionBatch).where(
            ProvisionBatch.status.in_(("prepared", "checked")))).scalars().all()
        if open_batches and _publish_pending(s):
            raise Conflict("副本の登録が承認待ちです。承認・却下の後に作成してください")
        changes = cp.pending_changes(s)
        if not changes:
            raise InvalidInput("新しく登録する副本（差分）はありません")
        names = cp.master_names(s)
        rows = [{"atena_no": r.atena_no, "record_id": r.id, "record_version": r.version,
                 "change": change, "items": cp.ITEMS_JSON.encode(cp.copy_items(r, names)),
                 "manual_only": manual, "current": False} for r, change, manual in changes]
        for b in open_batches:
            same = b.status == "prepared" and b.prepared_by == actor.label
            if same and cp.batch_rows(s, b.id) == cp.batch_rows_of(rows):
                # The same staff member again with nothing changed (a re-run, e.g. after a crash): keep it.
                # Another one gets a batch of their own: who prepared it decides who may check it.
                return BatchOut.model_validate(b)
        for b in open_batches:
            b.status = "discarded"  # changed since, or prepared by another: a fresh batch replaces it
        batch = ProvisionBatch(status="prepared", copies=len(changes), persons=len({r.atena_no for r, _, _ in changes}),
                               prepared_by=actor.label, prepared_at=utcnow())
        s.add(batch)
        s.flush()
        cp.ensure_codes(s, list(dict.fromkeys(r.atena_no for r, _, _ in changes)))
        for row in rows:
            row["batch_id"] = batch.id
        for i in range(0, len(rows), 2000):
            s.execute(insert(ProvisionCopy.__table__), rows[i:i + 2000])
        counts = {k: sum(1 for _, c, _ in changes if c == k) for k in ("new", "correct", "void")}
        audit.record(s, actor, "linkage.prepare", purpose=PURPOSE,
                     detail={"batch_id": batch.id, "copies": len(changes), "persons": batch.persons,
                             "discarded": [b.id for b in open_batches], **counts})
        # One transaction: the batch, its copies, the new 符号 and the audit row commit together or not at all.
        crash_point("chunk:0", s)
        out = BatchOut.model_validate(batch)
    crash_point("commit:0")  # committed, not yet reported: the re-run must keep this batch
    return out


def _publish_pending(s: Session) -> bool:
    return s.execute(select(ApprovalRequest.id).where(ApprovalRequest.kind == "linkage_publish",
                                                      ApprovalRequest.status == "requested")).first() is not None


def list_batches(db: Database, *, actor: Actor, limit: int = 50) -> list[BatchOut]:
    with db.transaction() as s:
        rows = s.execute(select(ProvisionBatch).order_by(ProvisionBatch.id.desc()).limit(limit)).scalars().all()
        audit.record(s, actor, "linkage.batches_view", purpose=PURPOSE, detail={"rows": len(rows)})
        return [BatchOut.model_validate(b) for b in rows]


def check_batch(db: Database, settings: Settings, *, actor: Actor, batch_id: int, expected_version: int) -> int:
    """The second person confirms the batch and asks a supervisor to approve it (approval kind
    linkage_publish). Returns the approval request's id."""
    from sesshu.approvals.service import request_approval

    out = request_approval(db, settings, actor=actor, kind="linkage_publish",
                           raw={"batch_id": batch_id, "expected_version": expected_version},
                           reason=f"副本の登録 {batch_id} の確認")
    return out.id


def validate_check(s: Session, raw: dict, actor: Actor) -> dict:
    """Approval kind linkage_publish, at request time: the checker is not the preparer. The batch is
    marked checked in the same transaction as the request."""
    try:
        batch_id, expected = int(raw.get("batch_id")), int(raw.get("expected_version"))
    except (TypeError, ValueError):
        raise InvalidInput("副本の登録番号・版数が正しくありません") from None
    b = get_row(s, ProvisionBatch, batch_id, with_for_update=True)
    if b is None:
        raise NotFound("指定の副本の登録はありません")
    if b.status != "prepared" or b.version != expected:
        raise Conflict("この副本の登録は確認できる状態ではありません。画面を開き直してください")
    if b.prepared_by == actor.label:
        raise Forbidden("副本を作成した職員は確認できません。別の職員が確認してください")
    b.status, b.checked_by, b.checked_at = "checked", actor.label, utcnow()
    s.flush()
    return {"batch_id": b.id, "version": b.version, "prepared_by": b.prepared_by, "checked_by": actor.label,
            "copies": b.copies, "persons": b.persons}


def apply_publish(s: Session, p: dict, actor: Actor, approval_id: int | None) -> str:
    """Approval of linkage_publish: the supervisor is neither the preparer nor the checker; the
    batch's copies become the current 副本 (the hub learns the 符号 at the next sync)."""
    b = get_row(s, ProvisionBatch, int(p["batch_id"]), with_for_update=True)
    if b is None or b.status != "checked" or b.version != p["version"]:
        raise Conflict("副本の登録の状態が変わりました。作成し直してください")
    if actor.label in (b.prepared_by, b.checked_by):
        raise Forbidden("作成・確認した職員は承認できません")
    in_batch = select(ProvisionCopy.record_id).where(ProvisionCopy.batch_id == b.id)
    stale = s.execute(select(ProvisionCopy.id).join(VaccinationRecord, VaccinationRecord.id == ProvisionCopy.record_id)
                      .where(ProvisionCopy.batch_id == b.id, VaccinationRecord.version != ProvisionCopy.record_version)
                      .limit(1)).first()
    if stale:
        raise Conflict("作成後に台帳が変更されました。副本を作成し直してください")
    s.execute(update(ProvisionCopy).where(ProvisionCopy.current, ProvisionCopy.record_id.in_(in_batch))
              .values(current=False))
    s.execute(update(ProvisionCopy).where(ProvisionCopy.batch_id == b.id).values(current=True))
    b.status, b.approved_by, b.approved_at, b.approval_id = "approved", actor.label, utcnow(), approval_id
    s.flush()
    audit.record(s, actor, "linkage.approve_batch", purpose=PURPOSE,
                 detail={"batch_id": b.id, "copies": b.copies, "prepared_by": b.prepared_by,
                         "checked_by": b.checked_by, "approval_id": approval_id})
    return f"batch:{b.id}"


def publish_approved(db: Database, *, actor: Actor, client: HubClient) -> int:
    """Tell the hub which 符号 now have 副本 here; the batch is published."""
    with db.transaction() as s:
        todo = s.execute(select(ProvisionBatch.id).where(ProvisionBatch.status == "approved")
                         .order_by(ProvisionBatch.id)).scalars().all()
    for batch_id in todo:
        with db.transaction() as s:
            fugos = sorted(set(s.execute(select(LinkagePersonCode.fugo).join(
                ProvisionCopy, ProvisionCopy.atena_no == LinkagePersonCode.atena_no).where(
                ProvisionCopy.batch_id == batch_id)).scalars()))
        client.post("codes", {"fugos": fugos})
        with db.transaction() as s:
            b = s.get(ProvisionBatch, batch_id, with_for_update=True)
            b.status, b.published_at = "published", utcnow()
            audit.record(s, actor, "linkage.publish", purpose=PURPOSE,
                         detail={"batch_id": batch_id, "persons": len(fugos), "copies": b.copies})
    return len(todo)


# --- 転出 / 転入: linking this city's 符号 with the other body's ---------------------------------------

def move_out(db: Database, settings: Settings, *, actor: Actor, atena_no: str, client: HubClient | None = None) -> str:
    """転出: register the person's 符号 with the hub; returns the one-time 移転照合コード that goes
    with the 転出証明書 / 転入通知 to the new city (it identifies nothing after use or expiry)."""
    client = client or make_client(settings)
    with db.transaction() as s:
        if s.get(Person, atena_no) is None:
            raise NotFound(PERSON_NOT_FOUND)
        access.check_visible(s, actor, atena_no, message=PERSON_NOT_FOUND)
        fugo = cp.person_code(s, atena_no).fugo
    answer = _post(client, "move_out", {"fugo": fugo})
    with db.transaction() as s:
        audit.record(s, actor, "linkage.move_out", atena_no=atena_no, purpose=PURPOSE,
                     detail={"expires_in_days": answer.get("expires_in_days")})
    return answer["transfer_code"]


def move_in(db: Database, settings: Settings, *, actor: Actor, atena_no: str, transfer_code: str,
            client: HubClient | None = None) -> str:
    """転入: present the 移転照合コード with this city's own 符号; the hub links the two. Returns the
    former body's code."""
    client = client or make_client(settings)
    with db.transaction() as s:
        if s.get(Person, atena_no) is None:
            raise NotFound(PERSON_NOT_FOUND)
        access.check_visible(s, actor, atena_no, message=PERSON_NOT_FOUND)
        fugo = cp.person_code(s, atena_no).fugo
    try:
        answer = _post(client, "move_in", {"fugo": fugo, "transfer_code": transfer_code.strip()})
    except InvalidInput:
        with db.transaction() as s:
            audit.record(s, actor, "linkage.move_in_refused", atena_no=atena_no, purpose=PURPOSE)
        raise
    with db.transaction() as s:
        audit.record(s, actor, "linkage.move_in", atena_no=atena_no, purpose=PURPOSE,
                     detail={"former_body": answer["linked_to"]})
    return answer["linked_to"]


def _post(client: HubClient, kind: str, body: dict) -> dict:
    try:
        return client.post(kind, body)
    except HubError as e:
        if e.status in (403, 404):
            raise Forbidden(e.reason) from None
        raise InvalidInput(f"中継機能: {e.reason}") from None


# --- 照会 (this city asks): requested by a clerk, approved by a supervisor, then sent ----------------
#
# III-6 of the city's 評価書: "上長の承認を得た上で情報照会・入手を行う". A clerk (or the CLI operator)
# files the inquiry's content as an approval request (kind linkage_inquiry); a supervisor other than the
# requester approves it on /approvals; the approval creates the inquiry as "approved" in the approval's
# transaction, and the sender (`send_approved`, the first step of every `sync` round, i.e. `linkage
# serve` and `inquire --wait`) hands it to the hub outside any transaction. A rejected or withdrawn
# request creates nothing and sends nothing.

INQUIRY_KIND = "linkage_inquiry"
MAX_PURPOSE = 200


def request_inquiry(db: Database, settings: Settings, *, actor: Actor, atena_no: str, provider: str,
                    purpose: str, info: str = INFO, task: str | None = None):
    """File a 情報照会 for a supervisor's approval; nothing is sent yet. Returns the approval request."""
    from sesshu.approvals.service import request_approval

    raw = {"atena_no": atena_no, "provider": provider, "info": info, "task": task or load_rules().task,
           "purpose": purpose}
    # The purpose is checked with the rest of the content (validate_inquiry); the request's reason names it.
    return request_approval(db, settings, actor=actor, kind=INQUIRY_KIND, raw=raw,
                            reason=f"情報照会の目的: {' '.join(purpose.split())[:MAX_PURPOSE]}")


def validate_inquiry(s: Session, raw: dict, actor: Actor) -> dict:
    """Approval kind linkage_inquiry, at request time (and again before apply): the person is in the
    requester's scope, the body code and the item are well formed, the purpose is given."""
    from sesshu.access.tasks import TASKS

    atena_no = clean(str(raw.get("atena_no", "")))
    if not (atena_no.isascii() and atena_no.isdigit() and len(atena_no) <= 15):
        raise InvalidInput("宛名番号を15桁以内の数字で入力してください")
    person = s.get(Person, atena_no)
    if person is None:
        raise NotFound(PERSON_NOT_FOUND)
    access.check_visible(s, actor, atena_no, message=PERSON_NOT_FOUND)
    provider = clean(str(raw.get("provider", "")))
    if not (provider.isascii() and provider.isdigit() and len(provider) == 6):
        raise InvalidInput("照会先の団体コードを6桁の数字で入力してください")
    info, task = str(raw.get("info", "")).strip(), str(raw.get("task", "")).strip()
    for label, value in (("照会する情報", info), ("事務", task)):
        if not (value and value.isascii() and len(value) <= 40 and value.replace("_", "").isalnum()):
            raise InvalidInput(f"{label}の指定が正しくありません")
    purpose = " ".join(str(raw.get("purpose", "")).split())  # as typed (NFKC would turn （） into ())
    if not purpose:
        raise InvalidInput("照会の目的を入力してください")
    if len(purpose) > MAX_PURPOSE:
        raise InvalidInput(f"照会の目的は{MAX_PURPOSE}文字以内で入力してください")
    item = load_rules().info.get(info, {})
    return {"atena_no": atena_no, "name": person.name, "provider": provider, "info": info, "task": task,
            "info_label": item.get("label", f"{info}（照会許可用照合リストにない可能性があります）"),
            "legal_basis": item.get("legal_basis", "—"),
            "task_label": TASKS[task].label if task in TASKS else task, "purpose": purpose}


def inquiry_details(p: dict) -> list[tuple[str, str]]:
    """What the supervisor approves, in plain Japanese."""
    return [("照会する方", f"宛名番号 {p['atena_no']}（{p['name']}）"),
            ("照会先", f"団体コード {p['provider']}（転出元の地方公共団体）"),
            ("照会する情報", p["info_label"]), ("事務", p["task_label"]), ("法令上の根拠", p["legal_basis"]),
            ("照会の目的", p["purpose"]),
            ("承認した後", "情報連携の常駐処理が中継機能へ照会を送ります。回答は台帳に取り込まれ、"
                        "照会・回答は情報提供等記録に残ります")]


def apply_inquiry(s: Session, p: dict, actor: Actor, approval_id: int | None) -> str:
    """Approval of linkage_inquiry: the inquiry exists from now on as "approved" (to be sent); the
    hub is not called inside this transaction."""
    if s.get(Person, p["atena_no"]) is None:
        raise NotFound(PERSON_NOT_FOUND)
    request = s.get(ApprovalRequest, approval_id) if approval_id else None
    cp.person_code(s, p["atena_no"])
    q = LinkageInquiry(atena_no=p["atena_no"], provider=p["provider"], task=p["task"], info=p["info"],
                       status="approved", refusal="", requested_by=request.requested_by if request else actor.label,
                       requested_at=utcnow())
    s.add(q)
    s.flush()
    audit.record(s, actor, "linkage.inquire", atena_no=p["atena_no"], purpose=PURPOSE,
                 detail={"inquiry_id": q.id, "provider": p["provider"], "task": p["task"], "info": p["info"],
                         "approval_id": approval_id, "requested_by": q.requested_by})
    return f"inquiry:{q.id}"


def inquiry_of_request(db: Database, approval_id: int) -> tuple[str, InquiryOut | None]:
    """(the request's status, the inquiry its approval created or None) — for `inquire --wait`."""
    with db.transaction() as s:
        row = s.get(ApprovalRequest, approval_id)
        if row is None or row.kind != INQUIRY_KIND:
            raise NotFound("指定の照会の申請はありません")
        if not row.result_ref.startswith("inquiry:"):
            return row.status, None
        return row.status, InquiryOut.model_validate(s.get(LinkageInquiry, int(row.result_ref.split(":")[1])))


def send_approved(db: Database, settings: Settings, *, actor: Actor, client: HubClient) -> int:
    """Send every approved inquiry to the hub (one claim each: a daemon and a waiting CLI never both
    send the same one). Returns how many were sent or refused."""
    with db.transaction() as s:
        todo = s.execute(select(LinkageInquiry.id).where(LinkageInquiry.status == "approved")
                         .order_by(LinkageInquiry.id)).scalars().all()
    done = 0
    for inquiry_id in todo:
        with db.transaction() as s:
            claimed = s.execute(update(LinkageInquiry).where(LinkageInquiry.id == inquiry_id,
                                                             LinkageInquiry.status == "approved")
                                .values(status="sending")).rowcount
            fugo = cp.person_code(s, s.get(LinkageInquiry, inquiry_id).atena_no).fugo if claimed else None
        if claimed:
            _send_inquiry(db, settings, actor=actor, client=client, inquiry_id=inquiry_id, fugo=fugo)
            done += 1
    return done


def _send_inquiry(db: Database, settings: Settings, *, actor: Actor, client: HubClient, inquiry_id: int,
                  fugo: str) -> None:
    """Ask the hub for a 提供許可証 for one approved inquiry; a refusal is recorded with the inquiry. An
    unreachable hub refuses nothing: the inquiry goes back to "approved" for the next round."""
    with db.transaction() as s:
        row = s.get(LinkageInquiry, inquiry_id)
        atena_no, provider, task, info, requested_by = row.atena_no, row.provider, row.task, row.info, row.requested_by
    try:
        permit = client.verify_permit(client.post("inquiry", {"task": task, "info": info, "provider": provider,
                                                              "fugo": fugo})["permit"])
    except (HubError, EnvelopeError) as e:
        if e.code == "E_UNREACHABLE":
            with db.transaction() as s:
                s.get(LinkageInquiry, inquiry_id).status = "approved"
            raise
        with db.transaction() as s:
            row = s.get(LinkageInquiry, inquiry_id)
            row.status, row.refusal = "refused", e.reason[:400]
            _exchange(s, settings, actor=actor, atena_no=atena_no, direction="inquiry", counterpart=provider,
                      outcome="refused", detail=e.reason, task=task, info=info)
            audit.record(s, actor, "linkage.inquiry_refused", atena_no=atena_no, purpose=PURPOSE,
                         detail={"inquiry_id": inquiry_id, "code": e.code, "reason": e.reason})
        return
    with db.transaction() as s:
        row = s.get(LinkageInquiry, inquiry_id)
        row.permit_id, row.status = permit["permit_id"], "waiting"
        _exchange(s, settings, actor=actor, atena_no=atena_no, direction="inquiry", counterpart=provider,
                  outcome="requested", permit_id=permit["permit_id"], task=task, info=info,
                  detail=f"上長の承認済み（申請 {requested_by}）")
        audit.record(s, actor, "linkage.permit", atena_no=atena_no, purpose=PURPOSE,
                     detail={"inquiry_id": inquiry_id, "permit_id": permit["permit_id"]})


def await_inquiry(db: Database, settings: Settings, *, actor: Actor, approval_id: int, wait_seconds: float,
                  client: HubClient | None = None) -> tuple[str, InquiryOut | None]:
    """`inquire --wait`: wait for the supervisor's decision, then send (if the daemon has not) and wait
    for the answer, running the daemon's round meanwhile. Returns as inquiry_of_request does."""
    deadline = time.monotonic() + wait_seconds
    while True:
        status, q = inquiry_of_request(db, approval_id)
        if q is not None and q.status in ("approved", "sending", "waiting"):
            try:
                sync(db, settings, actor=actor, client=client or make_client(settings))
            except HubError as e:
                if e.code != "E_UNREACHABLE":
                    raise
                # the hub is down: the inquiry stays approved and is sent on a later round
            status, q = inquiry_of_request(db, approval_id)
        if status != "requested" and (q is None or q.status in ("answered", "refused")):
            return status, q
        if time.monotonic() >= deadline:
            return status, q
        time.sleep(max(settings.linkage_poll_ms, 50) / 1000)


def _inquiry(db: Database, inquiry_id: int) -> InquiryOut:
    with db.transaction() as s:
        return InquiryOut.model_validate(s.get(LinkageInquiry, inquiry_id))


def list_inquiries(db: Database, *, actor: Actor, limit: int = 50) -> list[InquiryOut]:
    with db.transaction() as s:
        q = select(LinkageInquiry).order_by(LinkageInquiry.id.desc()).limit(limit)
        f = access.person_filter(access.scope_of(s, actor), LinkageInquiry.atena_no)
        if f is not None:
            q = q.where(f)
        rows = s.execute(q).scalars().all()
        audit.record(s, actor, "linkage.inquiries_view", purpose=PURPOSE, detail={"rows": len(rows)})
        return [InquiryOut.model_validate(r) for r in rows]


# --- the provider and receiver loop --------------------------------------------------------------

def sync(db: Database, settings: Settings, *, actor: Actor, client: HubClient | None = None) -> SyncSummary:
    """One round of the city's linkage daemon: publish approved batches, send approved inquiries, answer the permits the hub
    holds for us from the 副本 (automatically unless 自動応答不可), send decided manual provisions,
    and import the answers to our own inquiries."""
    client = client or make_client(settings)
    summary = SyncSummary()
    summary.published_batches = publish_approved(db, actor=actor, client=client)
    summary.inquiries_sent = send_approved(db, settings, actor=actor, client=client)
    mailbox = client.post("poll", {})
    for item in mailbox["permits"]:
        try:
            outcome = _take_permit(db, settings, actor=actor, client=client, item=item)
        except EnvelopeError as e:  # a permit without the hub's valid signature is never answered
            with db.transaction() as s:
                audit.record(s, actor, "linkage.permit_refused", purpose=PURPOSE,
                             detail={"permit_id": str(item.get("permit", {}).get("permit_id", ""))[:40],
                                     "reason": e.reason})
            summary.refused += 1
            continue
        if outcome == "held":
            summary.held += 1
        elif outcome == "sent":
            summary.provided += 1
    summary.provided += _send_decided(db, settings, actor=actor, client=client)
    acks = []
    for i, env in enumerate(mailbox["answers"]):
        done = _receive_answer(db, settings, actor=actor, client=client, env=env, point=f"answer:{i}")
        crash_point(f"imported:{i}")  # the answer committed, the hub not yet acknowledged
        if done is not None:
            acks.append(done)
            summary.answers_imported += 1
        else:
            summary.refused += 1
    if acks:
        client.post("ack", {"permit_ids": acks})
    return summary


def _take_permit(db: Database, settings: Settings, *, actor: Actor, client: HubClient, item: dict) -> str:
    permit = client.verify_permit(item["permit"])
    if permit["provider"] != client.body_id:
        return "ignored"
    with db.transaction() as s:
        existing = s.execute(select(LinkageProvision).where(
            LinkageProvision.permit_id == permit["permit_id"])).scalar_one_or_none()
        if existing is not None:
            return "known" if existing.status != "sent" else "sent"
        code = s.execute(select(LinkagePersonCode).where(LinkagePersonCode.fugo == permit["fugo"])).scalar_one_or_none()
        atena_no = code.atena_no if code else None
        copies = cp.current_copies(s, atena_no) if atena_no else []
        manual = bool(code and code.manual_only) or any(c.manual_only for c in copies)
        row = LinkageProvision(permit_id=permit["permit_id"], atena_no=atena_no, requester=permit["requester"],
                               task=permit["task"], info=permit["info"], status="held" if manual else "auto",
                               decision="" if manual else "auto", received_at=utcnow())
        s.add(row)
        s.flush()
        if manual:
            _exchange(s, settings, actor=actor, atena_no=atena_no, direction="provision",
                      counterpart=permit["requester"], outcome="held", permit_id=permit["permit_id"],
                      task=permit["task"], info=permit["info"], detail="自動応答不可: 上長の判断待ち")
            audit.record(s, actor, "linkage.provision_held", atena_no=atena_no, purpose=PURPOSE,
                         detail={"provision_id": row.id, "permit_id": permit["permit_id"],
                                 "requester": permit["requester"]})
            return "held"
        provision_id = row.id
    _send_answer(db, settings, actor=actor, client=client, provision_id=provision_id,
                 requester_public=item["requester_hpke_public"])
    return "sent"


def _send_decided(db: Database, settings: Settings, *, actor: Actor, client: HubClient) -> int:
    with db.transaction() as s:
        ids = s.execute(select(LinkageProvision.id, LinkageProvision.requester).where(
            LinkageProvision.status.in_(("disclose", "withhold")))).all()
    for provision_id, requester in ids:
        _send_answer(db, settings, actor=actor, client=client, provision_id=provision_id,
                     requester_public=client.body(requester)["hpke_public"])
    return len(ids)


def _send_answer(db: Database, settings: Settings, *, actor: Actor, client: HubClient, provision_id: int,
                 requester_public: str) -> None:
    """Seal the answer from the 副本 for the requester only, sign it, hand it to the hub, record it."""
    with db.transaction() as s:
        p = s.get(LinkageProvision, provision_id)
        copies = cp.current_copies(s, p.atena_no) if p.atena_no else []
        code = s.get(LinkagePersonCode, p.atena_no) if p.atena_no else None
        withheld_all = p.decision == "withhold" and code is not None and code.manual_only
        disclosed = [c for c in copies if not withheld_all and not (p.decision == "withhold" and c.manual_only)]
        payload = {"permit_id": p.permit_id, "provider": client.body_id, "provider_name": settings.municipality_name,
                   "generated_at": utc_stamp(), "status": "ok" if copies else "no_copies",
                   "records": [cp.items_of(c) for c in disclosed], "not_disclosed": len(copies) - len(disclosed)}
        permit_id, requester, atena_no = p.permit_id, p.requester, p.atena_no
    sealed = hpke_seal(requester_public, json.dumps(payload, ensure_ascii=False).encode(),
                       aad=answer_aad(permit_id, client.body_id, requester))
    inner = seal_envelope(client.keys, kind="answer", sender=client.body_id, to=requester,
                          body={"permit_id": permit_id, "sealed": sealed})
    try:
        client.post("answer", {"envelope": inner})
    except HubError as e:
        if e.code != "E_REPLAY":  # already answered: an earlier run sent it and stopped before recording
            raise
    with db.transaction() as s:
        p = s.get(LinkageProvision, provision_id)
        decision = p.decision
        p.status, p.sent_at = "sent", utcnow()
        p.records_sent, p.not_disclosed = len(payload["records"]), payload["not_disclosed"]
        outcome = {"auto": "provided", "disclose": "provided", "withhold": "withheld"}.get(decision, "provided")
        _exchange(s, settings, actor=actor, atena_no=atena_no, direction="provision", counterpart=requester,
                  outcome=outcome, permit_id=permit_id, records=len(payload["records"]), task=p.task, info=p.info,
                  detail=("自動応答" if decision == "auto" else f"上長の判断（{decision}）")
                  + (f"・不開示 {payload['not_disclosed']} 件" if payload["not_disclosed"] else ""))
        audit.record(s, actor, "linkage.provide", atena_no=atena_no, purpose=PURPOSE,
                     detail={"provision_id": provision_id, "permit_id": permit_id, "requester": requester,
                             "records": len(payload["records"]), "not_disclosed": payload["not_disclosed"],
                             "decision": decision})


def _receive_answer(db: Database, settings: Settings, *, actor: Actor, client: HubClient, env,
                    point: str = "answer") -> str | None:
    """Check and import one answer; returns its permit id when done (or already done), None if refused.
    `point`: the crash point inside its transaction (sesshu.jobs.crash, for the kill tests)."""
    try:
        check_shape(env, kind="answer")
        if env["to"] != client.body_id:
            raise EnvelopeError("宛先が当団体ではありません", "E_FORMAT")
        verify_signature(env, client.body(env["from"])["sign_public"])
        permit_id = env["body"].get("permit_id")
        payload = json.loads(hpke_open(client.keys, env["body"]["sealed"],
                                       aad=answer_aad(str(permit_id), env["from"], client.body_id)))
    except (EnvelopeError, HubError, KeyError, TypeError, ValueError) as e:
        with db.transaction() as s:
            audit.record(s, actor, "linkage.answer_refused", purpose=PURPOSE,
                         detail={"from": str(env.get("from", ""))[:20] if isinstance(env, dict) else "",
                                 "reason": getattr(e, "reason", str(e))[:200]})
        return None
    keys = load_keyring(settings)
    with db.transaction() as s:
        q = s.execute(select(LinkageInquiry).where(LinkageInquiry.permit_id == permit_id)
                      .with_for_update()).scalar_one_or_none()
        if q is None or q.provider != env["from"]:
            audit.record(s, actor, "linkage.answer_refused", purpose=PURPOSE,
                         detail={"from": env["from"], "permit_id": permit_id, "reason": "unknown permit"})
            return None
        if q.status == "answered":
            return permit_id
        if s.get(LinkageNonce, env["nonce"]) is not None:
            audit.record(s, actor, "linkage.answer_refused", atena_no=q.atena_no, purpose=PURPOSE,
                         detail={"permit_id": permit_id, "reason": "replay"})
            return None
        s.add(LinkageNonce(nonce=env["nonce"], sender=env["from"], seen_at=utcnow()))
        imported = _import_records(s, actor, q, payload)
        q.status, q.answered_at = "answered", utcnow()
        q.records_received, q.records_imported = len(payload.get("records", [])), imported
        q.not_disclosed = int(payload.get("not_disclosed", 0))
        s.flush()
        q.result_enc = keys.encrypt(json.dumps(payload, ensure_ascii=False), aad=f"linkage_result:{q.id}")
        q.purge_after = today_jst() + timedelta(days=result_days(settings))
        _exchange(s, settings, actor=actor, atena_no=q.atena_no, direction="inquiry", counterpart=q.provider,
                  outcome="answered", permit_id=permit_id, records=q.records_received, task=q.task, info=q.info,
                  detail=f"台帳へ取込 {imported} 件" + (f"・不開示 {q.not_disclosed} 件" if q.not_disclosed else ""))
        audit.record(s, actor, "linkage.answer_import", atena_no=q.atena_no, purpose=PURPOSE,
                     detail={"inquiry_id": q.id, "permit_id": permit_id, "received": q.records_received,
                             "imported": imported, "not_disclosed": q.not_disclosed})
        crash_point(point, s)
    return permit_id


def _import_records(s: Session, actor: Actor, q: LinkageInquiry, payload: dict) -> int:
    """The former city's doses become ledger records of this person, marked with where they came from,
    and the schedule engine judges them with the rest."""
    from decimal import Decimal, InvalidOperation

    vaccines = set(s.execute(select(Vaccine.code)).scalars())
    existing = set(s.execute(select(VaccinationRecord.vaccine_code, VaccinationRecord.vaccinated_on).where(
        VaccinationRecord.atena_no == q.atena_no, VaccinationRecord.status == "active")).all())
    provider_name = str(payload.get("provider_name", q.provider))[:40]
    now = utcnow()
    added = []
    for item in payload.get("records", []):
        try:
            code, day = str(item["vaccine_code"]), date.fromisoformat(item["vaccinated_on"])
        except (KeyError, TypeError, ValueError):
            continue
        if code not in vaccines or (code, day) in existing:
            continue
        try:
            volume = Decimal(item["dose_volume_ml"]) if item.get("dose_volume_ml") else None
        except InvalidOperation:
            volume = None
        dose_no = item.get("dose_no") if isinstance(item.get("dose_no"), int) else None
        where = f"（接種医療機関: {item['institution']}）" if item.get("institution") else ""
        r = VaccinationRecord(
            atena_no=q.atena_no, vaccine_code=code, term=str(item.get("term") or "")[:8], dose_no=dose_no,
            category=str(item.get("category") or "")[:20], vaccinated_on=day,
            screening_result=str(item.get("screening_result") or "")[:20], lot_no=str(item.get("lot_no") or "")[:30],
            dose_volume_ml=volume, first_product=str(item.get("first_product") or "")[:30],
            dt_kind=str(item.get("dt_kind") or "")[:20], former_municipality=provider_name,
            remarks=f"情報連携により{provider_name}から取得（提供許可証 {q.permit_id}）{where}"[:1000],
            status="active", version=1, created_at=now, created_by=actor.label, updated_at=now, error_code="")
        s.add(r)
        s.flush()
        s.add(LinkageImportedRecord(record_id=r.id, inquiry_id=q.id, provider=q.provider, provider_name=provider_name))
        existing.add((code, day))
        added.append(r.id)
    if added:
        reevaluate_persons(s, [q.atena_no], today_jst())
    return len(added)


# --- 自動応答不可: the supervisor's decision (approval kind linkage_manual_provision) ------------------

def list_provisions(db: Database, *, actor: Actor, status: str | None = None, limit: int = 50) -> list[ProvisionOut]:
    with db.transaction() as s:
        q = select(LinkageProvision).order_by(LinkageProvision.id.desc()).limit(limit)
        if status:
            q = q.where(LinkageProvision.status == status)
        f = access.person_filter(access.scope_of(s, actor), LinkageProvision.atena_no)
        if f is not None:
            q = q.where(f)
        rows = s.execute(q).scalars().all()
        audit.record(s, actor, "linkage.provisions_view", purpose=PURPOSE, detail={"rows": len(rows)})
        return [ProvisionOut.model_validate(r) for r in rows]


def request_manual_decision(db: Database, settings: Settings, *, actor: Actor, provision_id: int, decision: str,
                            reason: str) -> int:
    """A clerk proposes to disclose or withhold (不開示) a held provision; a supervisor approves it."""
    from sesshu.approvals.service import request_approval

    return request_approval(db, settings, actor=actor, kind="linkage_manual_provision",
                            raw={"provision_id": provision_id, "decision": decision}, reason=reason).id


def validate_manual(s: Session, raw: dict, actor: Actor) -> dict:
    try:
        provision_id = int(raw.get("provision_id"))
    except (TypeError, ValueError):
        raise InvalidInput("提供の番号が正しくありません") from None
    decision = raw.get("decision")
    if decision not in ("disclose", "withhold"):
        raise InvalidInput("提供する（disclose）か不開示（withhold）かを選んでください")
    p = get_row(s, LinkageProvision, provision_id)
    if p is None or p.status != "held":
        raise NotFound("判断待ちの提供はありません")
    if p.atena_no:
        access.check_visible(s, actor, p.atena_no, message="判断待ちの提供はありません")
    return {"provision_id": p.id, "decision": decision, "atena_no": p.atena_no, "requester": p.requester,
            "permit_id": p.permit_id, "version": p.version}


def apply_manual(s: Session, p: dict, actor: Actor, approval_id: int | None) -> str:
    row = get_row(s, LinkageProvision, int(p["provision_id"]), with_for_update=True)
    if row is None or row.status != "held" or row.version != p["version"]:
        raise Conflict("この提供は既に処理されています")
    row.status = row.decision = p["decision"]
    row.approval_id = approval_id
    s.flush()
    audit.record(s, actor, "linkage.manual_decision", atena_no=row.atena_no, purpose=PURPOSE,
                 detail={"provision_id": row.id, "decision": p["decision"], "permit_id": row.permit_id,
                         "approval_id": approval_id})
    return f"provision:{row.id}"


# --- 情報提供等記録 and retention ---------------------------------------------------------------------

def exchanges_for_person(db: Database, *, actor: Actor, atena_no: str) -> list[ExchangeOut]:
    """The person's 情報提供等記録, newest first (for the person page and the disclosure package)."""
    with db.transaction() as s:
        if s.get(Person, atena_no) is None:
            raise NotFound(PERSON_NOT_FOUND)
        access.check_visible(s, actor, atena_no, message=PERSON_NOT_FOUND)
        rows = s.execute(select(LinkageExchange).where(LinkageExchange.atena_no == atena_no)
                         .order_by(LinkageExchange.occurred_at.desc(), LinkageExchange.id.desc())).scalars().all()
        audit.record(s, actor, "linkage.exchanges_view", atena_no=atena_no, purpose=PURPOSE,
                     detail={"rows": len(rows)})
        return [ExchangeOut.model_validate(r) for r in rows]


def purge_results(db: Database, *, actor: Actor, today: date | None = None) -> dict:
    """Delete inquiry results past their period and 情報提供等記録 past theirs; each deletion is logged."""
    today = today or today_jst()
    with db.transaction() as s:
        due = s.execute(select(LinkageInquiry).where(LinkageInquiry.result_enc.is_not(None),
                                                     LinkageInquiry.purge_after <= today)).scalars().all()
        events = []
        for q in due:
            q.result_enc, q.purged_at = None, utcnow()
            events.append(audit.AuditEvent("linkage.purge_result", q.atena_no, PURPOSE,
                                           {"inquiry_id": q.id, "permit_id": q.permit_id,
                                            "purge_after": q.purge_after.isoformat()}))
        old = s.execute(select(LinkageExchange.id).where(LinkageExchange.keep_until < today)).scalars().all()
        for i in range(0, len(old), 500):
            s.query(LinkageExchange).filter(LinkageExchange.id.in_(old[i:i + 500])).delete(synchronize_session=False)
        events.append(audit.AuditEvent("linkage.purge", None, PURPOSE,
                                       {"results": len(due), "exchange_records": len(old), "as_of": today.isoformat()}))
        audit.record_many(s, actor, events)
    return {"results": len(due), "exchange_records": len(old)}


def result_payload(db: Database, settings: Settings, *, actor: Actor, inquiry_id: int) -> dict | None:
    """The answer as received (until purged); the view is audited."""
    keys = load_keyring(settings)
    with db.transaction() as s:
        q = get_row(s, LinkageInquiry, inquiry_id)
        if q is None:
            raise NotFound("指定の照会はありません")
        access.check_visible(s, actor, q.atena_no, message="指定の照会はありません")
        audit.record(s, actor, "linkage.result_view", atena_no=q.atena_no, purpose=PURPOSE,
                     detail={"inquiry_id": q.id, "purged": q.result_enc is None})
        if q.result_enc is None:
            return None
        return json.loads(keys.decrypt(q.result_enc, aad=f"linkage_result:{q.id}"))


def body_card(settings: Settings) -> dict:
    """This body's public keys, for the hub's configuration file."""
    from sesshu.linkage.envelope import load_body_keys

    keys = load_body_keys(settings.resolved_key_dir)
    return {"body_id": settings.resolved_linkage_body_id, "name": settings.municipality_name,
            "sign_public": keys.sign_public, "hpke_public": keys.hpke_public}
