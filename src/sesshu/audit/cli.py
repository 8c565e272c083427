"""`sesshu audit …` commands: verify, checkpoint, pubkey, search, anomalies (thin, over the audit services)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from sesshu.actor import os_actor
from sesshu.config import load_settings
from sesshu.db import make_database


def _echo_json(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def register(audit_app: typer.Typer) -> None:
    @audit_app.command("verify")
    def verify(checkpoints: Optional[Path] = typer.Option(
                   None, "--checkpoints", help="受け渡し済みのチェックポイントファイル（*.json）のフォルダ"),
               pubkey: Optional[Path] = typer.Option(
                   None, "--pubkey", help="照合に使う公開鍵（PEM）。省略時はこのシステムの鍵")) -> None:
        """操作記録のハッシュ連鎖と署名付きチェックポイントを検証します。問題があれば終了コード1で終わります。"""
        from sesshu.audit.checkpoints import verify_log

        settings = load_settings()
        db = make_database(settings)
        pem = pubkey.read_text(encoding="utf-8") if pubkey else None
        report = verify_log(db, settings, actor=os_actor(), files_dir=checkpoints, public_key_pem=pem)
        files = f"、ファイル {report.files} 件" if checkpoints else ""
        summary = f"操作記録 {report.entries} 件、チェックポイント {report.checkpoints} 件{files}を検証しました。"
        if report.ok:
            typer.echo(summary + "改ざんは見つかりませんでした。")
            return
        for p in report.problems:
            typer.echo(p, err=True)
        typer.echo(summary + f"問題が {len(report.problems)} 件見つかりました。", err=True)
        raise typer.Exit(1)

    @audit_app.command("checkpoint")
    def checkpoint(day: Optional[str] = typer.Option(None, "--date", help="この日だけ作成（省略時は前日までの未作成の全日）")) -> None:
        """操作記録の日次チェックポイントに署名して保存し、受け渡し用のJSONファイルを書き出します。"""
        from sesshu.audit.checkpoints import checkpoint_dir, create_checkpoints
        from sesshu.audit.periods import parse_day

        settings = load_settings()
        db = make_database(settings)
        run = create_checkpoints(db, settings, actor=os_actor(), day=parse_day(day, "日付"))
        for cp in run.created:
            typer.echo(f"{cp.day.isoformat()}: 連番{cp.last_seq}まで（この日 {cp.entry_count} 件）")
        typer.echo(f"チェックポイントを {len(run.created)} 件作成しました（作成済み {run.already} 件）。"
                   f"ファイル {len(run.files)} 件を {checkpoint_dir(settings)} に書き出しました。")

    @audit_app.command("pubkey")
    def pubkey() -> None:
        """チェックポイントの署名を確認するための公開鍵（PEM）を表示します。外部の確認者に渡してください。"""
        from sesshu.audit.checkpoints import fingerprint, public_pem, signer_public_key

        key = signer_public_key(load_settings())
        typer.echo(public_pem(key), nl=False)
        typer.echo(f"# SHA-256 指紋: {fingerprint(key)}", err=True)

    @audit_app.command("search")
    def search(atena_no: str = typer.Option("", "--atena-no", help="宛名番号"),
               actor: str = typer.Option("", "--actor", help="職員ID（CLIの操作は os:ユーザー名）"),
               action: str = typer.Option("", "--action", help="操作の種類（例: person.view、カンマ区切りで複数）"),
               date_from: Optional[str] = typer.Option(None, "--from", help="期間（から）"),
               date_to: Optional[str] = typer.Option(None, "--to", help="期間（まで）"),
               seqs: str = typer.Option("", "--seqs", help="連番（例: 3,5-9）"),
               page: int = typer.Option(1), per_page: int = typer.Option(50, "--per-page"),
               as_json: bool = typer.Option(False, "--json")) -> None:
        """操作記録を検索します（新しい順）。検索したこと自体も記録されます。"""
        from sesshu.audit.lookup import LookupCriteria, search_entries

        criteria = LookupCriteria.parse(atena_no=atena_no, actor=actor, action=action, date_from=date_from,
                                        date_to=date_to, seqs=seqs)
        settings = load_settings()
        result = search_entries(make_database(settings), actor=os_actor(), criteria=criteria, page=page,
                                per_page=per_page)
        if as_json:
            _echo_json({"total": result.total, "total_capped": result.total_capped, "page": result.page,
                        "per_page": result.per_page, "rows": [r.as_dict() for r in result.rows]})
            return
        more = "以上" if result.total_capped else ""
        typer.echo(f"{result.total}件{more}（{result.page}/{result.pages}ページ）")
        for r in result.rows:
            typer.echo(f"{r.seq}\t{r.at:%Y-%m-%d %H:%M:%S}\t{r.actor}\t{r.action}\t{r.atena_no or ''}\t{r.purpose}\t"
                       f"{json.dumps(r.as_dict()['detail'], ensure_ascii=False)}")

    @audit_app.command("anomalies")
    def anomalies(date_from: str = typer.Option(..., "--from", help="期間（から）"),
                  date_to: str = typer.Option(..., "--to", help="期間（まで）"),
                  as_json: bool = typer.Option(False, "--json")) -> None:
        """休業日・時間外の操作、認証の失敗、個人の情報の大量閲覧を期間について一覧にします。"""
        from sesshu.audit.anomalies import anomaly_report

        settings = load_settings()
        report = anomaly_report(make_database(settings), settings, actor=os_actor(), date_from=date_from,
                                date_to=date_to)
        if as_json:
            _echo_json(report.as_dict())
            return
        typer.echo(f"{report.date_from}〜{report.date_to}: {report.total} 件（業務時間 {report.business_hours}）")
        for group in (report.off_hours, report.failures_by_account, report.failures_by_client, report.view_volume):
            for a in group:
                typer.echo(f"{a.label}\t{a.day or ''}\t{a.who}\t{a.count}件\t{a.note}")
