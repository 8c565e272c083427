"""Fast multi-row INSERT for imports: straight to the driver's executemany, inside the caller's
transaction. SQLAlchemy's per-row parameter processing costs more than the insert itself at
a million rows, so values are converted here the way SQLAlchemy stores them on SQLite."""
from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal
from operator import itemgetter

from sqlalchemy import Date, DateTime, Numeric, Table, Time
from sqlalchemy.orm import Session


def _to_sqlite(v):
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, time):  # as SQLAlchemy's SQLite Time stores it (and reads it back)
        return v.strftime("%H:%M:%S.%f")
    if isinstance(v, Decimal):
        return float(v)
    return v


_SAFE_TEXT = re.compile(r"[A-Za-z0-9 _.:@+-]*")


def _literal(v) -> str | None:
    """A constant of the batch as SQL text both SQLite and PostgreSQL read the same way, or None
    when it is safer bound as a parameter (any text outside a plain ASCII set)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, datetime):
        v = v.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, str) and _SAFE_TEXT.fullmatch(v):
        return f"'{v}'"
    return None


def bulk_insert(session: Session, table: Table, rows: list[dict], columns: tuple[str, ...], *,
                constants: dict | None = None, skip_conflicts: bool = False) -> int:
    """Insert rows (dicts holding every column named) in one executemany; returns rows inserted.

    constants: columns whose value is the same for the whole batch (batch id, stamps); they are
    written once into the statement instead of being bound for every row.
    With skip_conflicts, rows that would break a unique index are skipped (ON CONFLICT DO NOTHING).
    """
    if not rows:
        return 0
    literals = {k: _literal(v) for k, v in (constants or {}).items()}
    bound = {k: constants[k] for k, lit in literals.items() if lit is None}
    literals = {k: lit for k, lit in literals.items() if lit is not None}
    if bound:
        columns = (*columns, *bound)
        rows = [{**r, **bound} for r in rows]
    conn = session.connection()
    dialect = conn.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    names = ", ".join([*columns, *literals])
    values = ", ".join([*([mark] * len(columns)), *literals.values()])
    sql = f"INSERT INTO {table.name} ({names}) VALUES ({values})"
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    getter = itemgetter(*columns)
    params = [getter(r) for r in rows]
    if dialect.name == "sqlite":
        typed = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, (Date, DateTime, Numeric, Time))]
        if typed:
            memo: dict = {}
            converted = []
            for t in params:
                t = list(t)
                for i in typed:
                    v = t[i]
                    if v is not None:
                        c = memo.get(v)
                        if c is None:
                            c = memo[v] = _to_sqlite(v)
                        t[i] = c
                converted.append(tuple(t))
            params = converted
    return conn.exec_driver_sql(sql, params).rowcount


def bulk_copy_skipping_conflicts(session: Session, table: Table, rows: list[dict], columns: tuple[str, ...], *,
                                  constants: dict | None = None, order: list[int] | None = None) -> int:
    """bulk_insert(..., skip_conflicts=True) through COPY on PostgreSQL: the rows go by COPY into a
    temporary table of this transaction and from there in one `INSERT … SELECT … ON CONFLICT DO NOTHING`
    (COPY itself cannot skip a row that breaks a unique index). Rows enter the table in `order` (indexes
    into rows; default: as given), so among rows with the same key the first in that order is stored.
    Elsewhere, bulk_insert with the rows in that order. Returns the rows inserted."""
    if not rows:
        return 0
    ordered = rows if order is None else [rows[i] for i in order]
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return bulk_insert(session, table, ordered, columns, constants=constants, skip_conflicts=True)
    stage = f"_stage_{table.name}"
    names = ", ".join(columns)
    conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS "
                         f"SELECT 0 AS seq, {names} FROM {table.name} WITH NO DATA")
    conn.exec_driver_sql(f"TRUNCATE {stage}")
    getter = itemgetter(*columns)
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {stage} (seq, {names}) FROM STDIN") as copy:
        for i, r in enumerate(ordered):
            values = getter(r)
            copy.write_row((i, *values) if isinstance(values, tuple) else (i, values))
    consts = constants or {}
    literals = {k: _literal(v) for k, v in consts.items()}
    bound = [consts[k] for k, lit in literals.items() if lit is None]
    select_consts = [lit if lit is not None else "%s" for lit in literals.values()]
    sql = (f"INSERT INTO {table.name} ({', '.join([*columns, *consts])}) "
           f"SELECT {', '.join([*columns, *select_consts])} FROM {stage} ORDER BY seq ON CONFLICT DO NOTHING")
    return conn.exec_driver_sql(sql, tuple(bound)).rowcount


def bulk_copy(session: Session, table: Table, rows: list[dict], columns: tuple[str, ...], *,
              constants: dict | None = None) -> int:
    """bulk_insert for large batches with no conflict to skip: PostgreSQL's COPY (several times faster
    than executemany for tens of thousands of rows), the same executemany elsewhere. Same transaction."""
    if not rows:
        return 0
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return bulk_insert(session, table, rows, columns, constants=constants)
    consts = constants or {}
    names = (*columns, *consts)
    getter = itemgetter(*columns)
    extra = tuple(consts.values())
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
        for r in rows:
            values = getter(r)
            copy.write_row((values if isinstance(values, tuple) else (values,)) + extra)
    return len(rows)
