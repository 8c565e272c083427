"""One settings object for the whole system.

Defaults make a fresh clone run on an embedded SQLite database under ./var/ with no setup.
Every value can be overridden through an environment variable named SESSHU_<FIELD>.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path


def _default_var_dir() -> Path:
    return Path(os.environ.get("SESSHU_VAR_DIR", "var")).resolve()


@dataclass(frozen=True)
class Settings:
    var_dir: Path = field(default_factory=_default_var_dir)
    database_url: str = ""
    key_dir: Path | None = None
    # Base64 32-byte keys; when set they win over the key files (production: from a secret store).
    mynumber_key: str = ""
    mynumber_hmac_key: str = ""
    secure_cookies: bool = False
    session_idle_minutes: int = 30
    # WebAuthn relying party: the host name staff type in the address bar, and the exact origin(s)
    # (comma-separated) the browser reports. WebAuthn needs a secure context: https, or http://localhost.
    webauthn_rp_id: str = "localhost"
    webauthn_origin: str = "http://localhost:8000"
    # 出力端末の限定 (seed III-5): IP addresses / networks (comma-separated) of the terminals allowed to
    # write personal data to files. Empty: any signed-in terminal with the export permission.
    export_terminals: str = ""
    # Addresses of the reverse proxies whose X-Forwarded-For/-Proto are believed (comma-separated).
    # Empty: the connection's own address is the client (sesshu serves the staff directly).
    trusted_proxies: str = ""
    reauth_minutes: int = 5
    password_history_count: int = 5
    # 0 = no forced rotation (NIST SP 800-63B); a change is forced only after a suspected compromise.
    password_max_age_days: int = 0
    timezone: str = "Asia/Tokyo"
    import_chunk_rows: int = 5000
    search_page_size: int = 50
    municipality_code: str = "112020"
    municipality_name: str = "熊谷市"
    # SMART Health Cards: the issuer URL (iss) printed into every card; its /.well-known/jwks.json must
    # serve sesshu's public keys. https and no trailing "/" in production.
    shc_issuer: str = "http://localhost:8000"
    # Audit checkpoints: Base64 of a 32-byte Ed25519 private key (production: from a secret store);
    # empty = key file audit-signing-ed25519.pem in the key dir. Files go to var/audit-checkpoints.
    audit_signing_key: str = ""
    audit_checkpoint_dir: str = ""
    # Anomaly report: business hours (JST), closed days besides weekends and national holidays (MM-DD),
    # and person views per user per day that count as unusual (above the limit, or factor × the user's median).
    business_hours: str = "08:30-17:15"
    closed_days: str = "12-29,12-30,12-31,01-01,01-02,01-03"
    audit_view_limit: int = 100
    audit_view_median_factor: int = 3

    @property
    def resolved_key_dir(self) -> Path:
        return self.key_dir or (self.var_dir / "keys")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'sesshu.db'}"


def _coerce(raw: str, kind: type):
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind is int:
        return int(raw)
    if kind is Path:
        return Path(raw)
    return raw


def load_settings(**overrides) -> Settings:
    """Build settings from the environment; explicit overrides win (tests use them)."""
    values = {}
    for f in fields(Settings):
        env = os.environ.get(f"SESSHU_{f.name.upper()}")
        if env is None:
            continue
        default = Settings.__dataclass_fields__[f.name]
        kind = {"var_dir": Path, "key_dir": Path}.get(f.name, type(default.default) if default.default is not None else str)
        values[f.name] = _coerce(env, kind)
    values.update(overrides)
    return Settings(**values)
