"""CLI for 事務取扱担当者: `sesshu user assign|unassign|assignments` (registered on the user group)."""
from __future__ import annotations

import json
from typing import Optional

import typer

from sesshu.access import service as access
from sesshu.access.tasks import DEFAULT_DEPARTMENT, TASKS
from sesshu.actor import os_actor
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.domain.wareki import parse_optional_date

TASK_HELP = "事務コード: " + " / ".join(f"{code}（{t.label}）" for code, t in TASKS.items())


def _db():
    return make_database(load_settings())


def register(user_app: typer.Typer) -> None:
    @user_app.command("assign")
    def assign_cmd(login_id: str, task: str = typer.Option(..., "--task", help=TASK_HELP),
                   department: str = typer.Option(DEFAULT_DEPARTMENT, help="取扱部署"),
                   valid_until: Optional[str] = typer.Option(None, "--valid-until", help="有効期限（この日まで）")) -> None:
        """職員を個人番号利用事務の担当に指定します（指定のない職員は住民の情報を扱えません）。"""
        until = parse_optional_date(valid_until, "有効期限")
        access.assign(_db(), actor=os_actor(), login_id=login_id, task_code=task, department=department,
                      valid_until=until)
        typer.echo(f"{login_id} を {TASKS[task].label}（{department}）の担当に指定しました")

    @user_app.command("unassign")
    def unassign_cmd(login_id: str, task: str = typer.Option(..., "--task", help=TASK_HELP)) -> None:
        """事務の担当指定を解除します。"""
        access.unassign(_db(), actor=os_actor(), login_id=login_id, task_code=task)
        typer.echo(f"{login_id} の {task} の担当指定を解除しました")

    @user_app.command("assignments")
    def assignments_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
        """事務取扱担当者の一覧を表示します。"""
        rows = access.list_assignments(_db(), actor=os_actor())
        if as_json:
            typer.echo(json.dumps([{"login_id": r.login_id, "role": r.role, "task": r.task_code,
                                    "department": r.department,
                                    "valid_until": r.valid_until.isoformat() if r.valid_until else None,
                                    "lapsed": r.lapsed} for r in rows], ensure_ascii=False, indent=2))
            return
        for r in rows:
            until = r.valid_until.isoformat() if r.valid_until else "期限なし"
            typer.echo(f"{r.login_id}\t{r.task_code}\t{r.department}\t{until}\t{'失効' if r.lapsed else '有効'}")
