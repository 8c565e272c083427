"""Audit log: every view, change, print and export, written in the caller's transaction.

Entries form a hash chain: entry_hash = SHA-256(prev_hash ‖ canonical JSON of the entry). The single
audit_head row is locked and updated with each append, which serialises writers and lets
verification notice entries removed from the end. The database refuses UPDATE and DELETE on
audit_entry (triggers from the initial migration).

Beside it runs a keyed chain (audit_mac): mac(n) = HMAC-SHA256(K, mac(n-1) ‖ entry_hash(n)), and the
head carries head_mac = HMAC(K, "head" ‖ last_seq ‖ last_hash ‖ mac(last)). K is a file in the key
directory (keys.load_audit_key), never in the database, and every session carries it (db.Database),
so no entry is written unsealed. Someone who can write the database but not read the key cannot
rewrite an entry and recompute the chain (the MACs no longer match), nor cut entries off the end and
move the head back (the head's MAC would have to be made anew). What remains: such an insider who
saved an earlier genuine head (seq, hash, MAC) can roll the log back to exactly that state — only the
signed daily checkpoints kept outside (audit.checkpoints) show that.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.audit.models import AuditEntry, AuditHead, AuditMac
from sesshu.clock import utc_iso
from sesshu.db import Database

GENESIS = "0" * 64
# json.dumps with options builds a new encoder on every call; verification hashes millions of entries.
_BODY = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def entry_hash(prev_hash: str, seq: int, occurred_at: str, actor: str, actor_kind: str,
               action: str, atena_no: str | None, purpose: str, detail: str) -> str:
    body = _BODY.encode([seq, occurred_at, actor, actor_kind, action, atena_no, purpose, detail])
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def entry_mac(key: bytes, prev_mac: str, entry_hash_: str) -> str:
    return hmac.new(key, f"{prev_mac}|{entry_hash_}".encode(), hashlib.sha256).hexdigest()


def genesis_mac(key: bytes) -> str:
    return hmac.new(key, b"sesshu-audit-genesis", hashlib.sha256).hexdigest()


def head_mac(key: bytes, last_seq: int, last_hash: str, last_mac: str) -> str:
    return hmac.new(key, f"head|{last_seq}|{last_hash}|{last_mac}".encode(), hashlib.sha256).hexdigest()


def _key(session: Session) -> bytes:
    key = session.info.get("audit_key")
    if not key:  # a session not opened by Database.transaction: never write an unsealed entry
        raise RuntimeError("the audit chain key is missing from this session (open it with Database.transaction)")
    return key


@dataclass(frozen=True)
class AuditEvent:
    action: str
    atena_no: str | None = None
    purpose: str = ""
    detail: dict | None = None


def record(session: Session, actor: Actor, action: str, *, atena_no: str | None = None,
           purpose: str = "", detail: dict | None = None) -> int:
    """Append one entry in the caller's transaction (never commits). Returns its sequence number."""
    return record_many(session, actor, [AuditEvent(action, atena_no, purpose, detail)])[-1]


def record_many(session: Session, actor: Actor, events: Iterable[AuditEvent]) -> list[int]:
    key = _key(session)
    head = session.execute(
        select(AuditHead.last_seq, AuditHead.last_hash).where(AuditHead.id == 1).with_for_update()
    ).one()
    seq, prev = head.last_seq, head.last_hash
    mac = _last_mac(session, key, seq)
    occurred_at = utc_iso()
    rows, macs, seqs = [], [], []
    for ev in events:
        seq += 1
        detail = json.dumps(ev.detail or {}, ensure_ascii=False, sort_keys=True, default=str)
        h = entry_hash(prev, seq, occurred_at, actor.label, actor.kind, ev.action, ev.atena_no, ev.purpose, detail)
        rows.append(dict(seq=seq, occurred_at=occurred_at, actor=actor.label, actor_kind=actor.kind,
                         action=ev.action, atena_no=ev.atena_no, purpose=ev.purpose, detail=detail,
                         prev_hash=prev, entry_hash=h))
        mac = entry_mac(key, mac, h)
        macs.append(dict(seq=seq, mac=mac))
        seqs.append(seq)
        prev = h
    if rows:
        session.execute(AuditEntry.__table__.insert(), rows)
        session.execute(AuditMac.__table__.insert(), macs)
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(
            last_seq=seq, last_hash=prev, last_mac=head_mac(key, seq, prev, mac)))
    return seqs


def _last_mac(session: Session, key: bytes, last_seq: int) -> str:
    if last_seq == 0:
        return genesis_mac(key)
    mac = session.execute(select(AuditMac.mac).where(AuditMac.seq == last_seq)).scalar()
    if mac is None:
        raise RuntimeError("the audit chain is not sealed: run `sesshu db upgrade` with the key directory")
    return mac


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    problems: list[str]


def verify_chain(db: Database, *, actor: Actor, batch: int = 10000) -> VerifyResult:
    """Walk the whole chain; report (in Japanese) every entry that was edited, removed or reordered."""
    with db.transaction() as s:
        count, problems = walk_chain(s, batch=batch)
        record(s, actor, "audit.verify", detail={"entries": count, "ok": not problems, "problems": len(problems)})
    return VerifyResult(ok=not problems, entries=count, problems=problems)


def walk_chain(s: Session, *, batch: int = 10000) -> tuple[int, list[str]]:
    """(entries read, problems) for the chain from the genesis to audit_head, in the caller's transaction.

    With the session's audit key (any session of Database.transaction) the keyed chain is checked too;
    a session without it (a backup file opened on its own) checks the hash chain only."""
    key = s.info.get("audit_key")
    problems: list[str] = []
    count = 0
    prev, expected_seq, last = GENESIS, 1, 0
    mac = genesis_mac(key) if key else ""
    head = s.execute(select(AuditHead)).scalar_one()
    columns = (AuditEntry.seq, AuditEntry.occurred_at, AuditEntry.actor, AuditEntry.actor_kind, AuditEntry.action,
               AuditEntry.atena_no, AuditEntry.purpose, AuditEntry.detail, AuditEntry.prev_hash, AuditEntry.entry_hash,
               AuditMac.mac)
    while True:
        # Plain tuples, not ORM objects: a million entries verify in seconds.
        chunk = s.execute(select(*columns).outerjoin(AuditMac, AuditMac.seq == AuditEntry.seq)
                          .where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)).all()
        if not chunk:
            break
        for seq, occurred_at, who, kind, action, atena_no, purpose, detail, prev_hash, stored, stored_mac in chunk:
            count += 1
            if seq != expected_seq:
                problems.append(f"連番{expected_seq}〜{seq - 1}の記録が欠落しています（削除の疑い）")
            if prev_hash != prev:
                problems.append(f"連番{seq}: 直前の記録とのつながりが一致しません（削除・並べ替えの疑い）")
            if entry_hash(prev_hash, seq, occurred_at, who, kind, action, atena_no, purpose, detail) != stored:
                problems.append(f"連番{seq}: 記録の内容がハッシュと一致しません（改ざんの疑い）")
            if key:
                mac = entry_mac(key, mac, stored)
                if stored_mac != mac:
                    problems.append(f"連番{seq}: 記録が鍵付きの連鎖と一致しません（書き換え・作り直しの疑い）")
                    mac = stored_mac or mac  # report each broken entry once, not every entry after it
            prev, expected_seq, last = stored, seq + 1, seq
    if head.last_seq != last or head.last_hash != prev:
        problems.append(f"末尾の記録が管理情報と一致しません（管理情報: 連番{head.last_seq}、実際: 連番{last}）")
    elif key and last and head.last_mac != head_mac(key, last, prev, mac):
        problems.append(f"管理情報（連番{head.last_seq}）が鍵付きの署名と一致しません（末尾の削除・巻き戻しの疑い）")
    return count, problems
