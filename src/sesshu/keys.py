"""Encryption keys live outside the database: in settings (a secret store) or in key files.

Development keys are created on first use under ./var/keys with mode 0600.
Ciphertext format: version byte 0x01 ‖ key id (1 byte) ‖ 12-byte nonce ‖ AES-256-GCM ciphertext+tag.
The associated data binds a ciphertext to its row (e.g. the 宛名番号), so a ciphertext copied to
another person's row does not decrypt.

Rotation (`sesshu keys rotate`, sesshu.mynumber.rotation) adds data-key-(N+1).b64 next to the old
files; old keys stay loaded so every ciphertext stays readable while rows are re-encrypted. The
cached KeyRing is keyed on the key directory's modification time, so a running server notices a
new key file at its next `load_keyring` call (every use case calls it) and encrypts with it from
then on, without a restart.

The lookup HMAC key (lookup-hmac.b64) is not rotated online: every stored hash would have to be
recomputed from the decrypted number while lookups and the registry import's duplicate check use
the old hashes, so a half-done rotation would let a duplicate 個人番号 slip in. Doing it online
would need two live lookup keys (lookups and the duplicate check querying both hashes) — not built
yet; until then it is a maintenance-window job with the server stopped.
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


AUDIT_KEY_FILE = "audit-chain.b64"


def load_audit_key(settings: Settings) -> bytes:
    """The key of the audit log's keyed chain (audit.service): a file in the key directory, never in
    the database, so whoever can rewrite the database cannot re-seal a rewritten chain."""
    return _load_or_create(settings.resolved_key_dir / AUDIT_KEY_FILE)


@dataclass(frozen=True)
class KeyRing:
    enc_keys: dict[int, bytes]
    current_id: int
    hmac_key: bytes
    key_dir: Path | None = None  # set when the keys come from files

    def encrypt(self, plaintext: str, *, aad: str) -> bytes:
        nonce = os.urandom(12)
        ct = AESGCM(self.enc_keys[self.current_id]).encrypt(nonce, plaintext.encode(), aad.encode())
        return bytes([_FORMAT, self.current_id]) + nonce + ct

    def decrypt(self, blob: bytes, *, aad: str) -> str:
        if not blob or blob[0] != _FORMAT:
            raise ValueError("unknown ciphertext format")
        key = self.enc_keys.get(blob[1]) or self._added_key(blob[1])
        return AESGCM(key).decrypt(blob[2:14], blob[14:], aad.encode()).decode()

    def _added_key(self, kid: int) -> bytes:
        """A key created after this ring was loaded: a rotation re-encrypted the row meanwhile."""
        path = self.key_dir / f"data-key-{kid}.b64" if self.key_dir else None
        if path is None or not path.exists():
            raise ValueError(f"unknown data key {kid}")
        return base64.b64decode(path.read_text().strip())

    def keyed_hash(self, value: str, *, domain: str) -> str:
        return hmac.new(self.hmac_key, f"{domain}:{value}".encode(), hashlib.sha256).hexdigest()


def load_keyring(settings: Settings) -> KeyRing:
    key_dir = settings.resolved_key_dir
    return _cached_keyring(key_dir, settings.mynumber_key, settings.mynumber_hmac_key, _dir_stamp(key_dir))


def _dir_stamp(key_dir: Path) -> int:
    """Changes whenever a key file is added: part of the cache key, so a new key is picked up."""
    try:
        return key_dir.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def key_id(blob: bytes) -> int:
    """The id of the data key a ciphertext was made with (byte 1 of the format)."""
    return blob[1]


def create_next_data_key(key_dir: Path) -> int:
    """Write data-key-(N+1).b64 (mode 0600) and return N+1; from then on new values use it.

    The key is written to a temporary name and linked into place, so a server reloading the key
    directory never reads a half-written file, and two concurrent rotations cannot both create N+1.
    """
    existing = [int(p.stem.rsplit("-", 1)[1]) for p in key_dir.glob("data-key-*.b64")]
    new_id = max(existing, default=1) + 1
    if new_id > 255:
        raise ValueError("key ids are one byte")
    tmp = key_dir / f".data-key-{new_id}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(os.urandom(32)).decode())
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, key_dir / f"data-key-{new_id}.b64")
    finally:
        tmp.unlink()
    return new_id


@lru_cache(maxsize=8)
def _cached_keyring(key_dir: Path, enc_b64: str, hmac_b64: str, _stamp: int) -> KeyRing:
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
    return KeyRing(enc_keys=enc, current_id=max(enc), hmac_key=hmac_key, key_dir=None if enc_b64 else key_dir)
