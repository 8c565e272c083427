"""`sesshu person pregnancy` (show, record, withdraw a 妊娠届) and `sesshu import pregnancies` (file
from the 母子保健 system)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from sesshu.actor import os_actor
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.domain.errors import InvalidInput
from sesshu.domain.wareki import parse_optional_date


def _show(g) -> str:
    return (f"[{g.id}] 出産予定日 {g.expected_delivery}  届出日 {g.notified_on}  {g.status_label}  "
            f"{g.source_label}{' ' + g.source_ref if g.source_ref else ''}\n"
            f"    RSウイルス母子免疫の定期接種期間: {g.window_text}（{g.window_label}）"
            + (f"\n    取消: {g.withdrawn_at:%Y-%m-%d %H:%M} {g.withdrawn_by} 理由「{g.withdraw_reason}」"
               if g.withdrawn_at else ""))


def pregnancy_cmd(
    atena_no: str = typer.Argument(..., help="宛名番号"),
    expected_delivery: Optional[str] = typer.Option(None, "--edd", help="登録: 出産予定日（西暦・和暦）"),
    notified_on: Optional[str] = typer.Option(None, "--notified-on", help="登録: 届出日（省略時は今日）"),
    ref: str = typer.Option("", "--ref", help="登録: 届出番号（母子保健側）"),
    withdraw: Optional[int] = typer.Option(None, "--withdraw", help="誤登録として取り消す登録の番号"),
    reason: str = typer.Option("", help="--withdraw: 取消理由（必須）"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """妊娠届（出産予定日・届出日）を表示・登録・取消します。登録・取消すると接種記録を再判定します。"""
    from sesshu.clock import today_jst
    from sesshu.pregnancy import service
    from sesshu.pregnancy.schemas import PregnancyEntry

    if expected_delivery and withdraw is not None:
        raise InvalidInput("--edd と --withdraw は同時に指定できません")
    db = make_database(load_settings())
    actor = os_actor()
    if expected_delivery:
        out = [service.record_pregnancy(db, actor=actor, atena_no=atena_no, entry=PregnancyEntry(
            parse_optional_date(expected_delivery, "出産予定日"),
            parse_optional_date(notified_on, "届出日") or today_jst(), ref))]
    elif withdraw is not None:
        out = [service.withdraw_pregnancy(db, actor=actor, atena_no=atena_no, pregnancy_id=withdraw,
                                          reason=reason)]
    else:
        out = service.list_pregnancies(db, actor=actor, atena_no=atena_no)
    if as_json:
        typer.echo(json.dumps([{"id": g.id, "expected_delivery": g.expected_delivery.isoformat(),
                                "notified_on": g.notified_on.isoformat(), "source": g.source,
                                "status": g.status, "window_from": g.window_from and g.window_from.isoformat(),
                                "window_until": g.window_until and g.window_until.isoformat(),
                                "window_state": g.window_state} for g in out], ensure_ascii=False))
        return
    if not out:
        typer.echo("妊娠届の登録はありません。")
    for g in out:
        typer.echo(_show(g))


def import_pregnancies_cmd(file: Path, rejects: Optional[Path] = typer.Option(None, help="不備のある行の出力先"),
                           as_json: bool = typer.Option(False, "--json")) -> None:
    """母子保健システムの妊娠届（宛名番号・出産予定日・届出日・届出番号）のCSVを取り込みます。
    同じファイルの再取込では登録済みの行を重複として飛ばします。"""
    from sesshu.pregnancy.service import import_pregnancies

    summary = import_pregnancies(make_database(load_settings()), actor=os_actor(), path=file, rejects_path=rejects)
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
        return
    typer.echo(f"{summary.file}（{summary.encoding}）: 読込 {summary.read} 件、登録 {summary.accepted} 件、"
               f"重複 {summary.duplicates} 件、エラー {summary.rejected} 件")


def register(person_app: typer.Typer, import_app: typer.Typer) -> None:
    person_app.command("pregnancy")(pregnancy_cmd)
    import_app.command("pregnancies")(import_pregnancies_cmd)
