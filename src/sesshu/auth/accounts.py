"""The security officer's account controls: the periodic review of accounts that should no longer
exist, the per-user TOTP fallback switch (the rule is in auth/service.py's docstring), and the account
lifecycle (deactivate / reactivate, valid-until date, role) — never on the officer's own account."""
from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import date, datetime

from sqlalchemy import func, select, update

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.auth.models import StaffUser, WebAuthnCredential, WebSession
from sesshu.auth.permissions import ROLES
from sesshu.clock import utcnow
from sesshu.db import Database
from sesshu.domain.errors import Conflict, Forbidden, InvalidInput, NotFound

DEFAULT_UNUSED_DAYS = 90
MAX_UNUSED_DAYS = 3660


@dataclass(frozen=True)
class AccountRow:
    login_id: str
    display_name: str
    role: str
    role_label: str
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None
    valid_until: date | None
    days_unused: int  # since the last sign-in, or since creation for an account never used
    passkeys: int
    totp_allowed: bool

    def as_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class AccountReview:
    as_of: date
    unused_days: int
    unused: list[AccountRow]  # active accounts not used for unused_days or more
    expired: list[AccountRow]  # accounts past their valid-until date

    def as_dict(self) -> dict:
        return {"as_of": self.as_of.isoformat(), "unused_days": self.unused_days,
                "unused": [r.as_dict() for r in self.unused], "expired": [r.as_dict() for r in self.expired]}


def _rows(s, now: datetime) -> list[AccountRow]:
    counts = dict(s.execute(select(WebAuthnCredential.user_id, func.count())
                            .group_by(WebAuthnCredential.user_id)).all())
    rows = []
    for u in s.execute(select(StaffUser).order_by(StaffUser.login_id)).scalars():
        used = u.last_login_at or u.created_at
        rows.append(AccountRow(login_id=u.login_id, display_name=u.display_name, role=u.role,
                               role_label=ROLES.get(u.role, {}).get("label", u.role), is_active=u.is_active,
                               created_at=u.created_at, last_login_at=u.last_login_at, valid_until=u.valid_until,
                               days_unused=(now - used).days, passkeys=counts.get(u.id, 0),
                               totp_allowed=u.totp_allowed))
    return rows


def list_accounts(db: Database, *, actor: Actor) -> list[AccountRow]:
    with db.transaction() as s:
        rows = _rows(s, utcnow())
        audit.record(s, actor, "user.list", purpose="職員アカウントの確認", detail={"accounts": len(rows)})
    return rows


def review_accounts(db: Database, *, actor: Actor, unused_days: int, today: date) -> AccountReview:
    """The periodic review (seed III: no unneeded ID remains): accounts unused for `unused_days` days
    (never signed in counts from creation) and accounts past their valid-until date. Audited."""
    if not 1 <= unused_days <= MAX_UNUSED_DAYS:
        raise InvalidInput(f"未使用日数は1〜{MAX_UNUSED_DAYS}の範囲で指定してください")
    now = utcnow()
    with db.transaction() as s:
        rows = _rows(s, now)
        review = AccountReview(
            as_of=today, unused_days=unused_days,
            unused=[r for r in rows if r.is_active and r.days_unused >= unused_days],
            expired=[r for r in rows if r.valid_until is not None and r.valid_until < today])
        audit.record(s, actor, "user.review", purpose="職員アカウントの定期点検",
                     detail={"unused_days": unused_days, "unused": len(review.unused), "expired": len(review.expired)})
    return review


def set_totp_fallback(db: Database, *, actor: Actor, login_id: str, allowed: bool, reason: str) -> None:
    """Allow or deny the TOTP code as second factor for one user; the reason is on record."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("理由を入力してください")
    if len(reason) > 200:
        raise InvalidInput("理由は200文字以内で入力してください")
    with db.transaction() as s:
        user = s.execute(select(StaffUser).where(StaffUser.login_id == login_id)).scalar_one_or_none()
        if user is None:
            raise NotFound(f"ID {login_id} の職員はいません")
        # Turning one's own biometric factor down to a code needs a second person (another officer, or
        # the server's operator with `sesshu user totp-fallback`); the attempt is on record.
        self_downgrade = allowed and actor.kind == "user" and actor.user_id == user.id
        if self_downgrade:
            audit.record(s, actor, "user.totp_fallback_refused", purpose="職員アカウントの管理",
                         detail={"login_id": login_id, "reason": reason})
        else:
            _set_totp_fallback(s, actor, user, allowed=allowed, reason=reason)
    if self_downgrade:
        raise Forbidden("ご自身の確認コードでのログインは許可できません。別のセキュリティ責任者に依頼してください")


def _set_totp_fallback(s, actor: Actor, user: StaffUser, *, allowed: bool, reason: str) -> None:
    passkeys = s.execute(select(func.count()).select_from(WebAuthnCredential)
                         .where(WebAuthnCredential.user_id == user.id)).scalar_one()
    if not allowed and passkeys == 0:
        raise Conflict("パスキーを登録していない職員の確認コードを停止すると、ログインできなくなります")
    from sesshu.auth.service import TOTP_FALLBACK

    user.totp_allowed = allowed
    # A fallback for a lost authenticator, not a way back to codes for good: it lapses (auth.service).
    user.totp_allowed_until = utcnow() + TOTP_FALLBACK if allowed and not user.is_demo else None
    audit.record(s, actor, "user.totp_fallback", purpose="職員アカウントの管理",
                 detail={"login_id": user.login_id, "allowed": allowed, "reason": reason, "passkeys": passkeys,
                         "until": user.totp_allowed_until})


# --- account lifecycle (退職・休職・異動): seed III, IDs are issued, changed and retired as staff move ----

MAX_REASON = 200


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidInput("理由を入力してください")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"理由は{MAX_REASON}文字以内で入力してください")
    return reason


def _end_sessions(s, user: StaffUser) -> int:
    """Revoke every live session of the account (signed in or half-way): the next request is refused."""
    return s.execute(update(WebSession).where(WebSession.user_id == user.id, WebSession.revoked.is_(False))
                     .values(revoked=True)).rowcount


def _change_account(db: Database, actor: Actor, login_id: str, change: str, reason: str, apply) -> None:
    """Look the account up, refuse (and record) a security officer changing their own account — that
    needs a second person — and otherwise apply the change in the same transaction as its audit entry."""
    reason = _reason(reason)
    with db.transaction() as s:
        user = s.execute(select(StaffUser).where(StaffUser.login_id == login_id)).scalar_one_or_none()
        if user is None:
            raise NotFound(f"ID {login_id} の職員はいません")
        own = actor.kind == "user" and actor.user_id == user.id
        if own:
            audit.record(s, actor, "user.self_change_refused", purpose="職員アカウントの管理",
                         detail={"login_id": login_id, "change": change, "reason": reason})
        else:
            apply(s, user, reason)
    if own:
        raise Forbidden("ご自身のアカウントの停止・変更はできません。別のセキュリティ責任者に依頼してください")


def deactivate_account(db: Database, *, actor: Actor, login_id: str, reason: str) -> None:
    """退職・休職: the account can no longer sign in, and its sessions end at once."""
    def apply(s, user: StaffUser, reason: str) -> None:
        if not user.is_active:
            raise Conflict(f"ID {login_id} は既に停止されています")
        user.is_active = False
        ended = _end_sessions(s, user)
        audit.record(s, actor, "user.deactivate", purpose="職員アカウントの管理",
                     detail={"login_id": login_id, "reason": reason, "ended_sessions": ended})

    _change_account(db, actor, login_id, "deactivate", reason, apply)


def reactivate_account(db: Database, *, actor: Actor, login_id: str, reason: str, today: date) -> None:
    """復職など: the account may sign in again (not past its valid-until date: change that first)."""
    def apply(s, user: StaffUser, reason: str) -> None:
        if user.is_active:
            raise Conflict(f"ID {login_id} は停止されていません")
        if user.valid_until is not None and user.valid_until < today:
            raise Conflict(f"ID {login_id} は有効期限（{user.valid_until.isoformat()}）を過ぎています。"
                           "先に有効期限を変更してください")
        user.is_active = True
        user.failed_logins = 0
        user.locked_until = None
        audit.record(s, actor, "user.reactivate", purpose="職員アカウントの管理",
                     detail={"login_id": login_id, "reason": reason})

    _change_account(db, actor, login_id, "reactivate", reason, apply)


def check_valid_until(valid_until: date | None, today: date) -> None:
    """A last day already past is refused (for a new account and a changed one alike): ending an account
    now is deactivation, with its own record."""
    if valid_until is not None and valid_until < today:
        raise InvalidInput("有効期限には今日以降の日付を指定してください（すぐに停止する場合は「無効化」を使います）")


def set_valid_until(db: Database, *, actor: Actor, login_id: str, valid_until: date | None, reason: str,
                    today: date) -> None:
    """人事異動・任期: the last day the account may be used (None: no end date)."""
    check_valid_until(valid_until, today)

    def apply(s, user: StaffUser, reason: str) -> None:
        if user.valid_until == valid_until:
            raise Conflict(f"ID {login_id} の有効期限は既にその日付です")
        before = user.valid_until
        user.valid_until = valid_until
        audit.record(s, actor, "user.valid_until", purpose="職員アカウントの管理",
                     detail={"login_id": login_id, "before": before.isoformat() if before else None,
                             "after": valid_until.isoformat() if valid_until else None, "reason": reason})

    _change_account(db, actor, login_id, "valid_until", reason, apply)


def set_role(db: Database, *, actor: Actor, login_id: str, role: str, reason: str) -> None:
    """人事異動: a new role; the account's sessions end so the next sign-in carries only the new rights."""
    if role not in ROLES:
        raise InvalidInput(f"役割が正しくありません: {role}（{' / '.join(ROLES)}）")

    def apply(s, user: StaffUser, reason: str) -> None:
        if user.role == role:
            raise Conflict(f"ID {login_id} の役割は既に{ROLES[role]['label']}です")
        before = user.role
        user.role = role
        ended = _end_sessions(s, user)
        audit.record(s, actor, "user.role", purpose="職員アカウントの管理",
                     detail={"login_id": login_id, "before": before, "after": role, "reason": reason,
                             "ended_sessions": ended})

    _change_account(db, actor, login_id, "role", reason, apply)


# --- accounts made and passwords reset by the security officer on the web -----------------------------

@dataclass(frozen=True)
class IssuedCredentials:
    """Shown once to the security officer, to hand to the user in person; never stored in clear."""

    login_id: str
    password: str  # one-time: the user must choose their own at the next sign-in
    totp_secret: str = ""


def temporary_password(login_id: str) -> str:
    """A random one-time password that meets the password policy."""
    from sesshu.auth.service import check_password_rules

    while True:
        candidate = secrets.token_urlsafe(12)
        try:
            check_password_rules(candidate, login_id)
        except InvalidInput:
            continue
        return candidate


def create_account(db: Database, settings, *, actor: Actor, login_id: str, display_name: str, role: str,
                   valid_until: date | None, tasks: tuple[tuple[str, str], ...]) -> IssuedCredentials:
    """`sesshu user add` on the web: the account with a one-time password (changed at first sign-in) and
    its TOTP secret; audited as user.create by the service. The CLI needs no second person for this, nor
    does the web; every account is listed for the periodic review."""
    from sesshu.auth.service import create_user

    display_name = " ".join(display_name.split())
    if not display_name:
        raise InvalidInput("氏名を入力してください")
    password = temporary_password(login_id.strip())
    new = create_user(db, settings, actor=actor, login_id=login_id, display_name=display_name, role=role,
                      password=password, valid_until=valid_until, tasks=tasks, must_change_password=True)
    return IssuedCredentials(login_id=new.login_id, password=password, totp_secret=new.totp_secret)


def reset_password(db: Database, *, actor: Actor, login_id: str, reason: str) -> IssuedCredentials:
    """A forgotten password: a one-time password the user must replace at the next sign-in; the account's
    sessions end and a lock-out is lifted. Not for one's own account (that needs a second person)."""
    from sesshu.auth.models import PasswordHistory
    from sesshu.auth.service import _hasher

    password = temporary_password(login_id)

    def apply(s, user: StaffUser, reason: str) -> None:
        now = utcnow()
        user.password_hash = _hasher.hash(password)
        user.password_changed_at = now
        user.must_change_password = True
        user.failed_logins, user.locked_until = 0, None
        s.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash, created_at=now))
        ended = _end_sessions(s, user)
        audit.record(s, actor, "user.password_reset", purpose="職員アカウントの管理",
                     detail={"login_id": user.login_id, "reason": reason, "ended_sessions": ended})

    _change_account(db, actor, login_id, "password_reset", reason, apply)
    return IssuedCredentials(login_id=login_id, password=password)
