"""`sesshu inquiry …`: 問合せ受付票, answers, 利用停止 and the disclosure package, from the server."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

inquiry_app = typer.Typer(help="問合せ・開示・訂正・利用停止請求（受付票）", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(inquiry_app, name="inquiry")


def _db():
    from sesshu.config import load_settings
    from sesshu.db import make_database

    settings = load_settings()
    return make_database(settings), settings


def _show(i) -> None:
    left = (f"残り {i.days_left} 日" if i.days_left >= 0 else f"{-i.days_left} 日超過") if i.days_left is not None else ""
    due = f"期限 {i.due_on.isoformat()}（{left}）" if left else (
        f"期限 {i.due_on.isoformat()}" if i.due_on else "期限なし")
    typer.echo(f"{i.id:>6}  {i.kind_label:<6} {i.status_label:<5} 受付 {i.received_on.isoformat()}  {due}  "
               f"宛名番号 {i.atena_no or '-'}  {i.requester_relation}・{i.identity_method}")


@inquiry_app.command("receive")
def inquiry_receive(kind: str = typer.Option(..., help="inquiry | disclosure | correction | suspension"),
                    atena_no: str = typer.Option("", "--atena-no"),
                    requester: str = typer.Option(..., help="請求者（問合せ者）の氏名"),
                    relation: str = typer.Option("self", help="self | legal_proxy | delegate | other"),
                    identity: str = typer.Option(..., help="本人確認の方法（mynumber_card など、rules.yaml）"),
                    channel: str = typer.Option("counter", help="counter | phone | mail | online"),
                    question: str = typer.Option(..., help="問合せ・請求の内容"),
                    covers_my_number: bool = typer.Option(False, "--covers-my-number", help="開示請求が個人番号も対象とする"),
                    received_on: Optional[str] = typer.Option(None, "--received-on")) -> None:
    """受付票を作成する（請求は期限つき）。"""
    from sesshu.actor import os_actor
    from sesshu.disclosure.service import receive
    from sesshu.domain.wareki import parse_optional_date

    db, _ = _db()
    out = receive(db, actor=os_actor(), kind=kind, atena_no=atena_no, channel=channel, requester_name=requester,
                  requester_relation=relation, identity_method=identity, question=question,
                  covers_my_number=covers_my_number, received_on=parse_optional_date(received_on, "受付日"))
    _show(out)


@inquiry_app.command("list")
def inquiry_list(all_: bool = typer.Option(False, "--all", help="回答済みも表示"),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """受付票の一覧（期限の近い順）。"""
    from dataclasses import asdict

    from sesshu.actor import os_actor
    from sesshu.disclosure.service import list_inquiries

    db, _ = _db()
    rows = list_inquiries(db, actor=os_actor(), status=None if all_ else "open")
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=2, default=str))
        return
    typer.echo(f"{len(rows)} 件")
    for r in rows:
        _show(r)


@inquiry_app.command("answer")
def inquiry_answer(inquiry_id: int, version: int = typer.Option(..., "--version"),
                   text: str = typer.Option(..., "--text", help="回答の内容")) -> None:
    """受付票に回答を記録する。"""
    from sesshu.actor import os_actor
    from sesshu.disclosure.service import answer

    db, _ = _db()
    _show(answer(db, actor=os_actor(), inquiry_id=inquiry_id, expected_version=version, text=text))


@inquiry_app.command("suspend")
def inquiry_suspend(inquiry_id: int) -> None:
    """利用停止請求に従い、対象の方を利用停止にする。"""
    from sesshu.actor import os_actor
    from sesshu.disclosure.service import suspend_use

    db, _ = _db()
    _show(suspend_use(db, actor=os_actor(), inquiry_id=inquiry_id))


@inquiry_app.command("package")
def inquiry_package(inquiry_id: int, output: Path = typer.Option(..., "--output", help="PDFの出力先")) -> None:
    """開示請求の開示文書（PDF）を作成する（印刷として記録）。"""
    from sesshu.actor import os_actor
    from sesshu.disclosure.package import disclosure_package

    db, settings = _db()
    pdf = disclosure_package(db, settings, actor=os_actor(), inquiry_id=inquiry_id)
    from sesshu.exports.service import write_private

    write_private(output, pdf.content)  # personal data: 0600, atomically
    typer.echo(f"{output}（{pdf.pages} ページ、SHA-256 {pdf.sha256}）")
