"""Shared fixtures. Every database test runs twice: on SQLite and on the PostgreSQL server at
127.0.0.1:5432 (SESSHU_TEST_PG_URL to change). If PostgreSQL cannot be reached the tests fail —
they are never skipped — so CI cannot pass without having run them."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from sesshu.actor import Actor
from sesshu.config import Settings, load_settings
from sesshu.db import Database, make_database
from sesshu.ledger.reference import sync_reference_data
from sesshu.migrate import upgrade

PG_ADMIN_URL = os.environ.get("SESSHU_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    var = tmp_path_factory.mktemp("sqlite-template")
    settings = load_settings(var_dir=var, database_url=f"sqlite:///{var / 'template.db'}")
    upgrade(settings)
    db = make_database(settings)
    sync_reference_data(db)
    db.dispose()
    return var / "template.db"


@pytest.fixture(scope="session")
def pg_url():
    name = f"sesshu_test_{os.getpid()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    settings = load_settings(database_url=url)
    upgrade(settings)
    yield url
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_pg(db: Database) -> None:
    with db.engine.begin() as c:
        tables = [r[0] for r in c.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"))]
        # Tests only: bypass the append-only trigger to empty the log between tests.
        c.execute(text("SET LOCAL session_replication_role = replica"))
        c.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        c.execute(text("INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, :g)"), {"g": "0" * 64})
    sync_reference_data(db)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def settings(backend, tmp_path, request) -> Settings:
    var = tmp_path / "var"
    var.mkdir()
    if backend == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), var / "sesshu.db")
        url = f"sqlite:///{var / 'sesshu.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    return load_settings(var_dir=var, database_url=url)


@pytest.fixture
def db(settings, backend) -> Database:
    database = make_database(settings)
    if backend == "postgresql":
        _reset_pg(database)
    yield database
    database.dispose()


@pytest.fixture
def live_server(settings, db):
    """The web app on a real uvicorn over HTTP (browser tests, the outside probe)."""
    from sesshu.web.app import create_app
    from tests.helpers import running_server

    with running_server(create_app(settings)) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def clerk(db, settings) -> Actor:
    """A real clerk account, assigned to the vaccination task (as every clerk must be to see persons)."""
    from sesshu.auth.service import create_user

    admin = Actor(login_id="setup", kind="os", role="operator")
    create_user(db, settings, actor=admin, login_id="clerk1", display_name="担当 一郎", role="clerk",
                password="kumagaya-Sesshu-2026", tasks=(("yobo_sesshu", "健康づくり課"),))
    with db.transaction() as s:
        user_id = s.execute(text("SELECT id FROM staff_user WHERE login_id = 'clerk1'")).scalar_one()
    return Actor(login_id="clerk1", kind="user", role="clerk", user_id=user_id)


@pytest.fixture
def operator() -> Actor:
    return Actor(login_id="ops", kind="os", role="operator")

