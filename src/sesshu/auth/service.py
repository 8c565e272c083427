"""Staff accounts, password + TOTP login, and server-side sessions.

Passwords are hashed with Argon2id. The TOTP secret is stored encrypted (same key ring as My Number).
Login failures are counted per account and lock it for a while; every outcome is audited, and the
messages never tell whether an ID exists.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.auth.models import StaffUser, WebSession
from sesshu.auth.permissions import ROLES
from sesshu.clock import today_jst, utcnow
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.domain.errors import Conflict, DomainError, InvalidInput
from sesshu.keys import load_keyring

MIN_PASSWORD_LENGTH = 12
MAX_FAILED_LOGINS = 5
LOCK_MINUTES = 15
LOGIN_FAILED = "IDまたはパスワードが正しくありません"

_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters
_DUMMY_HASH = _hasher.hash("timing-equaliser-" + secrets.token_hex(8))


class AuthError(DomainError):
    code = "E_AUTH"


def check_password_rules(password: str, login_id: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"パスワードは{MIN_PASSWORD_LENGTH}文字以上にしてください")
    if login_id.lower() in password.lower():
        raise InvalidInput("パスワードにIDを含めないでください")


def _totp_aad(login_id: str) -> str:
    return f"totp:{login_id}"


@dataclass(frozen=True)
class NewUser:
    login_id: str
    totp_secret: str


def create_user(db: Database, settings: Settings, *, actor: Actor, login_id: str, display_name: str, role: str,
                password: str, valid_until: date | None = None, is_demo: bool = False,
                totp_secret: str | None = None) -> NewUser:
    """One person, one account: no shared IDs. Returns the TOTP secret to hand to the user once."""
    login_id = login_id.strip()
    if not login_id or not login_id.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise InvalidInput("IDは英数字（- _ . を含む）で指定してください")
    if role not in ROLES:
        raise InvalidInput(f"役割が正しくありません: {role}")
    check_password_rules(password, login_id)
    keys = load_keyring(settings)
    secret = totp_secret or pyotp.random_base32()
    with db.transaction() as s:
        if s.execute(select(StaffUser.id).where(StaffUser.login_id == login_id)).first():
            raise Conflict(f"ID {login_id} は既に使われています")
        s.add(StaffUser(login_id=login_id, display_name=display_name, role=role, password_hash=_hasher.hash(password),
                        totp_secret_enc=keys.encrypt(secret, aad=_totp_aad(login_id)), valid_until=valid_until,
                        is_demo=is_demo, created_at=utcnow()))
        audit.record(s, actor, "user.create", purpose="職員アカウントの登録",
                     detail={"login_id": login_id, "role": role, "valid_until": valid_until})
    return NewUser(login_id=login_id, totp_secret=secret)


@dataclass(frozen=True)
class SessionInfo:
    token: str
    csrf_token: str
    user_id: int
    login_id: str
    display_name: str
    role: str
    mfa_passed: bool

    @property
    def actor(self) -> Actor:
        return Actor(login_id=self.login_id, kind="user", role=self.role, user_id=self.user_id)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_session(s, user: StaffUser, *, mfa_passed: bool) -> SessionInfo:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    s.add(WebSession(token_hash=_hash_token(token), user_id=user.id, csrf_token=csrf, mfa_passed=mfa_passed,
                     created_at=now, last_seen_at=now))
    return SessionInfo(token=token, csrf_token=csrf, user_id=user.id, login_id=user.login_id,
                       display_name=user.display_name, role=user.role, mfa_passed=mfa_passed)


def login_password(db: Database, *, login_id: str, password: str, client: str = "") -> SessionInfo:
    """First factor. On success returns a session that still needs the second factor."""
    login_id = login_id.strip()
    now = utcnow()
    with db.transaction() as s:
        user = s.execute(select(StaffUser).where(StaffUser.login_id == login_id)).scalar_one_or_none()
        anon = Actor(login_id=login_id[:40] or "(空)", kind="user", role="")
        if user is None:
            _verify(_DUMMY_HASH, password)
            audit.record(s, anon, "auth.login_failed", purpose="ログイン", detail={"reason": "unknown_id", "client": client})
            result = None
        else:
            reason = _refusal(user, now)
            if reason is None:
                ok = _verify(user.password_hash, password)
            else:
                _verify(_DUMMY_HASH, password)  # the same work whatever the refusal: no timing oracle
                ok = False
            if reason is None and not ok:
                reason = "bad_password"
                user.failed_logins += 1
                if user.failed_logins >= MAX_FAILED_LOGINS:
                    user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
                    user.failed_logins = 0
                    audit.record(s, anon, "auth.locked", purpose="ログイン", detail={"minutes": LOCK_MINUTES})
            if reason:
                audit.record(s, anon, "auth.login_failed", purpose="ログイン", detail={"reason": reason, "client": client})
                result = None
            else:
                if _hasher.check_needs_rehash(user.password_hash):
                    user.password_hash = _hasher.hash(password)
                result = _new_session(s, user, mfa_passed=False)
                audit.record(s, result.actor, "auth.password_ok", purpose="ログイン", detail={"client": client})
    if result is None:
        raise AuthError(LOGIN_FAILED)
    return result


def _refusal(user: StaffUser, now: datetime) -> str | None:
    if not user.is_active:
        return "inactive"
    if user.valid_until is not None and today_jst() > user.valid_until:
        return "expired"
    if user.locked_until is not None and user.locked_until > now:
        return "locked"
    return None


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def login_totp(db: Database, settings: Settings, *, token: str, code: str, client: str = "") -> SessionInfo:
    """Second factor. A correct code replaces the session with a new, fully authenticated one."""
    keys = load_keyring(settings)
    code = "".join(ch for ch in code if ch.isdigit())
    now = utcnow()
    with db.transaction() as s:
        ws = s.get(WebSession, _hash_token(token))
        user = s.get(StaffUser, ws.user_id) if ws and not ws.revoked else None
        if user is None or _refusal(user, now):
            result = None
        else:
            totp = pyotp.TOTP(keys.decrypt(user.totp_secret_enc, aad=_totp_aad(user.login_id)))
            step = _matching_step(totp, code, now)
            actor = Actor(login_id=user.login_id, kind="user", role=user.role, user_id=user.id)
            if step is None or step <= user.totp_last_step:
                user.failed_logins += 1
                if user.failed_logins >= MAX_FAILED_LOGINS:
                    user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
                    user.failed_logins = 0
                    ws.revoked = True
                reason = "replayed" if step is not None else "bad_code"
                audit.record(s, actor, "auth.mfa_failed", purpose="ログイン", detail={"reason": reason, "client": client})
                result = None
            else:
                user.totp_last_step = step
                user.failed_logins = 0
                user.last_login_at = now
                ws.revoked = True  # a fresh token after login: no session fixation
                result = _new_session(s, user, mfa_passed=True)
                audit.record(s, actor, "auth.login", purpose="ログイン", detail={"client": client, "factor": "totp"})
    if result is None:
        raise AuthError("確認コードが正しくありません")
    return result


def _matching_step(totp: pyotp.TOTP, code: str, now: datetime) -> int | None:
    if len(code) != 6:
        return None
    ts = int((now - datetime(1970, 1, 1)).total_seconds())
    for drift in (0, -1, 1):
        step = ts // totp.interval + drift
        if secrets.compare_digest(totp.at(step * totp.interval), code):
            return step
    return None


def current_session(db: Database, settings: Settings, *, token: str) -> SessionInfo | None:
    """The live session for a cookie token, or None (unknown, revoked, idle too long, account lapsed)."""
    if not token:
        return None
    now = utcnow()
    with db.transaction() as s:
        ws = s.get(WebSession, _hash_token(token))
        if ws is None or ws.revoked:
            return None
        user = s.get(StaffUser, ws.user_id)
        if now - ws.last_seen_at > timedelta(minutes=settings.session_idle_minutes) or user is None or _refusal(user, now):
            ws.revoked = True
            return None
        # Touch at most once a minute so reads do not all become writes.
        if now - ws.last_seen_at > timedelta(minutes=1):
            s.execute(update(WebSession).where(WebSession.token_hash == ws.token_hash).values(last_seen_at=now))
        return SessionInfo(token=token, csrf_token=ws.csrf_token, user_id=user.id, login_id=user.login_id,
                           display_name=user.display_name, role=user.role, mfa_passed=ws.mfa_passed)


def logout(db: Database, *, token: str) -> None:
    with db.transaction() as s:
        ws = s.get(WebSession, _hash_token(token))
        if ws is None or ws.revoked:
            return
        ws.revoked = True
        user = s.get(StaffUser, ws.user_id)
        audit.record(s, Actor(login_id=user.login_id, kind="user", role=user.role, user_id=user.id), "auth.logout",
                     purpose="ログアウト")


def demo_totp_code(db: Database, settings: Settings, *, login_id: str) -> str:
    """Current code for a demo account only (demo accounts are created by `sesshu demo load`)."""
    keys = load_keyring(settings)
    with db.transaction() as s:
        user = s.execute(select(StaffUser).where(StaffUser.login_id == login_id)).scalar_one_or_none()
        if user is None or not user.is_demo:
            raise InvalidInput("デモ用アカウントではありません")
        return pyotp.TOTP(keys.decrypt(user.totp_secret_enc, aad=_totp_aad(login_id))).now()


def record_access_denied(db: Database, *, actor: Actor, permission: str, path: str, method: str) -> None:
    """A refused request is on record too, so the security officer can spot staff probing beyond their role."""
    with db.transaction() as s:
        audit.record(s, actor, "auth.denied", purpose="権限のない操作の試行",
                     detail={"permission": permission, "path": path, "method": method})
