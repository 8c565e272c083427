"""Schema changes go only through Alembic; this builds its config from sesshu's settings."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from sesshu.config import Settings
from sesshu.db import normalize_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d_%%(slug)s")
    cfg.set_main_option("sqlalchemy.url", normalize_url(settings.resolved_database_url).replace("%", "%%"))
    return cfg


def upgrade(settings: Settings, revision: str = "head") -> None:
    from sesshu.keys import load_audit_key

    cfg = alembic_config(settings)
    cfg.attributes["audit_key"] = load_audit_key(settings)  # 0022 seals the existing audit chain with it
    command.upgrade(cfg, revision)
