"""`sesshu relief …`: relief cases, the monthly payment list and its 全銀 file, from the server."""
from __future__ import annotations

import getpass
from pathlib import Path

import typer

relief_app = typer.Typer(help="予防接種健康被害救済", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(relief_app, name="relief")


def _db():
    from sesshu.config import load_settings
    from sesshu.db import make_database

    return make_database(load_settings())


@relief_app.command("list")
def relief_list() -> None:
    """救済案件の一覧。"""
    from sesshu.actor import os_actor
    from sesshu.relief.service import list_cases

    rows = list_cases(_db(), actor=os_actor())
    typer.echo(f"{len(rows)} 件")
    for c in rows:
        typer.echo(f"{c.id:>5}  宛名番号 {c.atena_no}  {c.class_label}  {c.status_label}  請求者 {c.claimant_name}")


@relief_app.command("show")
def relief_show(case_id: int) -> None:
    """救済案件1件の経過（日付と担当者）、給付、支払。"""
    from sesshu.actor import os_actor
    from sesshu.relief.service import get_case

    c = get_case(_db(), actor=os_actor(), case_id=case_id)
    typer.echo(f"案件 {c.id}  宛名番号 {c.atena_no}  {c.class_label}  接種 {c.record_label or '-'}  状態 {c.status_label}")
    for s in c.steps:
        typer.echo(f"  {s.on_date.isoformat()}  {s.label}  （{s.done_by}）")
    for b in c.benefits:
        end = f"〜{b.end_month:%Y-%m}" if b.end_month else ("〜（継続）" if b.periodic else "")
        typer.echo(f"  給付 {b.label}  {b.amount:,}円{'／月' if b.periodic else ''}  {b.first_month:%Y-%m}{end}")
    for p in c.payments:
        typer.echo(f"  支払 {p.pay_month:%Y-%m}  {p.kind_label}  {p.amount:,}円  {p.status_label}")


@relief_app.command("payments")
def relief_payments(month: str = typer.Option(..., help="支払月（2027-04 または R9.4）")) -> None:
    """その月の支払一覧（一時金と年金）。"""
    from sesshu.actor import os_actor
    from sesshu.relief.service import month_payments

    rows = month_payments(_db(), actor=os_actor(), month=month)
    typer.echo(f"{month} の支払 {len(rows)} 件  合計 {sum(r.amount for r in rows):,} 円")
    for r in rows:
        typer.echo(f"  案件 {r.case_id}  宛名番号 {r.atena_no}  {r.kind_label}  {r.months}か月分  {r.amount:,}円  {r.status_label}")


@relief_app.command("zengin")
def relief_zengin(month: str = typer.Option(..., help="支払月（2027-04 または R9.4）"),
                  transfer_date: str = typer.Option(..., "--transfer-date", help="振込指定日（2027-04-20 または R9.4.20）"),
                  output: Path = typer.Option(..., "--output", help="出力先（パスワード付きZIP）")) -> None:
    """その月の支払の全銀（総合振込）ファイルを、パスワード付きZIP（AES-256）で出力する。

    ZIPのパスワードは実行後に画面で尋ねます（12文字以上の半角英数記号。入力は表示されず、保存もされません）。
    受け取る担当者にはZIPとは別の経路で伝えてください。Web画面（健康被害救済 › 支払一覧）からも作成できます。"""
    from sesshu.actor import os_actor
    from sesshu.domain.wareki import parse_date
    from sesshu.relief.service import zengin_for_month

    password = getpass.getpass("ZIPのパスワード（12文字以上・表示されません）: ")
    if getpass.getpass("ZIPのパスワード（確認）: ") != password:
        raise typer.BadParameter("パスワードと確認用のパスワードが一致しません")
    packed, name, n = zengin_for_month(_db(), actor=os_actor(), month=month, transfer_date=parse_date(transfer_date),
                                       password=password)
    from sesshu.exports.service import write_private

    write_private(output, packed)  # an AES ZIP, and still 0600 on the server
    typer.echo(f"{output}（{name}、振込 {n} 件）")
