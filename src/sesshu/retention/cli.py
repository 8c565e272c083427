"""`sesshu retention due | purge`: what has passed its retention period, and the approved erasure."""
from __future__ import annotations

import json
from typing import Optional

import typer

retention_app = typer.Typer(help="保存期間と消去", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")


def _db():
    from sesshu.config import load_settings
    from sesshu.db import make_database

    settings = load_settings()
    return make_database(settings), settings


@retention_app.command("due")
def retention_due(as_of: Optional[str] = typer.Option(None, "--as-of", help="基準日（既定: 今日）"),
                  show_list: bool = typer.Option(False, "--list", help="対象の宛名番号も表示する"),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """区分ごとに、保存期間を過ぎて消去の対象になったデータを表示する。"""
    from sesshu.actor import os_actor
    from sesshu.clock import today_jst
    from sesshu.domain.wareki import parse_optional_date
    from sesshu.retention.service import due

    db, _ = _db()
    day = parse_optional_date(as_of, "基準日") or today_jst()
    rows = due(db, actor=os_actor(), today=day)
    if as_json:
        typer.echo(json.dumps([{"category": c.code, "label": c.label, "years": c.years, "enabled": c.enabled,
                                "source": c.source, "count": c.count, "held": len(c.held),
                                **({"atena_nos": c.units} if show_list else {})} for c in rows],
                              ensure_ascii=False, indent=2))
        return
    typer.echo(f"基準日 {day.isoformat()}")
    for c in rows:
        state = f"{c.count} 人" if c.enabled else "消去しない設定"
        typer.echo(f"- {c.label}（{c.years}年）: {state}" + (f"（保留 {len(c.held)} 人）" if c.held else ""))
        typer.echo(f"    根拠: {c.source}")
        if show_list:
            for a, d in c.due:
                typer.echo(f"    {a}  {d.isoformat()}")
    typer.echo("消去するには、Web画面（保存期間）で申請し、別の上長の承認を受けてから "
               "sesshu retention purge --approval 申請番号 を実行してください。")


@retention_app.command("purge")
def retention_purge(approval: int = typer.Option(..., "--approval", help="承認済みの消去申請の申請番号"),
                    chunk_size: int = typer.Option(200, "--chunk-size", min=1, max=10000),
                    max_chunks: Optional[int] = typer.Option(None, "--max-chunks", min=1)) -> None:
    """承認済みの申請に従い、対象者のデータを復元できない形で消去する（中断しても再実行で続きから）。"""
    from sesshu.actor import os_actor
    from sesshu.retention.service import purge

    db, settings = _db()
    out = purge(db, settings, actor=os_actor(), approval_id=approval, chunk_size=chunk_size, max_chunks=max_chunks)
    if out.already_done:
        typer.echo(f"申請番号 {approval} の消去は完了済みです（ジョブ {out.job_id}）。")
    elif out.status == "done":
        typer.echo(f"消去しました: {out.total_units} 人（ジョブ {out.job_id}）。領域を再構成しました（VACUUM）。")
    else:
        typer.echo(f"途中まで消去しました: {out.done_units}/{out.total_units} 人（ジョブ {out.job_id}）。"
                   "同じコマンドで続きを実行します。")
