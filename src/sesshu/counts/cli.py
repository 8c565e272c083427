"""`sesshu counts daily`: the daily counts, and the prefecture's CSV (thin over sesshu.counts.service)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from sesshu.actor import os_actor
from sesshu.domain.wareki import parse_optional_date

counts_app = typer.Typer(help="日次集計（接種実績・接種率・未使用の接種券）", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(counts_app, name="counts")


@counts_app.command("daily")
def counts_daily(day_from: Optional[str] = typer.Option(None, "--from", help="期間の始まり（省略時は終わりの6日前）"),
                 day_to: Optional[str] = typer.Option(None, "--to", help="期間の終わり（省略時は今日）"),
                 vaccine: str = typer.Option("", help="接種種別コード（省略時はすべて）"),
                 csv_out: Optional[Path] = typer.Option(None, "--csv", help="都道府県への報告用CSVの出力先"),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """期間の接種回数（日・接種種別・年齢階級・実施場所・区分別）、接種率、未使用の接種券。"""
    from datetime import timedelta

    from sesshu.clock import today_jst
    from sesshu.config import load_settings
    from sesshu.counts.service import daily_report, export_daily_csv
    from sesshu.db import make_database

    db = make_database(load_settings())
    to = parse_optional_date(day_to, "期間の終わり") or today_jst()
    frm = parse_optional_date(day_from, "期間の始まり") or to - timedelta(days=6)
    if csv_out is not None:
        content, report = export_daily_csv(db, actor=os_actor(), day_from=frm, day_to=to, vaccine=vaccine)
        from sesshu.exports.service import write_private

        csv_out.parent.mkdir(parents=True, exist_ok=True)
        write_private(csv_out, content)
    else:
        report = daily_report(db, actor=os_actor(), day_from=frm, day_to=to, vaccine=vaccine)
    out = {"from": frm.isoformat(), "to": to.isoformat(), "vaccine": report.vaccine,
           "per_day": [[d.isoformat(), n] for d, n in report.per_day()],
           "by_vaccine": report.totals_by(1), "by_age_band": report.totals_by(2), "by_venue": report.totals_by(3),
           "by_group": report.totals_by(4),
           "coverage": [{"age_band": b, "residents": n, "dose1": report.covered_by_band.get((b, 1), 0),
                         "dose2": report.covered_by_band.get((b, 2), 0)} for b, n in report.residents_by_band.items()],
           "tickets_outstanding": {str(k): v for k, v in report.tickets_outstanding.items()}}
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    for d, n in out["per_day"]:
        typer.echo(f"{d}  {n:>7,}回")
    typer.echo("接種種別: " + "、".join(f"{k} {n:,}" for k, n in out["by_vaccine"]))
    typer.echo("年齢階級: " + "、".join(f"{k} {n:,}" for k, n in out["by_age_band"]))
    if csv_out is not None:
        typer.echo(f"報告用CSV → {csv_out}")
