"""The hub's use cases: check every signed message, apply the permit list, link 符号, relay sealed answers.

Each function owns its transaction. A refused message is logged in hub_event in a transaction of
its own (the refused change is rolled back, the refusal is kept). The hub never sees a payload in
clear: answers arrive HPKE-sealed for the requester and are stored only until the requester
acknowledges them.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from sesshu.db import Database
from sesshu.hub.models import HubBody, HubCode, HubEvent, HubPermit, HubPermitRule, HubTransfer
from sesshu.linkage.envelope import (
    BodyKeys,
    EnvelopeError,
    b64,
    canonical,
    check_fresh,
    check_shape,
    utc_stamp,
    verify_signature,
)
from sesshu.linkage.models import LinkageNonce
from sesshu.linkage.rules import load_rules

HUB_ID = "hub"


class HubRefusal(EnvelopeError):
    def __init__(self, reason: str, code: str, status: int = 403):
        super().__init__(reason, code)
        self.status = status


@dataclass(frozen=True)
class HubContext:
    db: Database
    keys: BodyKeys
    max_skew_seconds: int = 300


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _naive(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc).replace(tzinfo=None)


def load_config(db: Database, path: Path) -> tuple[int, int]:
    """Bodies and the 照会許可用照合リスト from the hub's YAML file: the file is the source of truth."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    bodies, rules = data.get("bodies") or [], data.get("permits") or []
    with db.transaction() as s:
        s.execute(delete(HubBody))
        s.execute(delete(HubPermitRule))
        for b in bodies:
            s.add(HubBody(body_id=str(b["body_id"]), name=str(b["name"]), sign_public=b["sign_public"],
                          hpke_public=b["hpke_public"]))
        for r in rules:
            s.add(HubPermitRule(requester=str(r["requester"]), task=r["task"], provider=str(r["provider"]),
                                info=r["info"], legal_basis=r.get("legal_basis", "")))
        s.add(HubEvent(occurred_at=_naive(_now()), kind="config", outcome="ok",
                       detail=f"bodies={len(bodies)} permits={len(rules)}"))
    return len(bodies), len(rules)


def directory(ctx: HubContext) -> dict:
    with ctx.db.transaction() as s:
        bodies = s.execute(select(HubBody).order_by(HubBody.body_id)).scalars().all()
        return {"hub": {"body_id": HUB_ID, "sign_public": ctx.keys.sign_public},
                "bodies": [{"body_id": b.body_id, "name": b.name, "sign_public": b.sign_public,
                            "hpke_public": b.hpke_public} for b in bodies]}


def _log(ctx: HubContext, kind: str, sender: str, outcome: str, permit_id: str = "", detail: str = "") -> None:
    with ctx.db.transaction() as s:
        s.add(HubEvent(occurred_at=_naive(_now()), kind=kind, sender=sender[:20], outcome=outcome,
                       permit_id=permit_id, detail=detail[:400]))


def _accept(s, ctx: HubContext, env, kind: str) -> HubBody:
    """Shape, sender, signature, freshness and nonce — in this order, so a forged message burns no nonce."""
    check_shape(env, kind=kind)
    if env["to"] != HUB_ID:
        raise HubRefusal("宛先が中継機能ではありません", "E_FORMAT", 400)
    sender = s.get(HubBody, env["from"])
    if sender is None:
        raise HubRefusal("送信元の団体は登録されていません", "E_UNKNOWN_BODY", 403)
    verify_signature(env, sender.sign_public)
    check_fresh(env, now=_now(), max_skew_seconds=ctx.max_skew_seconds)
    if s.get(LinkageNonce, env["nonce"]) is not None:
        raise HubRefusal("同じ電文が既に受け付けられています（リプレイ）", "E_REPLAY", 409)
    s.add(LinkageNonce(nonce=env["nonce"], sender=sender.body_id, seen_at=_naive(_now())))
    s.flush()
    return sender


def handle(ctx: HubContext, kind: str, env) -> dict:
    """One signed message from a body; returns the JSON answer or raises EnvelopeError/HubRefusal."""
    handler = _HANDLERS[kind]
    sender = env.get("from", "") if isinstance(env, dict) else ""
    try:
        with ctx.db.transaction() as s:
            body = _accept(s, ctx, env, kind)
            result, permit_id, detail = handler(s, ctx, body, env["body"])
            s.add(HubEvent(occurred_at=_naive(_now()), kind=kind, sender=body.body_id, outcome="ok",
                           permit_id=permit_id, detail=detail))
            return result
    except IntegrityError:
        _log(ctx, kind, str(sender), "refused", detail="E_REPLAY")
        raise HubRefusal("同じ電文が既に受け付けられています（リプレイ）", "E_REPLAY", 409) from None
    except EnvelopeError as e:
        _log(ctx, kind, str(sender), "refused", detail=f"{e.code} {e.reason}")
        raise


def _fugo(body: dict, key: str = "fugo") -> str:
    value = body.get(key)
    if not isinstance(value, str) or len(value) != 32 or not all(c in "0123456789abcdef" for c in value):
        raise HubRefusal("符号の形式が正しくありません", "E_FORMAT", 400)
    return value


def _code(s, body_id: str, fugo: str, *, create: bool) -> HubCode | None:
    row = s.execute(select(HubCode).where(HubCode.body_id == body_id, HubCode.fugo == fugo)).scalar_one_or_none()
    if row is None and create:
        row = HubCode(body_id=body_id, fugo=fugo, person_key=secrets.token_hex(16), has_copies=0,
                      registered_at=_naive(_now()))
        s.add(row)
        s.flush()
    return row


def _codes(s, ctx, sender: HubBody, body: dict):
    """Publication of a 副本 batch: these 符号 now have copies at the sender."""
    fugos = body.get("fugos")
    if not isinstance(fugos, list) or len(fugos) > 100000:
        raise HubRefusal("符号の一覧が正しくありません", "E_FORMAT", 400)
    for f in fugos:
        _code(s, sender.body_id, _fugo({"fugo": f}), create=True).has_copies = 1
    return {"registered": len(fugos)}, "", f"codes={len(fugos)}"


def _transfer_hash(code: str) -> str:
    return hashlib.sha256(f"sesshu-transfer:{code}".encode()).hexdigest()


def _move_out(s, ctx, sender: HubBody, body: dict):
    """転出: the former body announces the person's 符号 and receives a one-time transfer code that
    travels with the 転出証明書 / 転入通知 (住基ネット) to the new body. Only its hash is stored."""
    fugo = _fugo(body)
    _code(s, sender.body_id, fugo, create=True)
    code = secrets.token_hex(10)
    days = load_rules().transfer_code_days
    s.add(HubTransfer(code_hash=_transfer_hash(code), body_id=sender.body_id, fugo=fugo,
                      created_at=_naive(_now()), expires_at=_naive(_now() + timedelta(days=days))))
    return {"transfer_code": code, "expires_in_days": days}, "", "transfer code issued"


def _move_in(s, ctx, sender: HubBody, body: dict):
    """転入: the new body presents the transfer code with its own 符号; the hub links the two 符号."""
    fugo = _fugo(body)
    code = body.get("transfer_code")
    if not isinstance(code, str) or len(code) > 64:
        raise HubRefusal("移転照合コードの形式が正しくありません", "E_FORMAT", 400)
    t = s.get(HubTransfer, _transfer_hash(code.strip().lower()), with_for_update=True)
    if t is None or t.used_at is not None or t.expires_at < _naive(_now()):
        raise HubRefusal("移転照合コードが無効です（使用済み・期限切れ・誤り）", "E_TRANSFER", 404)
    if t.body_id == sender.body_id:
        raise HubRefusal("転出元と転入先が同じ団体です", "E_TRANSFER", 400)
    former = _code(s, t.body_id, t.fugo, create=True)
    mine = _code(s, sender.body_id, fugo, create=False)
    if mine is None:
        s.add(HubCode(body_id=sender.body_id, fugo=fugo, person_key=former.person_key, has_copies=0,
                      registered_at=_naive(_now())))
    elif mine.person_key != former.person_key:
        # Every 符号 already linked to the new body's code now shares the former body's person key.
        for row in s.execute(select(HubCode).where(HubCode.person_key == mine.person_key)).scalars():
            row.person_key = former.person_key
    t.used_at, t.used_by = _naive(_now()), sender.body_id
    return {"linked_to": t.body_id}, "", f"linked to {t.body_id}"


def _sign_permit(ctx: HubContext, permit: dict) -> dict:
    return dict(permit, hub_sig=b64(ctx.keys.sign.sign(canonical(permit))))


def _inquiry(s, ctx, sender: HubBody, body: dict):
    task, info, provider = body.get("task"), body.get("info"), body.get("provider")
    fugo = _fugo(body)
    if not all(isinstance(v, str) for v in (task, info, provider)):
        raise HubRefusal("照会の項目が正しくありません", "E_FORMAT", 400)
    rule = s.execute(select(HubPermitRule.id).where(
        HubPermitRule.requester == sender.body_id, HubPermitRule.task == task, HubPermitRule.provider == provider,
        HubPermitRule.info == info)).first()
    if rule is None:
        raise HubRefusal("照会許可用照合リストにない照会です（照会者・事務・提供者・情報の組合せが許可されていません）",
                         "E_NOT_PERMITTED", 403)
    mine = _code(s, sender.body_id, fugo, create=False)
    theirs = None
    if mine is not None:
        theirs = s.execute(select(HubCode).where(HubCode.person_key == mine.person_key,
                                                 HubCode.body_id == provider)).scalar_one_or_none()
    if theirs is None:
        raise HubRefusal("提供者側にこの方の符号がありません（転入による紐付けが未登録です）", "E_NO_LINK", 404)
    now = _now()
    permit = {"permit_id": "P" + secrets.token_hex(12), "requester": sender.body_id, "provider": provider,
              "task": task, "info": info, "issued_at": utc_stamp(now),
              "expires_at": utc_stamp(now + timedelta(hours=load_rules().permit_valid_hours))}
    s.add(HubPermit(permit_id=permit["permit_id"], requester=sender.body_id, provider=provider, task=task,
                    info=info, provider_fugo=theirs.fugo, status="issued", issued_at=_naive(now),
                    expires_at=_naive(now + timedelta(hours=load_rules().permit_valid_hours))))
    return {"permit": _sign_permit(ctx, permit)}, permit["permit_id"], f"{sender.body_id}->{provider} {task}/{info}"


def _poll(s, ctx, sender: HubBody, body: dict):
    """A body's mailbox: permits it must answer (with its own 符号 of the person) and sealed answers for it."""
    now = _naive(_now())
    # A nonce older than twice the allowed skew can never be replayed (its timestamp is refused first).
    s.execute(delete(LinkageNonce).where(LinkageNonce.seen_at < now - timedelta(seconds=2 * ctx.max_skew_seconds)))
    to_answer = []
    for p in s.execute(select(HubPermit).where(HubPermit.provider == sender.body_id,
                                               HubPermit.status == "issued", HubPermit.expires_at > now)
                       .order_by(HubPermit.issued_at).limit(100)).scalars():
        requester = s.get(HubBody, p.requester)
        permit = {"permit_id": p.permit_id, "requester": p.requester, "provider": p.provider, "task": p.task,
                  "info": p.info, "fugo": p.provider_fugo, "issued_at": utc_stamp(p.issued_at.replace(
                      tzinfo=timezone.utc))}
        to_answer.append({"permit": _sign_permit(ctx, permit), "requester_hpke_public": requester.hpke_public,
                          "requester_name": requester.name})
    answers = [json.loads(p.answer) for p in s.execute(
        select(HubPermit).where(HubPermit.requester == sender.body_id, HubPermit.status == "answered")
        .order_by(HubPermit.answered_at).limit(100)).scalars()]
    return {"permits": to_answer, "answers": answers}, "", f"permits={len(to_answer)} answers={len(answers)}"


def _answer(s, ctx, sender: HubBody, body: dict):
    """The provider's answer: a signed envelope around an HPKE ciphertext; stored for the requester."""
    inner = body.get("envelope")
    check_shape(inner, kind="answer")
    if inner["from"] != sender.body_id:
        raise HubRefusal("回答の送信元が一致しません", "E_FORMAT", 400)
    verify_signature(inner, sender.sign_public)
    permit_id = inner["body"].get("permit_id")
    p = s.get(HubPermit, permit_id, with_for_update=True) if isinstance(permit_id, str) else None
    if p is None or p.provider != sender.body_id or inner["to"] != p.requester:
        raise HubRefusal("提供許可証がありません（許可されていない提供）", "E_NO_PERMIT", 403)
    if p.status != "issued":
        raise HubRefusal("この提供許可証には既に回答があります", "E_REPLAY", 409)
    if p.expires_at < _naive(_now()):
        raise HubRefusal("提供許可証の有効期限が切れています", "E_EXPIRED", 403)
    p.answer = json.dumps(inner, ensure_ascii=False)
    p.status, p.answered_at = "answered", _naive(_now())
    return {"accepted": permit_id}, permit_id, f"{sender.body_id}->{p.requester}"


def _ack(s, ctx, sender: HubBody, body: dict):
    """The requester took its answers: the ciphertext is deleted from the hub."""
    ids = body.get("permit_ids")
    if not isinstance(ids, list):
        raise HubRefusal("受領の一覧が正しくありません", "E_FORMAT", 400)
    done = 0
    for pid in ids:
        p = s.get(HubPermit, pid) if isinstance(pid, str) else None
        if p is not None and p.requester == sender.body_id and p.status == "answered":
            p.status, p.answer, p.delivered_at = "delivered", None, _naive(_now())
            done += 1
    return {"acknowledged": done}, "", f"ack={done}"


_HANDLERS = {"codes": _codes, "move_out": _move_out, "move_in": _move_in, "inquiry": _inquiry, "poll": _poll,
             "answer": _answer, "ack": _ack}
KINDS = tuple(_HANDLERS)
