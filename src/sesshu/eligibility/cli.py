"""`sesshu eligibility rebuild`: build (or rebuild) the eligibility table for a period."""
from __future__ import annotations

from typing import Optional

import typer

eligibility_app = typer.Typer(help="接種可能範囲の表（対象者選定の索引）", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(eligibility_app, name="eligibility")


@eligibility_app.command("rebuild")
def rebuild_cmd(first: Optional[str] = typer.Option(None, "--from", help="期間の始まり（省略時は今日の31日前）"),
                last: Optional[str] = typer.Option(None, "--to", help="期間の終わり（省略時は今日の214日後）")) -> None:
    """住民・住登外者全員の接種可能範囲を期間について作り直します（アップグレード後・毎月の実行を想定）。"""
    import time

    from sesshu.actor import os_actor
    from sesshu.clock import today_jst
    from sesshu.config import load_settings
    from sesshu.db import make_database
    from sesshu.domain.errors import InvalidInput
    from sesshu.domain.wareki import parse_optional_date
    from sesshu.eligibility.service import rebuild

    db = make_database(load_settings())
    t = time.perf_counter()
    try:
        r = rebuild(db, actor=os_actor(), today=today_jst(), first=parse_optional_date(first, "期間の始まり"),
                    last=parse_optional_date(last, "期間の終わり"))
    except InvalidInput as e:
        typer.echo(f"エラー: {e}", err=True)
        raise typer.Exit(2) from e
    typer.echo(f"{r.persons} 人・{r.spans} 区間（{r.first}〜{r.last}）を {time.perf_counter() - t:.1f} 秒で作成しました")
