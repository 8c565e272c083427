"""`sesshu user review` and `sesshu user totp-fallback`: the security officer's account controls on
the command line, over the same services as the web pages (the OS user is the actor on record)."""
from __future__ import annotations

import json

import typer

from sesshu.actor import os_actor
from sesshu.auth import accounts
from sesshu.clock import today_jst
from sesshu.config import load_settings
from sesshu.db import make_database


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


def register(user_app: typer.Typer) -> None:
    user_app.command("review")(review)
    user_app.command("totp-fallback")(totp_fallback)
