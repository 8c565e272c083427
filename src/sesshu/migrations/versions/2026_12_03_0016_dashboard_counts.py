"""dashboard_counts: running counts kept by triggers on vaccination_record and person; cohort index

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 13:00:00

The counts are deltas appended by triggers, in the writing transaction (see
sesshu.dashboard.models.DashboardCount). PostgreSQL: statement-level triggers with transition
tables (one delta row per key per statement, so a bulk import adds a handful of rows). SQLite:
row-level triggers (SQLite has a single writer, and no statement-level triggers). Months are
Japan time (UTC + 9 hours), as on the dashboard.
"""
from alembic import op
import sqlalchemy as sa

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

RECORD_MONTH_PG = "'records:' || to_char({t}.created_at + interval '9 hours', 'YYYY-MM')"
RECORD_MONTH_SQLITE = "'records:' || strftime('%Y-%m', {t}.created_at, '+9 hours')"

PG_FUNCTIONS = """
CREATE FUNCTION dashboard_count_records() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO dashboard_count (key, n)
      SELECT k, sum(d) FROM (
        SELECT {month_new} AS k, 1 AS d FROM new_rows
        UNION ALL SELECT 'active', 1 FROM new_rows WHERE new_rows.status = 'active') x
      GROUP BY k HAVING sum(d) <> 0;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO dashboard_count (key, n)
      SELECT k, sum(d) FROM (
        SELECT {month_old} AS k, -1 AS d FROM old_rows
        UNION ALL SELECT 'active', -1 FROM old_rows WHERE old_rows.status = 'active') x
      GROUP BY k HAVING sum(d) <> 0;
  ELSE
    INSERT INTO dashboard_count (key, n)
      SELECT k, sum(d) FROM (
        SELECT {month_new} AS k, 1 AS d FROM new_rows
        UNION ALL SELECT 'active', 1 FROM new_rows WHERE new_rows.status = 'active'
        UNION ALL SELECT {month_old}, -1 FROM old_rows
        UNION ALL SELECT 'active', -1 FROM old_rows WHERE old_rows.status = 'active') x
      GROUP BY k HAVING sum(d) <> 0;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION dashboard_count_persons() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO dashboard_count (key, n)
      SELECT 'residents', count(*) FROM new_rows WHERE registry_status = 'resident' HAVING count(*) > 0;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO dashboard_count (key, n)
      SELECT 'residents', -count(*) FROM old_rows WHERE registry_status = 'resident' HAVING count(*) > 0;
  ELSE
    INSERT INTO dashboard_count (key, n)
      SELECT 'residents', d FROM (
        SELECT (SELECT count(*) FROM new_rows WHERE registry_status = 'resident')
             - (SELECT count(*) FROM old_rows WHERE registry_status = 'resident') AS d) x
      WHERE d <> 0;
  END IF;
  RETURN NULL;
END $$;
""".format(month_new=RECORD_MONTH_PG.format(t="new_rows"), month_old=RECORD_MONTH_PG.format(t="old_rows"))

PG_TRIGGERS = [
    f"CREATE TRIGGER dashboard_count_{table}_{op_name} AFTER {op_sql} ON {table} "
    f"REFERENCING {refs} FOR EACH STATEMENT EXECUTE FUNCTION dashboard_count_{fn}()"
    for table, fn in (("vaccination_record", "records"), ("person", "persons"))
    for op_name, op_sql, refs in (("ins", "INSERT", "NEW TABLE AS new_rows"),
                                  ("upd", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
                                  ("del", "DELETE", "OLD TABLE AS old_rows"))
]

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER dashboard_count_records_ins AFTER INSERT ON vaccination_record BEGIN
      INSERT INTO dashboard_count (key, n) VALUES ({RECORD_MONTH_SQLITE.format(t="new")}, 1);
      INSERT INTO dashboard_count (key, n) SELECT 'active', 1 WHERE new.status = 'active';
    END""",
    f"""CREATE TRIGGER dashboard_count_records_del AFTER DELETE ON vaccination_record BEGIN
      INSERT INTO dashboard_count (key, n) VALUES ({RECORD_MONTH_SQLITE.format(t="old")}, -1);
      INSERT INTO dashboard_count (key, n) SELECT 'active', -1 WHERE old.status = 'active';
    END""",
    f"""CREATE TRIGGER dashboard_count_records_upd AFTER UPDATE OF status, created_at ON vaccination_record BEGIN
      INSERT INTO dashboard_count (key, n) SELECT {RECORD_MONTH_SQLITE.format(t="new")}, 1
        WHERE new.created_at IS NOT old.created_at;
      INSERT INTO dashboard_count (key, n) SELECT {RECORD_MONTH_SQLITE.format(t="old")}, -1
        WHERE new.created_at IS NOT old.created_at;
      INSERT INTO dashboard_count (key, n)
        SELECT 'active', (new.status = 'active') - (old.status = 'active')
        WHERE (new.status = 'active') <> (old.status = 'active');
    END""",
    """CREATE TRIGGER dashboard_count_persons_ins AFTER INSERT ON person WHEN new.registry_status = 'resident' BEGIN
      INSERT INTO dashboard_count (key, n) VALUES ('residents', 1);
    END""",
    """CREATE TRIGGER dashboard_count_persons_del AFTER DELETE ON person WHEN old.registry_status = 'resident' BEGIN
      INSERT INTO dashboard_count (key, n) VALUES ('residents', -1);
    END""",
    """CREATE TRIGGER dashboard_count_persons_upd AFTER UPDATE OF registry_status ON person
      WHEN (new.registry_status = 'resident') <> (old.registry_status = 'resident') BEGIN
      INSERT INTO dashboard_count (key, n)
        VALUES ('residents', (new.registry_status = 'resident') - (old.registry_status = 'resident'));
    END""",
]
TRIGGER_NAMES = [f"dashboard_count_{t}_{o}" for t in ("records", "persons") for o in ("ins", "upd", "del")]


def upgrade() -> None:
    op.create_table(
        "dashboard_count",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=20), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dashboard_count"),
    )
    op.create_index("ix_person_birth_status_atena", "person", ["birth_date", "registry_status", "atena_no"])
    # Records per month are counted by the triggers now; the index only cost every insert.
    op.drop_index("ix_vaccination_record_created_at", table_name="vaccination_record")
    postgres = op.get_bind().dialect.name == "postgresql"
    month = (RECORD_MONTH_PG if postgres else RECORD_MONTH_SQLITE).format(t="vaccination_record")
    # The counts of the rows already there, then the triggers keep them.
    op.execute(f"INSERT INTO dashboard_count (key, n) SELECT {month}, count(*) FROM vaccination_record GROUP BY 1")
    op.execute("INSERT INTO dashboard_count (key, n) SELECT 'active', count(*) FROM vaccination_record "
               "WHERE status = 'active'")
    op.execute("INSERT INTO dashboard_count (key, n) SELECT 'residents', count(*) FROM person "
               "WHERE registry_status = 'resident'")
    if postgres:
        op.execute(PG_FUNCTIONS)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, fn in (("vaccination_record", "records"), ("person", "persons")):
            for o in ("ins", "upd", "del"):
                op.execute(f"DROP TRIGGER IF EXISTS dashboard_count_{table}_{o} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS dashboard_count_{fn}()")
    else:
        for name in TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("dashboard_count")
    op.drop_index("ix_person_birth_status_atena", table_name="person")
    op.create_index("ix_vaccination_record_created_at", "vaccination_record", ["created_at"])
