"""`sesshu away accept|list`: 住所地外接種の届出 (thin commands over sesshu.away.service)."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from sesshu.actor import os_actor
from sesshu.domain.wareki import parse_date

away_app = typer.Typer(help="住所地外接種の届出（届出済証の発行）", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(away_app, name="away")


def _db():
    from sesshu.config import load_settings
    from sesshu.db import make_database

    settings = load_settings()
    return make_database(settings), settings


@away_app.command("accept")
def away_accept(atena_no: str,
                reason: str = typer.Option(..., help="maternity / posted_alone / student / dv_victim / inpatient / "
                                                     "disaster / other（または理由の文言）"),
                home: str = typer.Option(..., "--home", help="住民票所在地の市町村名"),
                period_from: str = typer.Option(..., "--from", help="滞在期間の始まり（和暦可）"),
                period_until: str = typer.Option(..., "--until", help="滞在期間の終わり（和暦可）"),
                vaccine: str = typer.Option(..., help="接種種別コード"),
                out: Path = typer.Option(..., "--out", help="届出済証PDFの出力先"),
                channel: str = typer.Option("counter", help="counter / mail / web"),
                note: str = typer.Option("", "--note", help="理由の補足"),
                home_code: str = typer.Option("", "--home-code", help="住所地の市町村コード（6桁）"),
                home_ticket: str = typer.Option("", "--home-ticket", help="住所地の接種券番号")) -> None:
    """住所地外接種の届出を受理し、届出済証（PDF）を発行します（住登外者として登録済みの方）。"""
    from sesshu.away.service import AwayRequest, accept

    db, settings = _db()
    done = accept(db, settings, actor=os_actor(), request=AwayRequest(
        atena_no=atena_no, reason=reason, home_municipality=home, period_from=parse_date(period_from),
        period_until=parse_date(period_until), vaccine=vaccine, channel=channel, reason_note=note,
        home_municipality_code=home_code, home_ticket_no=home_ticket))
    from sesshu.exports.service import write_private

    out.parent.mkdir(parents=True, exist_ok=True)
    write_private(out, done.pdf.content)  # personal data: 0600, atomically
    typer.echo(f"住所地外接種の届出を受理しました: 届出番号 {done.notice_no} → {out}")


@away_app.command("list")
def away_list(atena_no: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """本人の住所地外接種の届出の一覧。"""
    from sesshu.away.service import STATUS_LABELS, notices_of, reasons_data

    db, _ = _db()
    rows = notices_of(db, actor=os_actor(), atena_no=atena_no)
    out = [{"notice_no": r.notice_no, "reason": r.reason, "home_municipality": r.home_municipality,
            "vaccine": r.vaccine, "period_from": r.period_from.isoformat(), "period_until": r.period_until.isoformat(),
            "received_on": r.received_on.isoformat(), "status": r.status,
            "closed_on": r.closed_on.isoformat() if r.closed_on else None, "close_reason": r.close_reason} for r in rows]
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    labels = reasons_data()["reasons"]
    for r in out:
        typer.echo(f"{r['notice_no']}  {labels[r['reason']]['label']}  {r['home_municipality']}  {r['vaccine']}  "
                   f"{r['period_from']}〜{r['period_until']}  受理 {r['received_on']}  {STATUS_LABELS[r['status']]}"
                   + (f"（{r['closed_on']}）{r['close_reason']}" if r["closed_on"] else ""))


@away_app.command("withdraw")
def away_withdraw(notice_no: str, reason: str = typer.Option(..., "--reason", help="取下げの理由（必須）")) -> None:
    """届出の取下げ（届出済証は受理の日にさかのぼって無効）。"""
    from sesshu.away.service import close

    db, _ = _db()
    row = close(db, actor=os_actor(), notice_no=notice_no, kind="withdrawn", reason=reason)
    typer.echo(f"届出番号 {row.notice_no} を取下げとしました。届出済証は無効です。")


@away_app.command("end")
def away_end(notice_no: str, reason: str = typer.Option(..., "--reason", help="終了の理由（必須）"),
             on: str = typer.Option("", "--on", help="終了日（和暦可、省略時は今日）。この日から届出済証は無効")) -> None:
    """届出の終了（滞在期間の途中で住所地に戻った等。終了日から届出済証は無効）。"""
    from sesshu.away.service import close
    from sesshu.domain.wareki import parse_optional_date

    db, _ = _db()
    row = close(db, actor=os_actor(), notice_no=notice_no, kind="ended", reason=reason,
                closed_on=parse_optional_date(on, "終了日"))
    typer.echo(f"届出番号 {row.notice_no} を {row.closed_on.isoformat()} で終了としました。この日から届出済証は無効です。")
