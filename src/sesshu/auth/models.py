"""Staff users, their web sessions, passkeys and password history."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String, false, true
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base


class StaffUser(Base):
    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    login_id: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(60))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)  # refuses a replayed code
    valid_until: Mapped[date | None] = mapped_column(Date)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    # TOTP as second factor: on for new accounts; registering the first passkey turns it off, and only
    # a security officer turns it back on (fallback for a lost authenticator). See auth/service.py.
    totp_allowed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The TOTP code is a stop-gap, not a second factor for good (the document's is biometric): it lapses
    # at this moment (UTC); None only for demo accounts. See auth.service TOTP rule.
    totp_allowed_until: Mapped[datetime | None] = mapped_column(DateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime)  # None: since created_at
    # A password set by the security officer (new account, reset): the user must choose their own first.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class WebSession(Base):
    """Server-side session; the cookie holds a random token, the table only its hash."""

    __tablename__ = "web_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    mfa_passed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    reauth_at: Mapped[datetime | None] = mapped_column(DateTime)  # when the user last proved both factors
    # One outstanding WebAuthn challenge, bound to this session; cleared when used (single use).
    challenge: Mapped[str | None] = mapped_column(String(128))
    challenge_purpose: Mapped[str | None] = mapped_column(String(20))
    challenge_expires_at: Mapped[datetime | None] = mapped_column(DateTime)


class WebAuthnCredential(Base):
    """A passkey (platform authenticator with user verification) registered by the staff member."""

    __tablename__ = "webauthn_credential"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url, at most 1023 bytes
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE key
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)  # unsigned 32-bit in the spec
    transports: Mapped[str] = mapped_column(String(200), default="")  # comma-separated, as the browser said
    label: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)


class PasswordHistory(Base):
    """Argon2id hashes of the passwords a user has set, newest kept, to refuse reuse."""

    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class LoginFailure(Base):
    """One failed sign-in step from a client address: the per-client throttle counts these rows, so it
    holds across server processes."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_client_at", "client", "occurred_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(DateTime, index=True)
