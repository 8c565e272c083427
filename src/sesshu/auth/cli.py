"""`sesshu user review`, `totp-fallback`, `disable`, `enable` and `set`: the security officer's account
controls on the command line, over the same services as the web pages (the OS user is the actor on record)."""
from __future__ import annotations

import json
from datetime import date
from typing import Optional

import typer

from sesshu.actor import os_actor
from sesshu.auth import accounts
from sesshu.clock import today_jst
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.domain.errors import InvalidInput
from sesshu.domain.wareki import parse_optional_date


def _fmt(value) -> str:
    return value.strftime("%Y-%m-%d") if value else "-"


def review(unused_days: int = typer.Option(accounts.DEFAULT_UNUSED_DAYS, "--unused-days",
                                           help="この日数以上ログインのないIDを表示（作成後ログインなしを含む）"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """定期点検: 使われていないIDと有効期限を過ぎたIDを表示します（表示は操作記録に残ります）。"""
    db = make_database(load_settings())
    result = accounts.review_accounts(db, actor=os_actor(), unused_days=unused_days, today=today_jst())
    if as_json:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    for title, rows in ((f"{unused_days}日以上使われていないID", result.unused), ("有効期限を過ぎたID", result.expired)):
        typer.echo(f"{title}: {len(rows)} 件")
        for r in rows:
            typer.echo(f"  {r.login_id}\t{r.display_name}\t{r.role_label}\t{'有効' if r.is_active else '停止'}\t"
                       f"最終ログイン {_fmt(r.last_login_at)}\t未使用 {r.days_unused}日\t有効期限 {_fmt(r.valid_until)}")


def totp_fallback(login_id: str, allow: bool = typer.Option(..., "--allow/--deny",
                                                             help="確認コード（TOTP）でのログインを許可／停止"),
                  reason: str = typer.Option(..., help="理由（記録されます）")) -> None:
    """パスキーを使えない職員に、確認コード（TOTP）でのログインを許可・停止します。"""
    db = make_database(load_settings())
    accounts.set_totp_fallback(db, actor=os_actor(), login_id=login_id, allowed=allow, reason=reason)
    typer.echo(f"{login_id} の確認コードでのログインを{'許可' if allow else '停止'}しました")


def disable(login_id: str, reason: str = typer.Option(..., help="理由（退職・休職など。記録されます）")) -> None:
    """職員アカウントを停止します（退職・休職など）。ログイン中のセッションもすぐに終了します。"""
    db = make_database(load_settings())
    accounts.deactivate_account(db, actor=os_actor(), login_id=login_id, reason=reason)
    typer.echo(f"{login_id} を停止しました")


def enable(login_id: str, reason: str = typer.Option(..., help="理由（復職など。記録されます）")) -> None:
    """停止した職員アカウントを再び使えるようにします。"""
    db = make_database(load_settings())
    accounts.reactivate_account(db, actor=os_actor(), login_id=login_id, reason=reason, today=today_jst())
    typer.echo(f"{login_id} を再び有効にしました")


def _valid_until(value: str) -> Optional[date]:
    if value.strip().lower() == "none":
        return None
    return parse_optional_date(value, "有効期限")


def set_account(login_id: str,
                valid_until: Optional[str] = typer.Option(None, "--valid-until",
                                                          help="有効期限（この日まで。none で期限なし）"),
                role: Optional[str] = typer.Option(None, "--role",
                                                   help="clerk / supervisor / security_officer / auditor"),
                reason: str = typer.Option(..., help="理由（人事異動など。記録されます）")) -> None:
    """職員アカウントの有効期限・役割を変更します（役割の変更ではログイン中のセッションが終了します）。"""
    if valid_until is None and role is None:
        raise InvalidInput("--valid-until か --role のどちらかを指定してください")
    if role is not None and role not in accounts.ROLES:  # before any change: nothing half-done
        raise InvalidInput(f"役割が正しくありません: {role}（{' / '.join(accounts.ROLES)}）")
    until = _valid_until(valid_until) if valid_until is not None else None
    db = make_database(load_settings())
    if valid_until is not None:
        accounts.set_valid_until(db, actor=os_actor(), login_id=login_id, valid_until=until, reason=reason,
                                 today=today_jst())
        typer.echo(f"{login_id} の有効期限を{until.isoformat() if until else 'なし'}に変更しました")
    if role is not None:
        accounts.set_role(db, actor=os_actor(), login_id=login_id, role=role, reason=reason)
        typer.echo(f"{login_id} の役割を{accounts.ROLES[role]['label']}に変更しました")


def register(user_app: typer.Typer) -> None:
    user_app.command("review")(review)
    user_app.command("totp-fallback")(totp_fallback)
    user_app.command("disable")(disable)
    user_app.command("enable")(enable)
    user_app.command("set")(set_account)
