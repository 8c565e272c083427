"""The city's SMART Health Card signing keys: files under the key dir (never in the database).

`<key dir>/shc/<kid>.jwk.json` holds a public key (JWK) and when it was made; `<kid>.key.pem` its private
key (0600) while the key signs. `rotate` makes a new key and destroys the old private keys (the spec:
retired private keys SHALL be destroyed) but keeps their public JWKs, which stay in jwks.json so every
card signed before the rotation still verifies. The signing key is the newest one with a private key.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sesshu.clock import utc_iso
from sesshu.config import Settings
from sesshu.domain.errors import InvalidInput
from sesshu.domain.shc import public_jwk

SUBDIR = "shc"


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    created: str
    signing: bool  # the private key is still here


def key_dir(settings: Settings) -> Path:
    return settings.resolved_key_dir / SUBDIR


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _new_key(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = public_jwk(key.public_key())
    kid = jwk["kid"]
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    _write_private(folder / f"{kid}.key.pem", pem)
    tmp = folder / f"{kid}.jwk.json.part"
    tmp.write_text(json.dumps({"created": utc_iso(), "jwk": jwk}, indent=2), encoding="utf-8")
    os.replace(tmp, folder / f"{kid}.jwk.json")
    return kid


def list_keys(settings: Settings) -> list[KeyInfo]:
    folder = key_dir(settings)
    out = []
    for path in sorted(folder.glob("*.jwk.json")) if folder.is_dir() else []:
        entry = json.loads(path.read_text(encoding="utf-8"))
        kid = entry["jwk"]["kid"]
        out.append(KeyInfo(kid=kid, created=entry["created"], signing=(folder / f"{kid}.key.pem").exists()))
    return sorted(out, key=lambda k: k.created)


def signing_key(settings: Settings, *, create: bool = True) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """The current key (made on first use in development)."""
    signing = [k for k in list_keys(settings) if k.signing]
    if not signing:
        if not create:
            raise InvalidInput("SMART Health Card の署名鍵がありません（sesshu shc rotate-key で作成してください）")
        _new_key(key_dir(settings))
        signing = [k for k in list_keys(settings) if k.signing]
    current = signing[-1]
    key = serialization.load_pem_private_key((key_dir(settings) / f"{current.kid}.key.pem").read_bytes(),
                                             password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidInput(f"{current.kid} は P-256 の秘密鍵ではありません")
    return current.kid, key


def jwks(settings: Settings) -> dict:
    """Every published public key, current and retired (what /.well-known/jwks.json serves)."""
    folder = key_dir(settings)
    keys = [json.loads((folder / f"{k.kid}.jwk.json").read_text(encoding="utf-8"))["jwk"]
            for k in reversed(list_keys(settings))]
    return {"keys": keys}


def rotate(settings: Settings) -> tuple[str, list[str]]:
    """A new signing key; the older private keys are destroyed. Returns the new kid and the retired ones."""
    folder = key_dir(settings)
    before = [k.kid for k in list_keys(settings) if k.signing]
    kid = _new_key(folder)
    for old in before:
        (folder / f"{old}.key.pem").unlink()
    return kid, before
