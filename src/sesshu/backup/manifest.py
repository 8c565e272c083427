"""What a backup contains, computed the same way from the source snapshot and from the restored
database: per table the row count and a SHA-256 over every row in primary-key order, the schema
revision and the head of the audit chain."""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, time
from decimal import Decimal

from sqlalchemy import Connection, inspect

FORMAT = "sesshu-backup/1"


def _value(v):
    if isinstance(v, memoryview):
        v = bytes(v)
    if isinstance(v, bytes):
        return {"b": v.hex()}
    if isinstance(v, (datetime, date, time)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    return v


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def user_tables(conn: Connection) -> list[str]:
    names = inspect(conn).get_table_names()
    return sorted(n for n in names if not n.startswith("sqlite_"))


def table_digest(conn: Connection, table: str, batch: int = 5000) -> tuple[int, str]:
    """(rows, sha256) of one table, read in primary-key order with plain driver rows."""
    insp = inspect(conn)
    pk = insp.get_pk_constraint(table).get("constrained_columns") or []
    cols = [c["name"] for c in insp.get_columns(table)]
    order = ", ".join(_quote(c) for c in (pk or cols))
    h = hashlib.sha256()
    rows = 0
    result = conn.exec_driver_sql(
        f"SELECT {', '.join(_quote(c) for c in cols)} FROM {_quote(table)} ORDER BY {order}")
    while True:
        chunk = result.fetchmany(batch)
        if not chunk:
            break
        for row in chunk:
            rows += 1
            h.update(json.dumps([_value(v) for v in row], ensure_ascii=False, separators=(",", ":"),
                                default=str).encode("utf-8"))
            h.update(b"\n")
    return rows, h.hexdigest()


def database_state(conn: Connection) -> dict:
    """Tables, schema revision and audit head as seen by this connection's transaction."""
    tables = {}
    for t in user_tables(conn):
        rows, digest = table_digest(conn, t)
        tables[t] = {"rows": rows, "sha256": digest}
    revision = None
    if "alembic_version" in tables:
        revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    head = None
    if "audit_head" in tables:
        r = conn.exec_driver_sql("SELECT last_seq, last_hash FROM audit_head WHERE id = 1").first()
        if r is not None:
            head = {"seq": r[0], "hash": r[1]}
    return {"schema_revision": revision, "tables": tables, "audit_head": head}


def compare(expected: dict, actual: dict) -> list[str]:
    """Differences between a manifest and a database state, in Japanese (empty: equal)."""
    problems = []
    if expected.get("schema_revision") != actual.get("schema_revision"):
        problems.append(f"スキーマの版が一致しません（バックアップ: {expected.get('schema_revision')}、"
                        f"復元先: {actual.get('schema_revision')}）")
    exp_t, act_t = expected.get("tables", {}), actual.get("tables", {})
    for name in sorted(set(exp_t) | set(act_t)):
        e, a = exp_t.get(name), act_t.get(name)
        if e is None:
            problems.append(f"表 {name}: バックアップにない表があります")
        elif a is None:
            problems.append(f"表 {name}: 復元先にありません")
        elif e["rows"] != a["rows"]:
            problems.append(f"表 {name}: 件数が一致しません（バックアップ {e['rows']} 件、復元先 {a['rows']} 件）")
        elif e["sha256"] != a["sha256"]:
            problems.append(f"表 {name}: 内容のハッシュが一致しません")
    if expected.get("audit_head") != actual.get("audit_head"):
        problems.append("操作記録の末尾（連番・ハッシュ）が一致しません")
    return problems
