"""Staff accounts, password + second-factor login, re-authentication and server-side sessions.

Passwords are hashed with Argon2id and follow `auth/passwords.py`; the last
`password_history_count` passwords cannot be reused. The second factor is a passkey (auth/passkeys.py)
or a TOTP code. The TOTP secret is stored encrypted (same key ring as My Number).

TOTP rule: a TOTP code is accepted exactly when `staff_user.totp_allowed` is true and
`totp_allowed_until` has not passed. It is true for a new account for TOTP_ENROLMENT (14 days: time to
register a passkey at the first sign-ins, a fortnight covering leave and shifts); registering the
account's first passkey sets it to false; only a security officer (`user.manage`) sets it back to
true, as a fallback for a lost or broken authenticator, for TOTP_FALLBACK (7 days: a replacement
authenticator is registered within a working week), and may set it to false again — never for an
account without a passkey, which could then not sign in at all. After the period the code is refused
("totp_expired" on record) and a passkey is required. Demo accounts (is_demo) keep TOTP with no end.

Failures are counted per account (5 → locked 15 minutes) and per client address (20 failed steps in
10 minutes → every sign-in from that client is refused for the rest of the window), the latter in
the database so it holds across server processes. Every outcome is audited, and the password step
answers unknown ID, wrong password, locked, expired, inactive and throttled alike: the same message,
the same status and one Argon2 verification each.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.auth.models import LoginFailure, PasswordHistory, StaffUser, WebAuthnCredential, WebSession
from sesshu.auth.passwords import PolicyViolation, check_login_id, check_password
from sesshu.auth.permissions import ROLES
from sesshu.clock import today_jst, utcnow
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.domain.errors import Conflict, DomainError, InvalidInput
from sesshu.domain.text import clean
from sesshu.keys import load_keyring

MAX_FAILED_LOGINS = 5
LOCK_MINUTES = 15
CLIENT_MAX_FAILURES = 20
CLIENT_WINDOW_MINUTES = 10
# The second factor must follow the password within this time, or the sign-in starts again.
SECOND_STEP_MINUTES = 10
LOGIN_FAILED = "IDまたはパスワードが正しくありません"
REAUTH_FAILED = "パスワードまたは確認コードが正しくありません"

TOTP_ENROLMENT = timedelta(days=14)
TOTP_FALLBACK = timedelta(days=7)
_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters
_DUMMY_HASH = _hasher.hash("timing-equaliser-" + secrets.token_hex(8))


class AuthError(DomainError):
    code = "E_AUTH"


def check_password_rules(password: str, login_id: str) -> None:
    try:
        check_password(password, login_id)
    except PolicyViolation as e:
        raise InvalidInput(str(e)) from None


def totp_digits(code: str) -> str:
    """The digits of a typed code: full-width digits count (NFKC); any other character, including
    other scripts' digits that str.isdigit() accepts, is dropped, so the code simply does not match."""
    return "".join(ch for ch in clean(code) if ch in "0123456789")


def printable_login_id(typed: str) -> str:
    """A typed (possibly unknown) ID as it goes on record: control and format characters (newline, tab,
    escape sequences, bidi overrides) are shown as \\uXXXX, so the ID cannot forge lines of a log listing."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in typed)


def _totp_aad(login_id: str) -> str:
    return f"totp:{login_id}"


@dataclass(frozen=True)
class NewUser:
    login_id: str
    totp_secret: str


def create_user(db: Database, settings: Settings, *, actor: Actor, login_id: str, display_name: str, role: str,
                password: str, valid_until: date | None = None, is_demo: bool = False,
                totp_secret: str | None = None, tasks: tuple[tuple[str, str], ...] = (),
                must_change_password: bool = False) -> NewUser:
    """One person, one account: no shared IDs. Returns the TOTP secret to hand to the user once."""
    login_id = login_id.strip()
    # ASCII only: full-width or Cyrillic look-alikes ("ａｄｍｉｎ", "аdmin") would slip past the
    # generic-ID check and read as another person's ID in the log.
    bare = login_id.replace("-", "").replace("_", "").replace(".", "")
    if not login_id or not login_id.isascii() or not bare.isalnum():
        raise InvalidInput("IDは半角英数字（- _ . を含む）で指定してください")
    if role not in ROLES:
        raise InvalidInput(f"役割が正しくありません: {role}")
    try:
        check_login_id(login_id)
    except PolicyViolation as e:
        raise InvalidInput(str(e)) from None
    check_password_rules(password, login_id)
    keys = load_keyring(settings)
    secret = totp_secret or pyotp.random_base32()
    with db.transaction() as s:
        # "Tanaka" next to "tanaka" would be two accounts that read as one person in the log.
        taken = s.execute(select(StaffUser.login_id).where(func.lower(StaffUser.login_id) == login_id.lower())).first()
        if taken:
            raise Conflict(f"ID {login_id} は既に使われています（{taken[0]}）")
        now = utcnow()
        new_user = StaffUser(login_id=login_id, display_name=display_name, role=role,
                             password_hash=_hasher.hash(password), password_changed_at=now,
                             totp_secret_enc=keys.encrypt(secret, aad=_totp_aad(login_id)), valid_until=valid_until,
                             is_demo=is_demo, created_at=now, must_change_password=must_change_password,
                             totp_allowed_until=None if is_demo else now + TOTP_ENROLMENT)
        s.add(new_user)
        s.flush()
        s.add(PasswordHistory(user_id=new_user.id, password_hash=new_user.password_hash, created_at=now))
        audit.record(s, actor, "user.create", purpose="職員アカウントの登録",
                     detail={"login_id": login_id, "role": role, "valid_until": valid_until})
        if tasks:  # (task code, department): the 事務 whose 特定個人情報 this account may handle
            from sesshu.access.service import assign_in

            user = s.execute(select(StaffUser).where(StaffUser.login_id == login_id)).scalar_one()
            for task_code, department in tasks:
                assign_in(s, actor, user=user, task_code=task_code, department=department, valid_until=valid_until)
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
    reauth_at: datetime | None = None  # when the user last proved password + second factor
    password_expired: bool = False  # older than password_max_age_days: must change before anything else

    @property
    def actor(self) -> Actor:
        return Actor(login_id=self.login_id, kind="user", role=self.role, user_id=self.user_id)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_session(s, user: StaffUser, *, mfa_passed: bool) -> SessionInfo:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    reauth_at = now if mfa_passed else None
    if mfa_passed:
        _end_other_sessions(s, user)
    s.add(WebSession(token_hash=_hash_token(token), user_id=user.id, csrf_token=csrf, mfa_passed=mfa_passed,
                     created_at=now, last_seen_at=now, reauth_at=reauth_at))
    return SessionInfo(token=token, csrf_token=csrf, user_id=user.id, login_id=user.login_id,
                       display_name=user.display_name, role=user.role, mfa_passed=mfa_passed, reauth_at=reauth_at)


def _end_other_sessions(s, user: StaffUser) -> None:
    """One account, one signed-in place (同一IDの多重ログイン禁止): a new sign-in ends the account's other
    sessions, so an ID shared between two people keeps throwing one of them out — and it is on record."""
    ended = s.execute(update(WebSession).where(WebSession.user_id == user.id, WebSession.revoked.is_(False),
                                               WebSession.mfa_passed.is_(True)).values(revoked=True)).rowcount
    if ended:
        audit.record(s, user_actor(user), "auth.session_replaced", purpose="ログイン",
                     detail={"ended_sessions": ended})


def record_session_rejected(db: Database, *, client: str, path: str) -> None:
    """A cookie that names no live session (forged, replayed after sign-out, or expired) is on record."""
    with db.transaction() as s:
        audit.record(s, Actor(login_id="(不明なセッション)", kind="user", role=""), "auth.session_rejected",
                     purpose="ログイン", detail={"client": client, "path": path})


def _client_key(client: str) -> str:
    return (client or "unknown")[:64]


def client_throttled(s, client: str, now: datetime) -> bool:
    since = now - timedelta(minutes=CLIENT_WINDOW_MINUTES)
    count = s.execute(select(func.count()).select_from(LoginFailure)
                      .where(LoginFailure.client == _client_key(client), LoginFailure.occurred_at > since)).scalar_one()
    return count >= CLIENT_MAX_FAILURES


def note_client_failure(s, client: str, now: datetime) -> None:
    """Count a failed sign-in step against the client; rows older than the window are of no use any more."""
    s.execute(delete(LoginFailure).where(LoginFailure.occurred_at < now - timedelta(minutes=CLIENT_WINDOW_MINUTES)))
    s.add(LoginFailure(client=_client_key(client), occurred_at=now))


def note_account_failure(s, user: StaffUser, now: datetime, anon: Actor) -> bool:
    """Count a failed step against the account; True when this failure locked it."""
    user.failed_logins += 1
    if user.failed_logins < MAX_FAILED_LOGINS:
        return False
    user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
    user.failed_logins = 0
    audit.record(s, anon, "auth.locked", purpose="ログイン", detail={"minutes": LOCK_MINUTES})
    return True


def login_password(db: Database, *, login_id: str, password: str, client: str = "") -> SessionInfo:
    """First factor. On success returns a session that still needs the second factor."""
    login_id = login_id.strip()
    now = utcnow()
    with db.transaction() as s:
        user = s.execute(select(StaffUser).where(StaffUser.login_id == login_id)).scalar_one_or_none()
        anon = Actor(login_id=printable_login_id(login_id)[:40] or "(空)", kind="user", role="")
        if client_throttled(s, client, now):
            verify_password(_DUMMY_HASH, password)
            note_client_failure(s, client, now)
            audit.record(s, anon, "auth.login_failed", purpose="ログイン", detail={"reason": "throttled", "client": client})
            result = None
        elif user is None:
            verify_password(_DUMMY_HASH, password)
            note_client_failure(s, client, now)
            audit.record(s, anon, "auth.login_failed", purpose="ログイン", detail={"reason": "unknown_id", "client": client})
            result = None
        else:
            reason = _refusal(user, now)
            if reason is None:
                ok = verify_password(user.password_hash, password)
            else:
                verify_password(_DUMMY_HASH, password)  # the same work whatever the refusal: no timing oracle
                ok = False
            if reason is None and not ok:
                reason = "bad_password"
                note_account_failure(s, user, now, anon)
            if reason:
                note_client_failure(s, client, now)
                audit.record(s, anon, "auth.login_failed", purpose="ログイン", detail={"reason": reason, "client": client})
                result = None
            else:
                if _hasher.check_needs_rehash(user.password_hash):
                    user.password_hash = _hasher.hash(password)
                result = new_session(s, user, mfa_passed=False)
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


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def login_totp(db: Database, settings: Settings, *, token: str, code: str, client: str = "") -> SessionInfo:
    """Second factor. A correct code replaces the session with a new, fully authenticated one."""
    keys = load_keyring(settings)
    code = totp_digits(code)
    now = utcnow()
    with db.transaction() as s:
        found = live_session(s, token, signed_in=False)
        result = None
        if found is not None:
            ws, user = found
            reason = "throttled" if client_throttled(s, client, now) else _check_totp(keys, user, code, now)
            result = finish_second_factor(s, ws, user, reason=reason, detail={"client": client, "factor": "totp"},
                                          client=client, now=now)
    if result is None:
        raise AuthError("確認コードが正しくありません")
    return result


def finish_second_factor(s, ws: WebSession, user: StaffUser, *, reason: str | None, detail: dict, client: str,
                         now: datetime) -> SessionInfo | None:
    """The end of the second step, whatever the factor: a failure counts against the account and the
    client (and may lock and end the pre-MFA session); a success replaces the session with a new,
    signed-in one (no session fixation). Both are on record."""
    actor = user_actor(user)
    if reason:
        if note_account_failure(s, user, now, actor):
            ws.revoked = True
        note_client_failure(s, client, now)
        audit.record(s, actor, "auth.mfa_failed", purpose="ログイン", detail=detail | {"reason": reason})
        return None
    user.failed_logins = 0
    user.last_login_at = now
    ws.revoked = True
    result = new_session(s, user, mfa_passed=True)
    audit.record(s, actor, "auth.login", purpose="ログイン", detail=detail)
    return result


def user_actor(user: StaffUser) -> Actor:
    return Actor(login_id=user.login_id, kind="user", role=user.role, user_id=user.id)


def totp_lapsed(user: StaffUser, now: datetime) -> bool:
    return user.totp_allowed_until is not None and now > user.totp_allowed_until


def _check_totp(keys, user: StaffUser, code: str, now: datetime) -> str | None:
    """None when the code is right (and then marks its time step used), else the reason for the record."""
    if not user.totp_allowed or totp_lapsed(user, now):
        _matching_step(pyotp.TOTP(pyotp.random_base32()), code, now)  # same work as a real check
        return "totp_expired" if user.totp_allowed else "totp_not_allowed"
    totp = pyotp.TOTP(keys.decrypt(user.totp_secret_enc, aad=_totp_aad(user.login_id)))
    step = _matching_step(totp, code, now)
    if step is None:
        return "bad_code"
    if step <= user.totp_last_step:
        return "replayed"
    user.totp_last_step = step
    return None


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
        # The session and its user in one round trip: every request of every station pays for this.
        found = s.execute(select(WebSession, StaffUser).outerjoin(StaffUser, StaffUser.id == WebSession.user_id)
                          .where(WebSession.token_hash == _hash_token(token))).first()
        if found is None or found[0].revoked:
            return None
        ws, user = found
        if now - ws.last_seen_at > timedelta(minutes=settings.session_idle_minutes) or user is None or _refusal(user, now):
            ws.revoked = True
            return None
        # Touch at most once a minute so reads do not all become writes.
        if now - ws.last_seen_at > timedelta(minutes=1):
            s.execute(update(WebSession).where(WebSession.token_hash == ws.token_hash).values(last_seen_at=now))
        return SessionInfo(token=token, csrf_token=ws.csrf_token, user_id=user.id, login_id=user.login_id,
                           display_name=user.display_name, role=user.role, mfa_passed=ws.mfa_passed,
                           reauth_at=ws.reauth_at,
                           password_expired=user.must_change_password or password_expired(settings, user, now))


def password_expired(settings: Settings, user: StaffUser, now: datetime) -> bool:
    if settings.password_max_age_days <= 0:
        return False
    changed = user.password_changed_at or user.created_at
    return now - changed > timedelta(days=settings.password_max_age_days)


@dataclass(frozen=True)
class SecondFactors:
    passkeys: int
    totp: bool


def second_factors(db: Database, *, user_id: int) -> SecondFactors:
    """Which second factors the sign-in step may offer this user (see the TOTP rule above)."""
    with db.transaction() as s:
        user = s.get(StaffUser, user_id)
        count = s.execute(select(func.count()).select_from(WebAuthnCredential)
                          .where(WebAuthnCredential.user_id == user_id)).scalar_one()
        return SecondFactors(passkeys=count, totp=bool(user and user.totp_allowed and not totp_lapsed(user, utcnow())))


def live_session(s, token: str, *, signed_in: bool) -> tuple[WebSession, StaffUser] | None:
    """The session row and its user, if the session is usable at this step (pre- or post-MFA)."""
    ws = s.get(WebSession, _hash_token(token)) if token else None
    if ws is None or ws.revoked or ws.mfa_passed != signed_in:
        return None
    if not signed_in and utcnow() - ws.created_at > timedelta(minutes=SECOND_STEP_MINUTES):
        return None  # the password was proven too long ago: start again
    user = s.get(StaffUser, ws.user_id)
    if user is None or _refusal(user, utcnow()):
        return None
    return ws, user


def reauth_with_totp(db: Database, settings: Settings, *, token: str, password: str, code: str,
                     client: str = "") -> None:
    """Prove both factors again inside a signed-in session, for a sensitive action (see web deps
    `require_recent_auth`). Failures count like sign-in failures."""
    keys = load_keyring(settings)
    code = totp_digits(code)
    now = utcnow()
    with db.transaction() as s:
        found = live_session(s, token, signed_in=True)
        if found is None:
            ok = False
        else:
            ws, user = found
            actor = user_actor(user)
            reason = "throttled" if client_throttled(s, client, now) else None
            password_ok = verify_password(user.password_hash, password)
            if reason is None and not password_ok:
                reason = "bad_password"
            if reason is None:
                reason = _check_totp(keys, user, code, now)
            ok = reason is None
            if ok:
                ws.reauth_at = now
                user.failed_logins = 0
                audit.record(s, actor, "auth.reauth", purpose="再認証", detail={"client": client, "factor": "totp"})
            else:
                if note_account_failure(s, user, now, actor):
                    ws.revoked = True
                note_client_failure(s, client, now)
                audit.record(s, actor, "auth.reauth_failed", purpose="再認証", detail={"reason": reason, "client": client})
    if not ok:
        raise AuthError(REAUTH_FAILED)


def change_password(db: Database, settings: Settings, *, token: str, current: str, new: str,
                    client: str = "") -> None:
    """The user sets a new password: the current one is required; the policy and the history apply;
    the user's other sessions end (a password change is also what one does after a suspected leak)."""
    now = utcnow()
    with db.transaction() as s:
        found = live_session(s, token, signed_in=True)
        if found is None:
            raise AuthError("ログインし直してください")
        ws, user = found
        actor = user_actor(user)
        if not verify_password(user.password_hash, current):
            if note_account_failure(s, user, now, actor):
                ws.revoked = True
            note_client_failure(s, client, now)
            audit.record(s, actor, "auth.password_change_failed", purpose="パスワードの変更",
                         detail={"reason": "bad_current_password", "client": client})
            failed = "現在のパスワードが正しくありません"
        else:
            failed = None
    if failed:
        raise AuthError(failed)
    check_password_rules(new, user.login_id)
    with db.transaction() as s:
        user = s.get(StaffUser, user.id)
        keep = max(settings.password_history_count, 1)
        history = s.execute(select(PasswordHistory).where(PasswordHistory.user_id == user.id)
                            .order_by(PasswordHistory.created_at.desc(), PasswordHistory.id.desc())).scalars().all()
        # The newest history row is the current password; accounts older than the history have only that.
        recent = dict.fromkeys([user.password_hash] + [h.password_hash for h in history[:keep]])
        if any(verify_password(h, new) for h in recent):
            raise InvalidInput(f"直近{keep}回以内に使ったパスワードは使えません")
        user.password_hash = _hasher.hash(new)
        user.password_changed_at = now
        user.must_change_password = False
        user.failed_logins = 0
        s.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash, created_at=now))
        for old in history[keep - 1:]:  # with the new row, `keep` remain
            s.delete(old)
        ended = s.execute(update(WebSession).where(WebSession.user_id == user.id, WebSession.revoked.is_(False),
                                                   WebSession.token_hash != _hash_token(token))
                          .values(revoked=True)).rowcount
        audit.record(s, user_actor(user), "auth.password_changed", purpose="パスワードの変更",
                     detail={"client": client, "other_sessions_ended": ended})


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
