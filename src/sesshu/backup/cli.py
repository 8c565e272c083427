"""`sesshu backup create|verify|restore`: online backup of the configured database (keys excluded)."""
from __future__ import annotations

import json
from pathlib import Path

import typer

backup_app = typer.Typer(help="バックアップと復元（鍵ファイルは含みません）", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(backup_app, name="backup")


def _summary(manifest: dict) -> None:
    head = manifest.get("audit_head") or {}
    rows = sum(t["rows"] for t in manifest["tables"].values())
    typer.echo(f"  形式: {manifest['format']}（{manifest['backend']}）  作成: {manifest['created_at']}")
    typer.echo(f"  スキーマ版: {manifest['schema_revision']}  表: {len(manifest['tables'])}  行: {rows}")
    typer.echo(f"  操作記録の末尾: 連番 {head.get('seq')}  {str(head.get('hash'))[:16]}…")


@backup_app.command("create")
def backup_create(out: Path = typer.Option(..., "--out", help="書き出すバックアップファイル")) -> None:
    """運用中のデータベースのバックアップを作成します（書き込みは止まりません。鍵ファイルは含みません）。"""
    from sesshu.actor import os_actor
    from sesshu.backup.service import create_backup
    from sesshu.config import load_settings
    from sesshu.db import make_database

    settings = load_settings()
    result = create_backup(make_database(settings), settings, out=out, actor=os_actor())
    typer.echo(f"バックアップを作成しました: {result.path}")
    _summary(result.manifest)
    typer.echo("  鍵ファイル（SESSHU_KEY_DIR）は含まれていません。別媒体に分けて保管してください（docs/operations.md）")


@backup_app.command("verify")
def backup_verify(file: Path, as_json: bool = typer.Option(False, "--json")) -> None:
    """バックアップファイルを検査します（目録・ハッシュ・操作記録の連鎖）。問題があれば終了コード 1。"""
    from sesshu.backup.service import verify_backup
    from sesshu.domain.errors import DomainError

    try:
        result = verify_backup(file)
    except DomainError as e:  # not a backup at all (or unreadable): a bad backup, exit 1 as documented
        typer.echo(f"バックアップに問題があります: {e.message}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps({"ok": result.ok, "problems": result.problems, "manifest": result.manifest},
                              ensure_ascii=False, indent=2))
    else:
        typer.echo("バックアップは正常です" if result.ok else "バックアップに問題があります")
        _summary(result.manifest)
        for p in result.problems:
            typer.echo(f"  - {p}")
    if not result.ok:
        raise typer.Exit(1)


@backup_app.command("restore")
def backup_restore(file: Path) -> None:
    """空のデータベース（SESSHU_DATABASE_URL）にバックアップを復元し、元と一致するか確かめます。"""
    from sesshu.actor import os_actor
    from sesshu.backup.service import restore_backup
    from sesshu.config import load_settings

    result = restore_backup(load_settings(), path=file, actor=os_actor())
    if result.ok:
        typer.echo("復元しました。件数・内容のハッシュ・操作記録の連鎖がバックアップ時点と一致しています")
        _summary(result.manifest)
        typer.echo("  鍵ファイルを SESSHU_KEY_DIR に戻してから `sesshu keys status` で確認してください")
        return
    typer.echo("エラー: 復元したデータベースがバックアップの目録と一致しません。このデータベースは使わないでください", err=True)
    for p in result.problems:
        typer.echo(f"  - {p}", err=True)
    raise typer.Exit(1)
