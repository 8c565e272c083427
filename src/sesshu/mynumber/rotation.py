"""Data-key rotation without downtime.

`rotate` adds data-key-(N+1) and re-encrypts every encrypted column in small committed batches.
The system keeps serving meanwhile: old keys stay loaded, so every row decrypts whichever key it
is on, and running servers pick the new key up for new values at their next `load_keyring` (the
key cache follows the key directory's mtime; see sesshu.keys). Re-running continues an interrupted
rotation: rows already on the newest key are skipped (the key id is byte 1 of the ciphertext), and a
rotation whose end is not on the audit log is finished rather than followed by another new key.

Every encrypted column is listed in ENCRYPTED_COLUMNS with the associated data its ciphertexts are
bound to; a test fails when a model gains an `*_enc` column that is not listed.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from itertools import count
from typing import Callable, Iterator

from sqlalchemy import Table, select, update

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.audit.models import AuditEntry
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.domain.errors import InvalidInput
from sesshu.jobs.crash import crash_point
from sesshu.keys import KeyRing, create_next_data_key, key_id, load_keyring
from sesshu.orm import load_all_models


@dataclass(frozen=True)
class EncryptedColumn:
    table: str
    column: str
    key: str  # single-column primary key, walked in order
    aad: Callable[[object], str]  # the row → the associated data its ciphertext is bound to
    aad_columns: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.table}.{self.column}"


ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn("person", "my_number_enc", "atena_no", lambda r: r.atena_no, ("atena_no",)),
    EncryptedColumn("staff_user", "totp_secret_enc", "id", lambda r: f"totp:{r.login_id}", ("login_id",)),
    EncryptedColumn("approval_request", "payload_enc", "id", lambda r: f"approval:{r.payload_ref}", ("payload_ref",)),
    EncryptedColumn("linkage_inquiry", "result_enc", "id", lambda r: f"linkage_result:{r.id}", ("id",)),
    EncryptedColumn("person_data_key", "key_enc", "atena_no", lambda r: f"person-key:{r.atena_no}", ("atena_no",)),
)


@dataclass
class RotationReport:
    key_id: int
    created: bool
    reencrypted: dict[str, int] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return not any(self.remaining.values())


def _table(name: str) -> Table:
    return load_all_models().tables[name]


def key_status(db: Database) -> dict[str, dict[int, int]]:
    """Rows per key id for every encrypted column (read in pages: no column is loaded whole)."""
    out: dict[str, dict[int, int]] = {}
    for col in ENCRYPTED_COLUMNS:
        counts: Counter[int] = Counter()
        for blob in _walk(db, col):
            counts[key_id(blob)] += 1
        out[col.label] = dict(sorted(counts.items()))
    return out


def _walk(db: Database, col: EncryptedColumn, batch: int = 2000):
    t = _table(col.table)
    pk, enc = t.c[col.key], t.c[col.column]
    last = None
    while True:
        q = select(pk, enc).where(enc.is_not(None)).order_by(pk).limit(batch)
        if last is not None:
            q = q.where(pk > last)
        with db.transaction() as s:
            rows = s.execute(q).all()
        if not rows:
            return
        for r in rows:
            yield r[1]
        last = rows[-1][0]


def _pending(db: Database, current: int) -> bool:
    return any(k != current for counts in key_status(db).values() for k in counts)


def _unfinished(db: Database, current: int) -> bool:
    """True if the rotation to this key began but its end was never recorded (the process died after
    its last batch): a re-run then finishes that rotation instead of starting another."""
    with db.transaction() as s:
        last = s.execute(select(AuditEntry.detail).where(AuditEntry.action == "keys.rotate")
                         .order_by(AuditEntry.seq.desc()).limit(1)).scalar_one_or_none()
    detail = json.loads(last) if last else {}
    return detail.get("key_id") == current and detail.get("phase") in ("start", "resume")


def rotate(db: Database, settings: Settings, *, actor: Actor, batch: int = 200,
           progress: Callable[[str, int], None] | None = None) -> RotationReport:
    """Create the next data key (unless a previous rotation is unfinished) and move every row to it."""
    if settings.mynumber_key:
        raise InvalidInput("暗号鍵が設定（SESSHU_MYNUMBER_KEY）から与えられているため、ここでは更新できません。"
                           "秘密情報の管理手順に従って鍵を追加してください")
    if batch < 1:
        raise InvalidInput("一度に処理する件数は1以上にしてください")
    current = load_keyring(settings).current_id
    created = not (_pending(db, current) or _unfinished(db, current))
    if created:
        current = create_next_data_key(settings.resolved_key_dir)
    keys = load_keyring(settings)
    if keys.current_id != current:
        raise RuntimeError("the new data key was not loaded")
    crash_point("key-created")
    with db.transaction() as s:
        audit.record(s, actor, "keys.rotate", purpose="暗号鍵の更新",
                     detail={"phase": "start" if created else "resume", "key_id": current})
    report = RotationReport(key_id=current, created=created)
    batches = count()  # numbers every batch transaction of this run, for the crash points
    # A server that had not yet reloaded its keys may write a row with the old key during a pass;
    # a second pass catches it.
    for _ in range(3):
        moved = 0
        for col in ENCRYPTED_COLUMNS:
            n = _reencrypt_column(db, keys, col, batch, progress, batches)
            report.reencrypted[col.label] = report.reencrypted.get(col.label, 0) + n
            moved += n
        if moved == 0:
            break
    status = key_status(db)
    report.remaining = {label: sum(n for k, n in counts.items() if k != current) for label, counts in status.items()}
    crash_point("finish")
    with db.transaction() as s:
        audit.record(s, actor, "keys.rotate", purpose="暗号鍵の更新",
                     detail={"phase": "done" if report.done else "incomplete", "key_id": current,
                             "reencrypted": report.reencrypted, "remaining": report.remaining})
    return report


def _reencrypt_column(db: Database, keys: KeyRing, col: EncryptedColumn, batch: int,
                      progress: Callable[[str, int], None] | None, batches: Iterator[int]) -> int:
    """Each batch is its own short transaction, so the server's writers wait at most one batch."""
    t = _table(col.table)
    pk, enc = t.c[col.key], t.c[col.column]
    moved, last = 0, None
    while True:
        with db.transaction() as s:
            q = (select(pk, enc, *(t.c[c] for c in col.aad_columns)).where(enc.is_not(None))
                 .order_by(pk).limit(batch))
            if last is not None:
                q = q.where(pk > last)
            rows = s.execute(q).all()
            if not rows:
                return moved
            for r in rows:
                blob = r._mapping[col.column]
                if key_id(blob) == keys.current_id:
                    continue
                aad = col.aad(r)
                fresh = keys.encrypt(keys.decrypt(blob, aad=aad), aad=aad)
                # Only if nobody changed the value meanwhile: a new value is already on a current key.
                done = s.execute(update(t).where(pk == r._mapping[col.key], enc == blob).values({col.column: fresh}))
                moved += done.rowcount
            last = rows[-1]._mapping[col.key]
            chunk_no = next(batches)
            crash_point(f"chunk:{chunk_no}", s)
        crash_point(f"commit:{chunk_no}")
        if progress is not None:
            progress(col.label, moved)
