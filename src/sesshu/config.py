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
    # Information linkage (docs/linkage.md): the hub's URL (empty: linkage is not set up), this body's
    # code on the network (empty: municipality_code), how long 情報提供等記録 and inquiry results are
    # kept (0: the periods of linkage/data/linkage.yaml), the provider poller's interval, and the clock
    # skew a signed message may have.
    linkage_hub_url: str = ""
    linkage_body_id: str = ""
    linkage_record_retention_years: int = 0
    linkage_result_retention_days: int = 0
    linkage_poll_ms: int = 1000
    linkage_max_skew_seconds: int = 300
    # 開示請求: the disclosure package names the staff who accessed the person's data only when true
    # (otherwise department and role).
    disclosure_show_staff_names: bool = False

    @property
    def resolved_key_dir(self) -> Path:
        return self.key_dir or (self.var_dir / "keys")

    @property
    def resolved_linkage_body_id(self) -> str:
        return self.linkage_body_id or self.municipality_code

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
