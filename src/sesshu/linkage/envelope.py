"""Signed envelopes and HPKE sealing, shared by the cities and the hub (no database, no web).

An envelope is a JSON object: {"v": 1, "type", "from", "to", "ts", "nonce", "body", "sig"}.
`sig` is Ed25519 over the canonical JSON (sorted keys, no spaces, UTF-8) of every other field, so
any change to any field — a tampered body, another recipient, a later timestamp — breaks it.
Answers carry an HPKE (RFC 9180, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, base mode)
ciphertext sealed for the receiving body's public key; the hub relays it without being able to open
it. The HPKE associated data is the permit id and both body codes, so a ciphertext cannot be moved
to another permit.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from pyhpke import AEADId, CipherSuite, KDFId, KEMId, KEMKey

VERSION = 1
HPKE_INFO = b"sesshu-linkage/1 answer"
_SUITE = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.AES256_GCM)
SIGN_FILE = "linkage-sign-ed25519.pem"
HPKE_FILE = "linkage-hpke-x25519.pem"


class EnvelopeError(Exception):
    """A message that must be refused; `reason` is Japanese and safe to show and log."""

    def __init__(self, reason: str, code: str = "E_ENVELOPE"):
        super().__init__(reason)
        self.reason = reason
        self.code = code


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


def canonical(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _load_or_create_pem(path: Path, make):
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = make()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


@dataclass(frozen=True)
class BodyKeys:
    """A body's own private keys (files in its key directory, created on first use)."""

    sign: Ed25519PrivateKey
    hpke: X25519PrivateKey

    @property
    def sign_public(self) -> str:
        return b64(self.sign.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))

    @property
    def hpke_public(self) -> str:
        return b64(self.hpke.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def load_body_keys(key_dir: Path) -> BodyKeys:
    return BodyKeys(sign=_load_or_create_pem(key_dir / SIGN_FILE, Ed25519PrivateKey.generate),
                    hpke=_load_or_create_pem(key_dir / HPKE_FILE, X25519PrivateKey.generate))


def utc_stamp(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def seal_envelope(keys: BodyKeys, *, kind: str, sender: str, to: str, body: dict,
                  now: datetime | None = None) -> dict:
    env = {"v": VERSION, "type": kind, "from": sender, "to": to, "ts": utc_stamp(now),
           "nonce": secrets.token_hex(16), "body": body}
    env["sig"] = b64(keys.sign.sign(canonical(env)))
    return env


def verify_signature(env: dict, sign_public: str) -> None:
    try:
        sig = unb64(env["sig"])
        unsigned = {k: v for k, v in env.items() if k != "sig"}
        Ed25519PublicKey.from_public_bytes(unb64(sign_public)).verify(sig, canonical(unsigned))
    except (InvalidSignature, KeyError, ValueError, TypeError):
        raise EnvelopeError("署名が一致しません（改ざんまたは送信元の偽装の疑い）", "E_SIGNATURE") from None


def check_shape(env, *, kind: str | None = None) -> None:
    if not isinstance(env, dict) or env.get("v") != VERSION:
        raise EnvelopeError("電文の形式が正しくありません", "E_FORMAT")
    for key, t in (("type", str), ("from", str), ("to", str), ("ts", str), ("nonce", str), ("body", dict),
                   ("sig", str)):
        if not isinstance(env.get(key), t):
            raise EnvelopeError(f"電文の項目 {key} が正しくありません", "E_FORMAT")
    if kind and env["type"] != kind:
        raise EnvelopeError(f"電文の種類が正しくありません（{kind} が必要）", "E_FORMAT")
    if not (16 <= len(env["nonce"]) <= 64 and all(c in "0123456789abcdef" for c in env["nonce"])):
        raise EnvelopeError("電文のnonceが正しくありません", "E_FORMAT")


def check_fresh(env: dict, *, now: datetime, max_skew_seconds: int) -> datetime:
    try:
        ts = parse_stamp(env["ts"])
    except ValueError:
        raise EnvelopeError("電文の時刻が読めません", "E_FORMAT") from None
    if abs(now - ts) > timedelta(seconds=max_skew_seconds):
        raise EnvelopeError("電文の時刻が許容範囲外です（再送・リプレイの疑い）", "E_STALE")
    return ts


def answer_aad(permit_id: str, provider: str, requester: str) -> bytes:
    return canonical({"permit_id": permit_id, "provider": provider, "requester": requester})


def hpke_seal(recipient_public: str, plaintext: bytes, *, aad: bytes) -> dict:
    pk = KEMKey.from_pyca_cryptography_key(X25519PublicKey.from_public_bytes(unb64(recipient_public)))
    enc, ctx = _SUITE.create_sender_context(pk, info=HPKE_INFO)
    return {"suite": "X25519-SHA256-AES256GCM", "enc": b64(enc), "ct": b64(ctx.seal(plaintext, aad=aad))}


def hpke_open(keys: BodyKeys, sealed: dict, *, aad: bytes) -> bytes:
    try:
        sk = KEMKey.from_pyca_cryptography_key(keys.hpke)
        ctx = _SUITE.create_recipient_context(unb64(sealed["enc"]), sk, info=HPKE_INFO)
        return ctx.open(unb64(sealed["ct"]), aad=aad)
    except Exception:  # pyhpke raises OpenError, bad base64 ValueError: all mean "not for us / altered"
        raise EnvelopeError("暗号文を復号できません（改ざんまたは宛先違いの疑い）", "E_DECRYPT") from None
