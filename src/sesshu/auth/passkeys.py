"""Passkeys (WebAuthn, py_webauthn): the biometric second factor of seed III.

A passkey here is a platform authenticator (Windows Hello, Touch ID, Android…) and every ceremony
requires user verification (fingerprint, face or device PIN): an authenticator response without the
UV flag is refused. The relying party is `settings.webauthn_rp_id`; the browser-reported origin must
be one of `settings.webauthn_origin` (comma-separated).

Each challenge is bound to the web session that asked for it (pre-MFA session for sign-in, signed-in
session for registration and re-authentication), is valid for CHALLENGE_SECONDS and is consumed by
the first answer, right or wrong. A sign count that does not grow is refused (a cloned
authenticator). Registration, removal, every success and every failure are audited in the same
transaction.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url, base64url_to_bytes, parse_registration_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorAttachment,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from sesshu.audit import service as audit
from sesshu.auth.models import StaffUser, WebAuthnCredential, WebSession
from sesshu.auth.service import (
    REAUTH_FAILED,
    AuthError,
    SessionInfo,
    client_throttled,
    finish_second_factor,
    live_session,
    note_account_failure,
    note_client_failure,
    user_actor,
    verify_password,
)
from sesshu.clock import utcnow
from sesshu.config import Settings
from sesshu.db import Database, get_row
from sesshu.domain.errors import Conflict, InvalidInput, NotFound

CHALLENGE_SECONDS = 120
PURPOSE_LOGIN, PURPOSE_REGISTER, PURPOSE_REAUTH = "login", "register", "reauth"
PASSKEY_FAILED = "パスキーによる認証に失敗しました。もう一度お試しください"
MAX_LABEL = 60


@dataclass(frozen=True)
class PasskeyInfo:
    id: int
    label: str
    transports: str
    created_at: datetime
    last_used_at: datetime | None


def _origins(settings: Settings) -> list[str]:
    return [o.strip().rstrip("/") for o in settings.webauthn_origin.split(",") if o.strip()]


def _store_challenge(ws: WebSession, purpose: str, challenge: bytes, now: datetime) -> None:
    ws.challenge = bytes_to_base64url(challenge)
    ws.challenge_purpose = purpose
    ws.challenge_expires_at = now + timedelta(seconds=CHALLENGE_SECONDS)


def _take_challenge(ws: WebSession, purpose: str, now: datetime) -> bytes | None:
    """The outstanding challenge for this purpose, cleared whatever happens next (single use)."""
    value, kind, expires = ws.challenge, ws.challenge_purpose, ws.challenge_expires_at
    ws.challenge = ws.challenge_purpose = ws.challenge_expires_at = None
    if not value or kind != purpose or expires is None or expires < now:
        return None
    return base64url_to_bytes(value)


def _reason(exc: Exception) -> str:
    text = str(exc).lower()
    for needle, reason in (("sign count", "sign_count_regression"), ("user verification", "user_not_verified"),
                           ("origin", "origin_mismatch"), ("rp id", "rp_id_mismatch"),
                           ("challenge", "challenge_mismatch"), ("signature", "bad_signature")):
        if needle in text:
            return reason
    return "invalid_response"


def _descriptors(rows) -> list[PublicKeyCredentialDescriptor]:
    out = []
    for r in rows:
        transports = [AuthenticatorTransport(t) for t in r.transports.split(",")
                      if t in {m.value for m in AuthenticatorTransport}]
        out.append(PublicKeyCredentialDescriptor(id=base64url_to_bytes(r.credential_id), transports=transports or None))
    return out


def _user_passkeys(s, user_id: int) -> list[WebAuthnCredential]:
    return list(s.execute(select(WebAuthnCredential).where(WebAuthnCredential.user_id == user_id)
                          .order_by(WebAuthnCredential.id)).scalars())


def _request_options(settings: Settings, ws: WebSession, rows, purpose: str, now: datetime) -> dict:
    options = generate_authentication_options(
        rp_id=settings.webauthn_rp_id, timeout=CHALLENGE_SECONDS * 1000, allow_credentials=_descriptors(rows),
        user_verification=UserVerificationRequirement.REQUIRED)
    _store_challenge(ws, purpose, options.challenge, now)
    return json.loads(options_to_json(options))


def _check_assertion(s, settings: Settings, ws: WebSession, user: StaffUser, purpose: str, credential,
                     now: datetime) -> tuple[WebAuthnCredential | None, str | None]:
    """(the passkey used, None) when the answer proves possession and user verification, else a reason."""
    challenge = _take_challenge(ws, purpose, now)
    if challenge is None:
        return None, "no_challenge"  # never asked, expired, or already answered once
    cred_id = credential.get("id") if isinstance(credential, dict) else None
    if not isinstance(cred_id, str) or len(cred_id) > 1400:
        return None, "invalid_response"
    row = s.execute(select(WebAuthnCredential).where(WebAuthnCredential.credential_id == cred_id,
                                                     WebAuthnCredential.user_id == user.id)).scalar_one_or_none()
    if row is None:
        return None, "unknown_credential"
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=settings.webauthn_rp_id,
            expected_origin=_origins(settings), credential_public_key=row.public_key,
            credential_current_sign_count=row.sign_count, require_user_verification=True)
    except WebAuthnException as e:
        return row, _reason(e)
    except (ValueError, TypeError, KeyError, AttributeError):
        return row, "invalid_response"
    row.sign_count = verified.new_sign_count
    row.last_used_at = now
    return row, None


# --- sign-in: the second step after ID + password ---------------------------------------------------

def login_options(db: Database, settings: Settings, *, token: str) -> dict:
    return _options(db, settings, token=token, signed_in=False, purpose=PURPOSE_LOGIN, failure=PASSKEY_FAILED)


def _options(db: Database, settings: Settings, *, token: str, signed_in: bool, purpose: str, failure: str) -> dict:
    """A fresh challenge for the session's user, listing their passkeys (sign-in or re-authentication)."""
    now = utcnow()
    with db.transaction() as s:
        found = live_session(s, token, signed_in=signed_in)
        rows = _user_passkeys(s, found[1].id) if found else []
        if not rows:
            raise AuthError(failure)
        return _request_options(settings, found[0], rows, purpose, now)


def login_passkey(db: Database, settings: Settings, *, token: str, credential, client: str = "") -> SessionInfo:
    """Second factor by passkey. Success replaces the pre-MFA session with a new, signed-in one."""
    now = utcnow()
    with db.transaction() as s:
        found = live_session(s, token, signed_in=False)
        result = None
        if found is not None:
            ws, user = found
            if client_throttled(s, client, now):
                row, reason = None, "throttled"
            else:
                row, reason = _check_assertion(s, settings, ws, user, PURPOSE_LOGIN, credential, now)
            detail = {"client": client, "factor": "passkey", "passkey": row.label if row else None}
            result = finish_second_factor(s, ws, user, reason=reason, detail=detail, client=client, now=now)
    if result is None:
        raise AuthError(PASSKEY_FAILED)
    return result


# --- re-authentication inside a signed-in session ---------------------------------------------------

def reauth_options(db: Database, settings: Settings, *, token: str) -> dict:
    return _options(db, settings, token=token, signed_in=True, purpose=PURPOSE_REAUTH, failure=REAUTH_FAILED)


def reauth_with_passkey(db: Database, settings: Settings, *, token: str, password: str, credential,
                        client: str = "") -> None:
    now = utcnow()
    with db.transaction() as s:
        found = live_session(s, token, signed_in=True)
        ok = False
        if found is not None:
            ws, user = found
            actor = user_actor(user)
            password_ok = verify_password(user.password_hash, password)
            row, reason = None, None
            if client_throttled(s, client, now):
                reason = "throttled"
            else:
                row, reason = _check_assertion(s, settings, ws, user, PURPOSE_REAUTH, credential, now)
                if reason is None and not password_ok:
                    reason = "bad_password"
            detail = {"client": client, "factor": "passkey", "passkey": row.label if row else None}
            ok = reason is None
            if ok:
                ws.reauth_at = now
                user.failed_logins = 0
                audit.record(s, actor, "auth.reauth", purpose="再認証", detail=detail)
            else:
                if note_account_failure(s, user, now, actor):
                    ws.revoked = True
                note_client_failure(s, client, now)
                audit.record(s, actor, "auth.reauth_failed", purpose="再認証", detail=detail | {"reason": reason})
    if not ok:
        raise AuthError(REAUTH_FAILED)


# --- the user's own passkeys ------------------------------------------------------------------------

def _signed_in(s, token: str) -> tuple[WebSession, StaffUser]:
    found = live_session(s, token, signed_in=True)
    if found is None:
        raise AuthError("ログインし直してください")
    return found


def registration_options(db: Database, settings: Settings, *, token: str) -> dict:
    now = utcnow()
    with db.transaction() as s:
        ws, user = _signed_in(s, token)
        options = generate_registration_options(
            rp_id=settings.webauthn_rp_id, rp_name=f"予防接種台帳（{settings.municipality_name}）",
            user_id=f"sesshu-staff-{user.id}".encode(), user_name=user.login_id, user_display_name=user.display_name,
            timeout=CHALLENGE_SECONDS * 1000, attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                authenticator_attachment=AuthenticatorAttachment.PLATFORM,
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.REQUIRED),
            exclude_credentials=_descriptors(_user_passkeys(s, user.id)))
        _store_challenge(ws, PURPOSE_REGISTER, options.challenge, now)
        return json.loads(options_to_json(options))


def register_passkey(db: Database, settings: Settings, *, token: str, credential, label: str,
                     client: str = "") -> PasskeyInfo:
    """Store a new passkey for the signed-in user. The first passkey turns the TOTP code off for this
    account (a security officer can allow it again as a fallback)."""
    label = " ".join(label.split())[:MAX_LABEL] or "パスキー"
    now = utcnow()
    with db.transaction() as s:
        ws, user = _signed_in(s, token)
        actor = user_actor(user)
        challenge = _take_challenge(ws, PURPOSE_REGISTER, now)
        reason, verified, parsed = None, None, None
        if challenge is None:
            reason = "no_challenge"
        else:
            try:
                parsed = parse_registration_credential_json(credential)
                if parsed.authenticator_attachment not in (None, AuthenticatorAttachment.PLATFORM):
                    reason = "not_platform_authenticator"
                else:
                    verified = verify_registration_response(
                        credential=parsed, expected_challenge=challenge, expected_rp_id=settings.webauthn_rp_id,
                        expected_origin=_origins(settings), require_user_verification=True)
            except WebAuthnException as e:
                reason = _reason(e)
            except (ValueError, TypeError, KeyError, AttributeError):
                reason = "invalid_response"
        cred_id = bytes_to_base64url(verified.credential_id) if verified else ""
        if verified and s.execute(select(WebAuthnCredential.id)
                                  .where(WebAuthnCredential.credential_id == cred_id)).first():
            reason = "already_registered"
        if reason:
            audit.record(s, actor, "auth.passkey_register_failed", purpose="パスキーの登録",
                         detail={"reason": reason, "client": client})
            failed = reason
        else:
            failed = None
            existing = len(_user_passkeys(s, user.id))
            transports = ",".join(t.value for t in (parsed.response.transports or []))
            row = WebAuthnCredential(user_id=user.id, credential_id=cred_id, public_key=verified.credential_public_key,
                                     sign_count=verified.sign_count, transports=transports[:200], label=label,
                                     created_at=now)
            s.add(row)
            totp_turned_off = existing == 0 and user.totp_allowed
            if totp_turned_off:
                user.totp_allowed = False
            s.flush()
            audit.record(s, actor, "auth.passkey_registered", purpose="パスキーの登録",
                         detail={"passkey_id": row.id, "label": label, "transports": transports, "aaguid": verified.aaguid,
                                 "totp_turned_off": totp_turned_off, "client": client})
            info = PasskeyInfo(id=row.id, label=row.label, transports=row.transports, created_at=row.created_at,
                               last_used_at=None)
    if failed == "already_registered":
        raise Conflict("このパスキーは既に登録されています")
    if failed:
        raise InvalidInput("パスキーを登録できませんでした。この端末の生体認証（または端末のPIN）で、もう一度お試しください")
    return info


def list_passkeys(db: Database, *, user_id: int) -> list[PasskeyInfo]:
    with db.transaction() as s:
        return [PasskeyInfo(id=r.id, label=r.label, transports=r.transports, created_at=r.created_at,
                            last_used_at=r.last_used_at) for r in _user_passkeys(s, user_id)]


def remove_passkey(db: Database, *, token: str, passkey_id: int, client: str = "") -> None:
    """Remove one of the user's own passkeys; never the last one while TOTP is not allowed for the
    account (the user could not sign in any more). Someone else's passkey is answered like a missing
    one, and the attempt is on record."""
    with db.transaction() as s:
        _ws, user = _signed_in(s, token)
        row = get_row(s, WebAuthnCredential, passkey_id)
        refused = row is None or row.user_id != user.id
        if refused:
            if row is not None:
                audit.record(s, user_actor(user), "auth.passkey_remove_refused", purpose="パスキーの削除",
                             detail={"passkey_id": passkey_id, "client": client})
        else:
            remaining = s.execute(select(func.count()).select_from(WebAuthnCredential)
                                  .where(WebAuthnCredential.user_id == user.id)).scalar_one() - 1
            if remaining == 0 and not user.totp_allowed:
                raise Conflict("最後のパスキーは削除できません。端末を替える場合は、新しい端末のパスキーを先に登録してください"
                               "（端末を失くした場合はセキュリティ責任者に確認コードでのログインの許可を依頼してください）")
            s.delete(row)
            audit.record(s, user_actor(user), "auth.passkey_removed", purpose="パスキーの削除",
                         detail={"passkey_id": passkey_id, "label": row.label, "remaining": remaining,
                                 "client": client})
    if refused:
        raise NotFound("パスキーが見つかりません")
