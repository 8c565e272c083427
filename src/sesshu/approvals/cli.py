"""`sesshu approval list|show`: an OS operator may read approval requests, never request or decide them.

Deciding needs a staff identity different from the requester's and a second factor; an OS account
has neither (the service refuses an OS actor), so decisions are made in the web UI or the API.
"""
from __future__ import annotations

import json
from typing import Optional

import typer

approval_app = typer.Typer(help="承認申請（一覧・内容の確認。承認・却下はWeb画面で行います）", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(approval_app, name="approval")


def _echo_json(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@approval_app.command("list")
def approval_list(status: Optional[str] = typer.Option(None, help="requested / approved / rejected / withdrawn / "
                                                                  "failed"),
                  limit: int = typer.Option(200, min=1, max=10000),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """承認申請の一覧を表示します（新しい順）。"""
    from sesshu.actor import os_actor
    from sesshu.approvals.service import list_approvals
    from sesshu.config import load_settings
    from sesshu.db import make_database

    db = make_database(load_settings())
    rows = list_approvals(db, actor=os_actor(), status=status, limit=limit)
    if as_json:
        _echo_json([r.model_dump(mode="json") for r in rows])
        return
    typer.echo(f"{len(rows)} 件")
    for r in rows:
        typer.echo(f"{r.id}\t{r.status_label}\t{r.kind_label}\t{r.summary}\t{r.requested_by}\t"
                   f"{r.requested_at:%Y-%m-%d %H:%M}")


@approval_app.command("show")
def approval_show(approval_id: int, as_json: bool = typer.Option(False, "--json")) -> None:
    """承認申請の内容を表示します（個人番号は下4桁のみ。閲覧は記録されます）。"""
    from sesshu.actor import os_actor
    from sesshu.approvals.service import get_approval
    from sesshu.config import load_settings
    from sesshu.db import make_database

    settings = load_settings()
    d = get_approval(make_database(settings), settings, actor=os_actor(), approval_id=approval_id)
    if as_json:
        _echo_json(d.model_dump(mode="json", exclude={"own", "may_decide", "may_withdraw"}))
        return
    a = d.approval
    typer.echo(f"申請 {a.id}  {a.kind_label}  [{a.status_label}]")
    typer.echo(f"  申請者: {a.requested_by}  {a.requested_at:%Y-%m-%d %H:%M}（UTC）")
    typer.echo(f"  申請理由: {a.reason}")
    for row in d.details:
        typer.echo(f"  {row.label}: {row.value}")
    if a.decided_at:
        typer.echo(f"  決定: {a.decided_by}  {a.decided_at:%Y-%m-%d %H:%M}（UTC）  {a.decision_comment}")
    if a.result_ref:
        typer.echo(f"  結果: {a.result_ref}")
