"""Sealing a person's 個人番号 with their own data key (crypto-shredding at erasure).

Two layers: the number is encrypted with the person's random 32-byte key (AES-256-GCM, bound to the
宛名番号), and that ciphertext is then encrypted with the master data key exactly like before
(sesshu.keys). The outer layer keeps key rotation unchanged; the inner layer is what erasure destroys:
once the person_data_key row is deleted, no key anywhere opens the inner ciphertext.

Values written before this layer existed (outer layer only) still open; erasure deletes them with the
row (see docs/retention.md for what that means for old backups).
"""
from __future__ import annotations

import base64
import os
from typing import Iterable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.bulk import bulk_insert
from sesshu.clock import utcnow
from sesshu.keys import KeyRing
from sesshu.retention.models import PersonDataKey

_INNER = "pk1:"


def key_aad(atena_no: str) -> str:
    return f"person-key:{atena_no}"


def _unwrap(keys: KeyRing, atena_no: str, key_enc: bytes) -> bytes:
    return base64.b64decode(keys.decrypt(key_enc, aad=key_aad(atena_no)))


def _seal_with(keys: KeyRing, dek: bytes, atena_no: str, number: str) -> bytes:
    nonce = os.urandom(12)
    inner = nonce + AESGCM(dek).encrypt(nonce, number.encode(), atena_no.encode())
    return keys.encrypt(_INNER + base64.b64encode(inner).decode(), aad=atena_no)


def person_keys(s: Session, keys: KeyRing, atena_nos: Iterable[str]) -> dict[str, bytes]:
    """The persons' data keys (existing ones unwrapped; missing ones created and inserted now)."""
    wanted = sorted(set(atena_nos))
    found: dict[str, bytes] = {}
    for i in range(0, len(wanted), 500):
        part = wanted[i:i + 500]
        for a, enc in s.execute(select(PersonDataKey.atena_no, PersonDataKey.key_enc)
                                .where(PersonDataKey.atena_no.in_(part))).all():
            found[a] = _unwrap(keys, a, enc)
    now = utcnow()
    new_rows = []
    for a in wanted:
        if a not in found:
            found[a] = os.urandom(32)
            new_rows.append({"atena_no": a, "key_enc": keys.encrypt(base64.b64encode(found[a]).decode(),
                                                                    aad=key_aad(a)), "created_at": now})
    if new_rows:
        bulk_insert(s, PersonDataKey.__table__, new_rows, ("atena_no", "key_enc", "created_at"))
    return found


def seal_new(keys: KeyRing, numbers: dict[str, str]) -> tuple[dict[str, bytes], list[dict]]:
    """For persons known to have no key yet (bulk loads): the ciphertexts and the key rows to insert."""
    now = utcnow()
    blobs, rows = {}, []
    for a, n in numbers.items():
        dek = os.urandom(32)
        rows.append({"atena_no": a, "key_enc": keys.encrypt(base64.b64encode(dek).decode(), aad=key_aad(a)),
                     "created_at": now})
        blobs[a] = _seal_with(keys, dek, a, n)
    return blobs, rows


def insert_key_rows(s: Session, rows: list[dict]) -> None:
    if rows:
        bulk_insert(s, PersonDataKey.__table__, rows, ("atena_no", "key_enc", "created_at"))
        rows.clear()


def seal_numbers(s: Session, keys: KeyRing, numbers: dict[str, str]) -> dict[str, bytes]:
    """{宛名番号: 個人番号} → {宛名番号: ciphertext for person.my_number_enc}, creating keys as needed."""
    deks = person_keys(s, keys, numbers)
    return {a: _seal_with(keys, deks[a], a, n) for a, n in numbers.items()}


def seal_number(s: Session, keys: KeyRing, atena_no: str, number: str) -> bytes:
    return seal_numbers(s, keys, {atena_no: number})[atena_no]


def open_number(s: Session, keys: KeyRing, atena_no: str, blob: bytes) -> str:
    """The 個人番号 from person.my_number_enc. Raises ValueError once the person's key is destroyed."""
    outer = keys.decrypt(blob, aad=atena_no)
    if not outer.startswith(_INNER):
        return outer  # written before per-person keys existed
    enc = s.execute(select(PersonDataKey.key_enc).where(PersonDataKey.atena_no == atena_no)).scalar()
    if enc is None:
        raise ValueError("the person's data key was destroyed")
    inner = base64.b64decode(outer[len(_INNER):])
    return AESGCM(_unwrap(keys, atena_no, enc)).decrypt(inner[:12], inner[12:], atena_no.encode()).decode()
