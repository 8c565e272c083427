"""The dashboard's running counts of records while an import writes many of them.

The counts are deltas that triggers append in the writing transaction (migration 0016). On PostgreSQL
the triggers are per statement: a chunk of an import adds one delta per key. On SQLite they are per
row (SQLite has no statement-level triggers), and a trigger on the table — even one whose body never
runs — makes every row of a bulk insert about three times as slow. So the import sets the insert
trigger aside inside its own transaction (SQLite's DDL is transactional: no other connection ever
sees the table without it, and a kill or an error rolls the drop back with the rest) and writes the
same deltas itself, one per key and chunk, before it puts the trigger back and commits.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

INSERT_TRIGGER = "dashboard_count_records_ins"


class InsertCounts:
    """Use: counts = InsertCounts(s); …inserts…; counts.added(created_at, n) per insert; counts.close()."""

    def __init__(self, s: Session):
        self._conn = s.connection()
        self._trigger_sql: str | None = None
        if self._conn.dialect.name == "sqlite":
            self._trigger_sql = self._conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (INSERT_TRIGGER,)).scalar()
            if self._trigger_sql is not None:
                self._conn.exec_driver_sql(f"DROP TRIGGER {INSERT_TRIGGER}")

    def added(self, created_at: datetime, n: int) -> None:
        """n active records created at created_at were inserted: the deltas the trigger would have written
        (the same expression for the Japan-time month as the trigger's)."""
        if self._trigger_sql is None or n <= 0:
            return
        stamp = created_at.strftime("%Y-%m-%d %H:%M:%S.%f")
        self._conn.exec_driver_sql(
            "INSERT INTO dashboard_count (key, n) VALUES ('records:' || strftime('%Y-%m', ?, '+9 hours'), ?), "
            "('active', ?)", (stamp, n, n))

    def close(self) -> None:
        """The trigger back, in the same transaction (call before the commit)."""
        if self._trigger_sql is not None:
            self._conn.exec_driver_sql(self._trigger_sql)
            self._trigger_sql = None
