"""`sesshu hub serve`: the hub as a separate process with its own database and keys."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

hub_app = typer.Typer(help="中継機能（情報提供ネットワークシステムの役割。別プロセス・別データベース）", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(hub_app, name="hub")


@hub_app.command("serve")
def hub_serve(port: int = typer.Option(8111), host: str = typer.Option("127.0.0.1"),
              db: str = typer.Option(..., "--db", help="中継機能のデータベースURL（都市のものとは別）"),
              config: Path = typer.Option(..., "--config", help="団体の公開鍵と照会許可用照合リスト（YAML）"),
              keys: Optional[Path] = typer.Option(None, "--keys", help="中継機能の署名鍵の置き場所")) -> None:
    """中継機能を起動します（データベースを最新にし、設定ファイルの団体・照会許可用照合リストを読み込みます）。"""
    import uvicorn

    from sesshu.config import load_settings
    from sesshu.db import make_database
    from sesshu.hub.app import create_hub_app
    from sesshu.hub.service import HubContext, load_config
    from sesshu.linkage.envelope import load_body_keys
    from sesshu.migrate import upgrade

    settings = load_settings(database_url=db)
    upgrade(settings)
    database = make_database(settings)
    bodies, rules = load_config(database, config)
    ctx = HubContext(db=database, keys=load_body_keys(keys or settings.resolved_key_dir / "hub"),
                     max_skew_seconds=settings.linkage_max_skew_seconds)
    typer.echo(f"中継機能: 団体 {bodies}、照会許可 {rules} 件。http://{host}:{port}/", err=True)
    uvicorn.run(create_hub_app(ctx), host=host, port=port, log_level="warning")
