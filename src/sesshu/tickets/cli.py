"""`sesshu notices`, `sesshu tickets issue|reissue|invalidate|list`: thin commands over the tickets services."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from sesshu.actor import os_actor
from sesshu.domain.wareki import parse_optional_date

tickets_app = typer.Typer(help="接種券（発行・再発行・無効化）", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("notices")(notices_cmd)
    app.add_typer(tickets_app, name="tickets")


def _db():
    from sesshu.config import load_settings
    from sesshu.db import make_database

    settings = load_settings()
    return make_database(settings), settings


def _write_pdf(out: Path, pdf) -> None:
    from sesshu.exports.service import write_private

    out.parent.mkdir(parents=True, exist_ok=True)
    write_private(out, pdf.content)  # personal data: 0600, atomically


def notices_cmd(vaccine: str = typer.Option(..., help="接種種別コード（MR, HPV, JE など）"),
                as_of: Optional[str] = typer.Option(None, "--as-of", help="基準日（省略時は今日）"),
                within: int = typer.Option(0, "--within", help="基準日から何日以内に対象となる方を含めるか"),
                out: Path = typer.Option(..., "--out", help="PDFと mailing.csv の出力先フォルダ"),
                per_file: int = typer.Option(1000, "--per-file", help="1ファイルあたりの人数"),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """個別通知: 対象者ごとに通知文と予診票（接種券）のPDFと発送一覧（mailing.csv）を作ります（中断しても再実行で続きから）。"""
    from sesshu.clock import today_jst
    from sesshu.tickets.notices import run_notices

    db, settings = _db()
    day = parse_optional_date(as_of, "基準日") or today_jst()
    outcome = run_notices(db, settings, actor=os_actor(), vaccine=vaccine, as_of=day, within_days=within, out_dir=out,
                          per_file=per_file)
    if as_json:
        typer.echo(json.dumps({"job_id": outcome.job_id, "status": outcome.status, "resumed": outcome.resumed,
                               "already_done": outcome.already_done, **outcome.result}, ensure_ascii=False, indent=2))
        return
    r = outcome.result
    note = "（作成済みの処理です。何も変更していません）" if outcome.already_done else ("（中断した処理の続きから）" if outcome.resumed else "")
    typer.echo(f"個別通知 {r.get('persons', 0)} 人（新しい接種券 {r.get('new_tickets', 0)} 枚）{note}")
    for f in r.get("files", []):
        typer.echo(f"  {f['name']}  sha256 {f['sha256']}")
    typer.echo(f"  {r.get('mailing_csv', {}).get('name', '')}  → {r.get('out_dir', '')}")


@tickets_app.command("issue")
def tickets_issue(atena_no: str, vaccine: str = typer.Option(..., help="接種種別コード"),
                  out: Path = typer.Option(..., "--out", help="PDFの出力先（.pdf）"),
                  history_confirmed: bool = typer.Option(False, "--history-confirmed",
                                                         help="転入前の接種歴を確認し台帳に登録済み"),
                  as_of: Optional[str] = typer.Option(None, "--as-of", help="基準日（省略時は今日）")) -> None:
    """転入者に接種券と予診票を発行します（転入前の接種歴を登録してから）。"""
    from sesshu.tickets.service import issue_for_move_in

    db, settings = _db()
    issued = issue_for_move_in(db, settings, actor=os_actor(), atena_no=atena_no, vaccine=vaccine,
                               history_confirmed=history_confirmed, as_of=parse_optional_date(as_of, "基準日"))
    _write_pdf(out, issued.pdf)
    typer.echo(f"接種券を発行しました: 券番号 {issued.ocr_line}（{issued.term} {issued.dose_no}回目） → {out}")


@tickets_app.command("reissue")
def tickets_reissue(atena_no: str, vaccine: str = typer.Option(..., help="接種種別コード"),
                    reason: str = typer.Option("紛失", help="紛失 / 汚損"),
                    out: Path = typer.Option(..., "--out", help="PDFの出力先（.pdf）")) -> None:
    """接種券を再発行します（元の接種券は無効になり、新しい券番号になります）。"""
    from sesshu.tickets.service import reissue

    db, settings = _db()
    issued = reissue(db, settings, actor=os_actor(), atena_no=atena_no, vaccine=vaccine, reason=reason)
    _write_pdf(out, issued.pdf)
    typer.echo(f"再発行しました: 券番号 {issued.ocr_line}（無効にした券番号 {issued.replaced}） → {out}")


@tickets_app.command("invalidate")
def tickets_invalidate(atena_no: str, reason: str = typer.Option(..., help="転出 / 死亡 / 誤発行 など"),
                       vaccine: Optional[str] = typer.Option(None, help="接種種別コード（省略時はすべて）")) -> None:
    """本人の未使用の接種券を無効にします。"""
    from sesshu.tickets.service import invalidate

    db, _ = _db()
    n = invalidate(db, actor=os_actor(), atena_no=atena_no, reason=reason, vaccine=vaccine)
    typer.echo(f"接種券 {n} 枚を無効にしました")


@tickets_app.command("list")
def tickets_list(atena_no: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """本人の接種券の一覧（発行・使用・無効）。"""
    from dataclasses import asdict

    from sesshu.tickets.service import person_tickets

    db, settings = _db()
    rows = person_tickets(db, settings, actor=os_actor(), atena_no=atena_no)
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=2, default=str))
        return
    for r in rows:
        typer.echo(f"{r.ocr_line}  {r.line_name} {r.term} {r.dose_no}回目  {r.state_label} {r.invalidated_reason}"
                   f"  {r.issued_at}")


@tickets_app.command("wave")
def tickets_wave(vaccine: str = typer.Option(..., help="接種種別コード（定期・臨時のどの接種種別でも）"),
                 wave: int = typer.Option(..., "--wave", help="発送回（1, 2, …）。中断した回は同じ番号で再実行すると続きから"),
                 size: int = typer.Option(..., "--size", help="この回に発送する人数（年齢の高い方から）"),
                 out: Path = typer.Option(..., "--out", help="PDFと mailing.csv の出力先フォルダ"),
                 age_from: Optional[int] = typer.Option(None, "--age-from", help="基準日の年齢（以上）"),
                 age_to: Optional[int] = typer.Option(None, "--age-to", help="基準日の年齢（以下）"),
                 group: str = typer.Option("", "--group", help="対象者の状態コード（接種順位の区分など）を持つ方だけ"),
                 as_of: Optional[str] = typer.Option(None, "--as-of", help="基準日（省略時は今日）"),
                 per_file: int = typer.Option(1000, "--per-file", help="1ファイルあたりの人数"),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """接種券・予診票の段階発送: 対象者のうち年齢の高い方から指定人数分を1回の発送として作ります（中断しても再実行で続きから）。"""
    from sesshu.clock import today_jst
    from sesshu.tickets.waves import Wave, run_wave

    db, settings = _db()
    day = parse_optional_date(as_of, "基準日") or today_jst()
    outcome = run_wave(db, settings, actor=os_actor(), out_dir=out, per_file=per_file,
                       wave=Wave(vaccine=vaccine, as_of=day, number=wave, size=size, age_from=age_from,
                                 age_to=age_to, group=group.strip()))
    r = outcome.result
    if as_json:
        typer.echo(json.dumps({"job_id": outcome.job_id, "status": outcome.status, "resumed": outcome.resumed,
                               "already_done": outcome.already_done, **r}, ensure_ascii=False, indent=2))
        return
    note = "（作成済みの回です。何も変更していません）" if outcome.already_done else ("（中断した処理の続きから）" if outcome.resumed else "")
    typer.echo(f"第{wave}回の発送 {r.get('persons', 0)} 人（新しい接種券 {r.get('new_tickets', 0)} 枚）{note}")
    for f in r.get("files", []):
        typer.echo(f"  {f['name']}  sha256 {f['sha256']}")
    typer.echo(f"  {r.get('mailing_csv', {}).get('name', '')}  → {r.get('out_dir', '')}")
