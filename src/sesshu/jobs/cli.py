"""`sesshu jobs`: the progress of batch jobs (notices, billing runs, purges…), for the operators."""
from __future__ import annotations

import json
from typing import Optional

import typer

jobs_app = typer.Typer(help="一括処理（ジョブ）の状況", no_args_is_help=True)

STATUS = {"running": "実行中（中断していれば同じコマンドの再実行で続きから）", "done": "完了"}


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")


def _db():
    from sesshu.config import load_settings
    from sesshu.db import make_database

    return make_database(load_settings())


@jobs_app.command("list")
def jobs_list(kind: Optional[str] = typer.Option(None, help="処理の種類（notices など）"),
              limit: int = typer.Option(50, min=1, max=1000), as_json: bool = typer.Option(False, "--json")) -> None:
    """一括処理の一覧（新しい順）。"""
    from sesshu.jobs import list_jobs

    rows = list_jobs(_db(), kind=kind, limit=limit)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    typer.echo(f"{len(rows)} 件")
    for r in rows:
        typer.echo(f"{r['id']:>6}  {r['kind']:<12} {r['key']:<40} {r['done_units']}/{r['total_units']}  "
                   f"{STATUS.get(r['status'], r['status'])}  {r['created_by']} {r['created_at'][:19]}")


@jobs_app.command("show")
def jobs_show(job_id: int) -> None:
    """一括処理1件の条件・進み具合・結果。"""
    from sesshu.jobs import job_status

    typer.echo(json.dumps(job_status(_db(), job_id), ensure_ascii=False, indent=2))
