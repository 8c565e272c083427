"""Signed daily checkpoints of the audit chain (Ed25519).

The hash chain alone shows that entries fit together; someone with write access to the database can
still rewrite the whole chain consistently (and audit_head with it). A checkpoint states, for one
JST day, the last sequence number, that entry's hash and the day's entry count, signed with a key
kept outside the database. Each checkpoint is also written as a self-contained JSON file that can
be handed to an outside party (監査人, 情報政策課), who checks it later against the public key
given to them (`sesshu audit pubkey`). A rewritten chain then no longer matches the checkpoints.

Signed bytes: the payload object as JSON with sorted keys, no spaces, UTF-8.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.audit.models import AuditCheckpoint, AuditEntry, AuditHead
from sesshu.audit.periods import day_range, days, jst
from sesshu.audit.service import GENESIS, record, walk_chain
from sesshu.clock import today_jst, utc_iso
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.domain.errors import InvalidInput, NotFound

FORMAT = "sesshu-audit-checkpoint/1"
KEY_FILE = "audit-signing-ed25519.pem"
NOTE = ("payload をキーの昇順・空白なしのJSON（UTF-8）にしたバイト列に対する Ed25519 署名です。"
        "公開鍵（sesshu audit pubkey）の SHA-256 指紋が public_key_fingerprint と一致することを確認してください。")


# --- keys -------------------------------------------------------------------------------------------

def fingerprint(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as e:
        raise InvalidInput("公開鍵をPEM形式として読み取れません") from e
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput("Ed25519 の公開鍵ではありません")
    return key


def signing_key(settings: Settings, *, create: bool = True) -> Ed25519PrivateKey | None:
    """The checkpoint signing key: from the setting, else the key file (created 0600 on first use)."""
    if settings.audit_signing_key:
        try:
            raw = base64.b64decode(settings.audit_signing_key, validate=True)
            return Ed25519PrivateKey.from_private_bytes(raw)
        except ValueError as e:
            raise InvalidInput("設定 audit_signing_key は32バイトの鍵をBase64で指定してください") from e
    path = settings.resolved_key_dir / KEY_FILE
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidInput(f"{path} は Ed25519 の秘密鍵ではありません")
        return key
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return signing_key(settings, create=False)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


def signer_public_key(settings: Settings) -> Ed25519PublicKey:
    """The public key to hand to outside parties (creates the signing key if there is none yet)."""
    return signing_key(settings).public_key()


# --- payloads ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    municipality_code: str
    day: date
    last_seq: int
    entry_hash: str
    entry_count: int
    created_at: str
    key_id: str
    signature: str = ""

    def payload(self) -> dict:
        return {"format": FORMAT, "municipality_code": self.municipality_code, "date": self.day.isoformat(),
                "last_seq": self.last_seq, "entry_hash": self.entry_hash, "entry_count": self.entry_count,
                "created_at": self.created_at, "key_id": self.key_id}

    def document(self) -> dict:
        """The self-contained file handed to an outside party."""
        return {"payload": self.payload(), "algorithm": "Ed25519", "signature": self.signature,
                "public_key_fingerprint": self.key_id, "note": NOTE}

    @classmethod
    def from_row(cls, row: AuditCheckpoint) -> "Checkpoint":
        return cls(municipality_code=row.municipality_code, day=row.day, last_seq=row.last_seq,
                   entry_hash=row.entry_hash, entry_count=row.entry_count, created_at=row.created_at,
                   key_id=row.key_id, signature=row.signature)

    @classmethod
    def from_document(cls, doc: dict) -> "Checkpoint":
        p = doc["payload"]
        if p.get("format") != FORMAT:
            raise ValueError(f"形式が {FORMAT} ではありません")
        return cls(municipality_code=str(p["municipality_code"]), day=date.fromisoformat(p["date"]),
                   last_seq=int(p["last_seq"]), entry_hash=str(p["entry_hash"]), entry_count=int(p["entry_count"]),
                   created_at=str(p["created_at"]), key_id=str(p["key_id"]), signature=str(doc["signature"]))


def canonical(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def signature_valid(cp: Checkpoint, key: Ed25519PublicKey) -> bool:
    try:
        key.verify(base64.b64decode(cp.signature, validate=True), canonical(cp.payload()))
        return True
    except (InvalidSignature, ValueError):
        return False


# --- the chain's state at the end of a day ----------------------------------------------------------

@dataclass(frozen=True)
class DayState:
    last_seq: int
    entry_hash: str
    entry_count: int


def day_state(s: Session, day: date) -> DayState:
    """Last entry written before the day ended (JST), its hash, and how many entries the day has."""
    start, end = day_range(day)
    last_at = s.execute(select(func.max(AuditEntry.occurred_at)).where(AuditEntry.occurred_at < end)).scalar()
    count = s.execute(select(func.count()).select_from(AuditEntry)
                      .where(AuditEntry.occurred_at >= start, AuditEntry.occurred_at < end)).scalar_one()
    if last_at is None:
        return DayState(0, GENESIS, count)
    seq = s.execute(select(func.max(AuditEntry.seq)).where(AuditEntry.occurred_at == last_at)).scalar_one()
    h = s.execute(select(AuditEntry.entry_hash).where(AuditEntry.seq == seq)).scalar_one()
    return DayState(seq, h, count)


# --- creating ---------------------------------------------------------------------------------------

@dataclass
class CheckpointRun:
    created: list[Checkpoint]
    files: list[Path]
    already: int


def checkpoint_dir(settings: Settings) -> Path:
    return Path(settings.audit_checkpoint_dir) if settings.audit_checkpoint_dir else settings.var_dir / "audit-checkpoints"


def file_name(cp: Checkpoint) -> str:
    return f"audit-checkpoint_{cp.municipality_code}_{cp.day.isoformat()}.json"


def create_checkpoints(db: Database, settings: Settings, *, actor: Actor, day: date | None = None,
                       today: date | None = None) -> CheckpointRun:
    """Sign every finished day not yet checkpointed (or just `day`). Running it again changes nothing."""
    today = today or today_jst()
    if day is not None and day >= today:
        raise InvalidInput("チェックポイントは前日以前の日付についてのみ作成できます（当日の記録はまだ増えるため）")
    key = signing_key(settings)
    key_id = fingerprint(key.public_key())
    code = settings.municipality_code
    created: list[Checkpoint] = []
    with db.transaction() as s:
        # Lock the head: a writer that took its timestamp before midnight commits before we read the day.
        s.execute(select(AuditHead.last_seq).where(AuditHead.id == 1).with_for_update()).one()
        done = set(s.execute(select(AuditCheckpoint.day).where(AuditCheckpoint.municipality_code == code)).scalars())
        if day is not None:
            wanted = [] if day in done else [day]
        else:
            first_at = s.execute(select(AuditEntry.occurred_at).where(AuditEntry.seq == 1)).scalar()
            known = list(done) + ([jst(first_at).date()] if first_at else [])
            first_day = min(known) if known else today
            wanted = [d for d in days(first_day, today - timedelta(days=1)) if d not in done]
        for d in wanted:
            state = day_state(s, d)
            unsigned = Checkpoint(municipality_code=code, day=d, last_seq=state.last_seq, entry_hash=state.entry_hash,
                                  entry_count=state.entry_count, created_at=utc_iso(), key_id=key_id)
            signature = base64.b64encode(key.sign(canonical(unsigned.payload()))).decode()
            cp = Checkpoint(**{**unsigned.__dict__, "signature": signature})
            s.add(AuditCheckpoint(municipality_code=code, day=d, last_seq=cp.last_seq, entry_hash=cp.entry_hash,
                                  entry_count=cp.entry_count, created_at=cp.created_at, key_id=key_id,
                                  signature=signature))
            created.append(cp)
        if created:
            record(s, actor, "audit.checkpoint", purpose="操作記録のチェックポイント作成",
                   detail={"days": [c.day.isoformat() for c in created], "last_seq": created[-1].last_seq,
                           "key_id": key_id})
    files = write_missing_files(db, settings)
    return CheckpointRun(created=created, files=files, already=len(done))


def write_missing_files(db: Database, settings: Settings) -> list[Path]:
    """Write the hand-over file of every checkpoint that has none yet (an existing file is never replaced)."""
    out = checkpoint_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for cp in list_checkpoints(db, settings):
        path = out / file_name(cp)
        if path.exists():
            continue
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cp.document(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written


def list_checkpoints(db: Database, settings: Settings) -> list[Checkpoint]:
    with db.transaction() as s:
        rows = s.execute(select(AuditCheckpoint).where(AuditCheckpoint.municipality_code == settings.municipality_code)
                         .order_by(AuditCheckpoint.day)).scalars().all()
        return [Checkpoint.from_row(r) for r in rows]


def viewed_checkpoints(db: Database, settings: Settings, *, actor: Actor) -> list[Checkpoint]:
    """The checkpoint list as shown to a reviewer; looking at it is on record."""
    with db.transaction() as s:
        rows = s.execute(select(AuditCheckpoint).where(AuditCheckpoint.municipality_code == settings.municipality_code)
                         .order_by(AuditCheckpoint.day.desc())).scalars().all()
        record(s, actor, "audit.view", purpose="操作記録のチェックポイントの確認",
               detail={"view": "checkpoints", "rows": len(rows)})
        return [Checkpoint.from_row(r) for r in rows]


def checkpoint_document(db: Database, settings: Settings, *, actor: Actor, day: date) -> dict:
    """One checkpoint's hand-over document (for download); the download is on record."""
    with db.transaction() as s:
        row = s.execute(select(AuditCheckpoint).where(AuditCheckpoint.municipality_code == settings.municipality_code,
                                                      AuditCheckpoint.day == day)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"{day.isoformat()} のチェックポイントはありません")
        record(s, actor, "audit.view", purpose="操作記録のチェックポイントの取得",
               detail={"view": "checkpoint_file", "date": day.isoformat()})
        return Checkpoint.from_row(row).document()


# --- verifying --------------------------------------------------------------------------------------

@dataclass
class VerifyReport:
    entries: int
    checkpoints: int
    files: int
    problems: list[str] = field(default_factory=list)
    latest_checkpoint: date | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_log(db: Database, settings: Settings, *, actor: Actor, files_dir: Path | None = None,
               public_key_pem: str | None = None) -> VerifyReport:
    """Check the chain, then every checkpoint in the table (and every handed-over file in `files_dir`)
    against it. Files are checked against `public_key_pem` when given (the outside party's copy),
    otherwise against this installation's key. The verification itself is on record."""
    given = load_public_key(public_key_pem) if public_key_pem else None
    own = signing_key(settings, create=False)
    table_keys = {fingerprint(k): k for k in (own.public_key() if own else None, given) if k is not None}
    file_keys = {fingerprint(given): given} if given else table_keys
    if files_dir is not None and not files_dir.is_dir():
        raise InvalidInput(f"チェックポイントのフォルダが見つかりません: {files_dir}")
    code = settings.municipality_code
    with db.transaction() as s:
        count, problems = walk_chain(s)
        rows = s.execute(select(AuditCheckpoint).where(AuditCheckpoint.municipality_code == code)
                         .order_by(AuditCheckpoint.day)).scalars().all()
        by_day = {r.day: Checkpoint.from_row(r) for r in rows}
        for cp in by_day.values():
            problems += _check(s, cp, table_keys, f"チェックポイント {cp.day.isoformat()}")
        n_files = 0
        for path in sorted(files_dir.glob("*.json")) if files_dir else ():
            n_files += 1
            label = f"ファイル {path.name}"
            try:
                cp = Checkpoint.from_document(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                problems.append(f"{label}: チェックポイントとして読み取れません（{e}）")
                continue
            if cp.municipality_code != code:
                problems.append(f"{label}: 別の団体（{cp.municipality_code}）のチェックポイントです")
                continue
            found = _check(s, cp, file_keys, label)
            problems += found
            stored = by_day.get(cp.day)
            if stored is None:
                problems.append(f"{label}: 対応するチェックポイントがデータベースにありません（削除の疑い）")
            elif not found and stored != cp:
                problems.append(f"{label}: データベースのチェックポイントと内容が異なります（改ざんの疑い）")
        report = VerifyReport(entries=count, checkpoints=len(rows), files=n_files, problems=problems,
                              latest_checkpoint=rows[-1].day if rows else None)
        record(s, actor, "audit.verify", purpose="操作記録の検証",
               detail={"entries": count, "checkpoints": len(rows), "files": n_files, "ok": report.ok,
                       "problems": len(problems)})
    return report


def _check(s: Session, cp: Checkpoint, keys: dict[str, Ed25519PublicKey], label: str) -> list[str]:
    key = keys.get(cp.key_id)
    if key is None:
        return [f"{label}: 署名した鍵（指紋 {cp.key_id[:16]}…）を確認できません（既知の公開鍵と異なります）"]
    if not signature_valid(cp, key):
        return [f"{label}: 署名が正しくありません（チェックポイントの改ざんの疑い）"]
    problems = []
    if cp.last_seq > 0:
        stored = s.execute(select(AuditEntry.entry_hash).where(AuditEntry.seq == cp.last_seq)).scalar()
        if stored is None:
            problems.append(f"{label}: 連番{cp.last_seq}の記録がありません（記録の削除の疑い）")
        elif stored != cp.entry_hash:
            problems.append(f"{label}: 連番{cp.last_seq}の記録のハッシュが署名済みの値と一致しません（記録の書き換えの疑い）")
    now = day_state(s, cp.day)
    if now.entry_count != cp.entry_count:
        problems.append(f"{label}: この日の記録件数が署名時と異なります（署名時 {cp.entry_count}件、現在 {now.entry_count}件）")
    if not problems and now.last_seq != cp.last_seq:
        problems.append(f"{label}: この日の最後の記録が署名時と異なります（署名時 連番{cp.last_seq}、現在 連番{now.last_seq}）")
    return problems
