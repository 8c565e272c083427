"""`sesshu campaign check|propose|list|show`: uploaded rule files (特措法 campaigns, amendments of the
shipped rule files, the city's settings).

`check` validates and previews (changes nothing). `propose` is a supervisor's request: it signs the
supervisor in (password and 確認コード, as on the web) and files an approval request; a second
supervisor activates it on the web (/approvals). `list` shows every version and its state.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

campaign_app = typer.Typer(help="接種ルールの改正・特措法接種の実施計画（検証・申請・一覧）", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(campaign_app, name="campaign")


def _db():
    from sesshu.config import load_settings
    from sesshu.db import make_database

    settings = load_settings()
    return make_database(settings), settings


def _echo_json(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        typer.echo(f"エラー: ファイルを読めません: {path}（{e.strerror}）", err=True)
        raise typer.Exit(2) from e


@campaign_app.command("check")
def campaign_check(file: Path = typer.Argument(..., help="ルールファイル（YAML）"),
                   as_of: Optional[str] = typer.Option(None, "--as-of", help="対象者数を数える日（省略時は適用開始日）"),
                   as_json: bool = typer.Option(False, "--json")) -> None:
    """ルールファイルを検証し、影響（群ごとの人数・対象者数・判定が変わる記録）を表示します。何も変更しません。"""
    from sesshu.actor import os_actor
    from sesshu.domain.wareki import parse_optional_date
    from sesshu.rulesets.service import preview

    db, _ = _db()
    p = preview(db, actor=os_actor(), raw=_read(file), as_of=parse_optional_date(as_of, "基準日"))
    d = p.as_dict()
    if as_json:
        _echo_json(d)
        return
    typer.echo(f"検証OK: {d['title']}（{d['kind']} {d['name']} 第{d['version']}版・{d['effective_from']}から）")
    typer.echo(f"SHA-256: {d['sha256']}")
    if d["vaccine_codes"]:
        typer.echo(f"ワクチン: {', '.join(d['vaccine_codes'])}")
    for g in d["groups"]:
        typer.echo(f"接種順位の群 {g['id']}（{g['name']}）: {g['residents']} 人（{d['preview_date']} 現在の登録）")
    for x in d["lines"]:
        typer.echo(f"{x['line']}（{x['name']}）: {d['preview_date']} に接種できる住民 {x['residents']} 人")
    typer.echo(f"判定し直す方: {d['persons_judged']} 人、判定が変わる記録: {d['verdicts_changed']} 件")
    for k, n in p.changed_by_kind.items():
        typer.echo(f"  {k}: {n} 件")
    for e in d["examples"]:
        typer.echo(f"  例: 記録 {e['record_id']}（宛名番号 {e['atena_no']}・{e['vaccine']}・{e['vaccinated_on']}）"
                   f" {e['before']} → {e['after']}")


@campaign_app.command("propose")
def campaign_propose(file: Path = typer.Argument(..., help="ルールファイル（YAML）"),
                     reason: str = typer.Option(..., "--reason", help="申請理由（通知名・決定日など）"),
                     user: str = typer.Option(..., "--user", help="申請する上長のログインID")) -> None:
    """ルールファイルの適用を申請します（別の上長がWeb画面の承認で適用します）。"""
    from sesshu.auth.service import login_password, login_totp, logout
    from sesshu.rulesets.service import propose

    db, settings = _db()
    raw = _read(file)
    password = typer.prompt("パスワード", hide_input=True)
    first = login_password(db, login_id=user, password=password, client="cli")
    code = typer.prompt("確認コード（6桁）")
    signed = login_totp(db, settings, token=first.token, code=code, client="cli")
    try:
        from sesshu.actor import Actor

        actor = Actor(login_id=signed.login_id, kind="user", role=signed.role, user_id=signed.user_id)
        row = propose(db, settings, actor=actor, raw=raw, reason=reason)
    finally:
        logout(db, token=signed.token)
    typer.echo(f"申請しました: 登録番号 {row.id}（{row.kind} {row.name} 第{row.version}版・"
               f"{row.effective_from.isoformat()}から）承認申請 {row.approval_id}。"
               "別の上長がWeb画面（承認待ち）で承認すると適用されます")


@campaign_app.command("list")
def campaign_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """登録されたルールファイルの版と状態を表示します。"""
    from sesshu.actor import os_actor
    from sesshu.rulesets.service import list_rule_sets

    db, _ = _db()
    rows = list_rule_sets(db, actor=os_actor())
    if as_json:
        _echo_json([r.as_dict() for r in rows])
        return
    typer.echo(f"{len(rows)} 件")
    for r in rows:
        until = f"〜{r.effective_until}" if r.effective_until else "〜"
        typer.echo(f"{r.id}\t{r.kind}\t{r.name}\t第{r.version}版\t{r.status_label}\t{r.effective_from}{until}\t"
                   f"{','.join(r.vaccine_codes)}\t{','.join(r.group_ids)}")


@campaign_app.command("show")
def campaign_show(rule_set_id: int) -> None:
    """登録されたルールファイルの本文を表示します。"""
    from sesshu.actor import os_actor
    from sesshu.rulesets.service import rule_set_text

    db, _ = _db()
    typer.echo(rule_set_text(db, actor=os_actor(), rule_set_id=rule_set_id), nl=False)
