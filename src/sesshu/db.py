"""Engine and session factory, built by a function and never at import time."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from sesshu.config import Settings

# Integer primary keys are 32-bit on PostgreSQL; SQLite cannot even bind a number past 64 bits.
MAX_ROW_ID = 2**31 - 1


def get_row(s: Session, model, row_id: int, **kw):
    """`s.get` for an id that came from outside (URL, form, command line): a number no row can have
    is simply not found, the same on both backends, instead of a driver error."""
    return s.get(model, row_id, **kw) if 1 <= row_id <= MAX_ROW_ID else None


def normalize_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _owner_only(path: str | None) -> None:
    """The SQLite file holds every person's data: readable by the server's account alone (0600), with
    its WAL and shared-memory files, whatever the umask was when they were made."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    for name in (path, path + "-wal", path + "-shm"):
        try:
            os.chmod(name, 0o600)
        except FileNotFoundError:
            pass


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _begin_immediate).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # 256 MB page cache: a million-row import keeps its index pages in memory.
            cur.execute("PRAGMA cache_size=-262144")
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.close()
            _owner_only(engine.url.database)

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn):
            # Every use case writes an audit row, so take the write lock up front instead of
            # upgrading a read lock mid-transaction (which can fail with SQLITE_BUSY).
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


@dataclass
class Database:
    engine: Engine
    session_factory: sessionmaker[Session]
    # The audit chain's key (keys.load_audit_key): every session carries it, so every audit entry is sealed.
    audit_key: bytes | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """The one unit of work: commits when the block ends, rolls back on any error."""
        session = self.session_factory()
        session.info["audit_key"] = self.audit_key
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def make_database(settings: Settings) -> Database:
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    from sesshu.keys import load_audit_key

    engine = make_engine(url)
    factory = sessionmaker(engine, expire_on_commit=False)
    _install_write_rules(factory)
    return Database(engine=engine, session_factory=factory, audit_key=load_audit_key(settings))


def _install_write_rules(factory: sessionmaker) -> None:
    """Rules every write must follow, on every session of every Database (no path can skip them):
    the eligibility table is refreshed before each commit (sesshu.eligibility.hook). Imported here,
    where sessions are built, so that no feature has to remember to call it."""
    from sesshu.eligibility.hook import install

    install(factory)
