"""The security officer's account controls: the periodic review of accounts that should no longer
exist, and the per-user TOTP fallback switch (the rule is in auth/service.py's docstring)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.auth.models import StaffUser, WebAuthnCredential
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
    user.totp_allowed = allowed
    audit.record(s, actor, "user.totp_fallback", purpose="職員アカウントの管理",
                 detail={"login_id": user.login_id, "allowed": allowed, "reason": reason, "passkeys": passkeys})
