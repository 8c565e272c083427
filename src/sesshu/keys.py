"""Encryption keys live outside the database: in settings (a secret store) or in key files.

Development keys are created on first use under ./var/keys with mode 0600.
Ciphertext format: version byte 0x01 ‖ key id (1 byte) ‖ 12-byte nonce ‖ AES-256-GCM ciphertext+tag.
The associated data binds a ciphertext to its row (e.g. the 宛名番号), so a ciphertext copied to
another person's row does not decrypt.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sesshu.config import Settings

_FORMAT = 1


def _load_or_create(path: Path) -> bytes:
    if path.exists():
        return base64.b64decode(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(key).decode())
    return key


@dataclass(frozen=True)
class KeyRing:
    enc_keys: dict[int, bytes]
    current_id: int
    hmac_key: bytes

    def encrypt(self, plaintext: str, *, aad: str) -> bytes:
        nonce = os.urandom(12)
        ct = AESGCM(self.enc_keys[self.current_id]).encrypt(nonce, plaintext.encode(), aad.encode())
        return bytes([_FORMAT, self.current_id]) + nonce + ct

    def decrypt(self, blob: bytes, *, aad: str) -> str:
        if not blob or blob[0] != _FORMAT:
            raise ValueError("unknown ciphertext format")
        key = self.enc_keys[blob[1]]
        return AESGCM(key).decrypt(blob[2:14], blob[14:], aad.encode()).decode()

    def keyed_hash(self, value: str, *, domain: str) -> str:
        return hmac.new(self.hmac_key, f"{domain}:{value}".encode(), hashlib.sha256).hexdigest()


def load_keyring(settings: Settings) -> KeyRing:
    return _cached_keyring(settings.resolved_key_dir, settings.mynumber_key, settings.mynumber_hmac_key)


@lru_cache(maxsize=8)
def _cached_keyring(key_dir: Path, enc_b64: str, hmac_b64: str) -> KeyRing:
    if enc_b64:
        enc = {1: base64.b64decode(enc_b64)}
    else:
        enc = {1: _load_or_create(key_dir / "data-key-1.b64")}
        # Rotated keys stay readable: data-key-2.b64, data-key-3.b64, … newest one encrypts.
        for p in sorted(key_dir.glob("data-key-*.b64")):
            kid = int(p.stem.rsplit("-", 1)[1])
            enc[kid] = base64.b64decode(p.read_text().strip())
    hmac_key = base64.b64decode(hmac_b64) if hmac_b64 else _load_or_create(key_dir / "lookup-hmac.b64")
    if any(len(k) != 32 for k in enc.values()) or len(hmac_key) < 32:
        raise ValueError("encryption keys must be 32 bytes")
    return KeyRing(enc_keys=enc, current_id=max(enc), hmac_key=hmac_key)
