"""This city's connection to the hub: signed requests over HTTP (stdlib only), the hub's directory."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from sesshu.config import Settings
from sesshu.domain.errors import InvalidInput
from sesshu.linkage.envelope import (
    BodyKeys,
    EnvelopeError,
    canonical,
    load_body_keys,
    seal_envelope,
    unb64,
)

HUB_ID = "hub"


class HubError(Exception):
    """The hub refused a message (or could not be reached); `reason` is Japanese."""

    def __init__(self, code: str, reason: str, status: int = 0):
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.status = status


@dataclass
class HubClient:
    url: str
    body_id: str
    keys: BodyKeys
    timeout: float = 15.0
    _directory: dict | None = field(default=None, repr=False)

    def _send(self, method: str, path: str, payload: dict | None = None) -> dict:
        data = None if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        req = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            try:
                err = json.loads(e.read())
            except ValueError:
                err = {}
            raise HubError(err.get("error", f"HTTP{e.code}"), err.get("message", "中継機能が要求を拒否しました"),
                           e.code) from None
        except (urllib.error.URLError, OSError) as e:
            raise HubError("E_UNREACHABLE", f"中継機能に接続できません（{self.url}）", 0) from e

    def post(self, kind: str, body: dict) -> dict:
        return self.post_envelope(kind, seal_envelope(self.keys, kind=kind, sender=self.body_id, to=HUB_ID,
                                                      body=body))

    def post_envelope(self, kind: str, env: dict) -> dict:
        return self._send("POST", f"/v1/{kind.replace('_', '-')}", env)

    def directory(self) -> dict:
        if self._directory is None:
            self._directory = self._send("GET", "/v1/directory")
        return self._directory

    def forget_directory(self) -> None:
        self._directory = None

    def body(self, body_id: str) -> dict:
        for b in self.directory()["bodies"]:
            if b["body_id"] == body_id:
                return b
        raise HubError("E_UNKNOWN_BODY", f"団体 {body_id} は中継機能に登録されていません")

    def verify_permit(self, permit: dict) -> dict:
        """A 提供許可証 is valid only with the hub's signature over every other field."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            unsigned = {k: v for k, v in permit.items() if k != "hub_sig"}
            Ed25519PublicKey.from_public_bytes(unb64(self.directory()["hub"]["sign_public"])).verify(
                unb64(permit["hub_sig"]), canonical(unsigned))
        except (InvalidSignature, KeyError, ValueError, TypeError):
            raise EnvelopeError("提供許可証の署名が一致しません", "E_PERMIT_SIGNATURE") from None
        return permit


def make_client(settings: Settings) -> HubClient:
    if not settings.linkage_hub_url:
        raise InvalidInput("情報連携の中継機能が設定されていません（SESSHU_LINKAGE_HUB_URL）")
    return HubClient(url=settings.linkage_hub_url, body_id=settings.resolved_linkage_body_id,
                     keys=load_body_keys(settings.resolved_key_dir))
