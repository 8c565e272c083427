"""eligibility_table: 接種可能範囲 kept per person and line, refreshed by every write (issue 23)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 06:30:00

eligibility_span holds, per person and line, the spans of as_of dates with the same open answer
(eligible / not_yet) so that 対象者選定 is a range query (sesshu.eligibility). eligibility_state
says the table is built (its period and rules); with no row, nothing changes for anyone.
Triggers mark the persons whose records or facts change in eligibility_dirty, whatever writes
them (ORM, bulk insert, raw SQL); the session's before-commit hook refreshes them in the same
transaction. A rule file activation marks "*" (rebuild). The triggers mark nothing until the table
is built (`sesshu eligibility rebuild`).
"""
import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# table → (columns whose change matters on UPDATE)
WATCHED = {
    "vaccination_record": ("atena_no", "vaccine_code", "vaccinated_on", "status", "screening_result"),
    "person": ("atena_no", "birth_date", "sex", "registry_status"),
    "person_condition": ("atena_no", "condition_code", "valid_from", "valid_until", "status", "ended_on"),
    "pregnancy_notice": ("atena_no", "expected_delivery", "status"),
}
RULES = ("status", "effective_from", "sha256")
BUILT = "EXISTS (SELECT 1 FROM eligibility_state)"


def _sqlite_triggers() -> list[str]:
    out = []
    for table, cols in WATCHED.items():
        what = "{0}.vaccine_code" if table == "vaccination_record" else "'*'"
        mark = "INSERT OR IGNORE INTO eligibility_dirty (atena_no, vaccine_code) VALUES ({0}.atena_no, " + what + ");"
        out.append(f"CREATE TRIGGER eligibility_{table}_ins AFTER INSERT ON {table} WHEN {BUILT} "
                   f"BEGIN {mark.format('NEW')} END")
        # SQLite fires UPDATE OF whenever a column is SET, changed or not (a registry feed sets them all)
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in cols)
        out.append(f"CREATE TRIGGER eligibility_{table}_upd AFTER UPDATE OF {', '.join(cols)} ON {table} "
                   f"WHEN ({changed}) AND {BUILT} BEGIN {mark.format('OLD')} {mark.format('NEW')} END")
        out.append(f"CREATE TRIGGER eligibility_{table}_del AFTER DELETE ON {table} WHEN {BUILT} "
                   f"BEGIN {mark.format('OLD')} END")
    all_ = "INSERT OR IGNORE INTO eligibility_dirty (atena_no, vaccine_code) VALUES ('*', '*');"
    out.append(f"CREATE TRIGGER eligibility_rule_set_ins AFTER INSERT ON rule_set "
               f"WHEN NEW.status = 'active' AND {BUILT} BEGIN {all_} END")
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in RULES)
    out.append(f"CREATE TRIGGER eligibility_rule_set_upd AFTER UPDATE OF {', '.join(RULES)} ON rule_set "
               f"WHEN (OLD.status = 'active' OR NEW.status = 'active') AND ({changed}) AND {BUILT} BEGIN {all_} END")
    out.append(f"CREATE TRIGGER eligibility_rule_set_del AFTER DELETE ON rule_set "
               f"WHEN OLD.status = 'active' AND {BUILT} BEGIN {all_} END")
    return out


def _pg_triggers() -> list[str]:
    out = ["""CREATE FUNCTION eligibility_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM eligibility_state) THEN
    IF TG_OP <> 'INSERT' THEN
      INSERT INTO eligibility_dirty (atena_no, vaccine_code) VALUES (OLD.atena_no, '*') ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP <> 'DELETE' THEN
      INSERT INTO eligibility_dirty (atena_no, vaccine_code) VALUES (NEW.atena_no, '*') ON CONFLICT DO NOTHING;
    END IF;
  END IF;
  RETURN NULL;
END $$""",
           """CREATE FUNCTION eligibility_mark_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM eligibility_state) THEN
    IF TG_OP <> 'INSERT' THEN
      INSERT INTO eligibility_dirty (atena_no, vaccine_code) VALUES (OLD.atena_no, OLD.vaccine_code)
        ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP <> 'DELETE' THEN
      INSERT INTO eligibility_dirty (atena_no, vaccine_code) VALUES (NEW.atena_no, NEW.vaccine_code)
        ON CONFLICT DO NOTHING;
    END IF;
  END IF;
  RETURN NULL;
END $$""",
           """CREATE FUNCTION eligibility_mark_rules() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM eligibility_state) THEN
    INSERT INTO eligibility_dirty (atena_no, vaccine_code) VALUES ('*', '*') ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$"""]
    for table, cols in WATCHED.items():
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in cols)
        fn = "eligibility_mark_record" if table == "vaccination_record" else "eligibility_mark"
        out.append(f"CREATE TRIGGER eligibility_{table}_ins AFTER INSERT ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {fn}()")
        out.append(f"CREATE TRIGGER eligibility_{table}_upd AFTER UPDATE OF {', '.join(cols)} ON {table} "
                   f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION {fn}()")
        out.append(f"CREATE TRIGGER eligibility_{table}_del AFTER DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {fn}()")
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in RULES)
    out.append("CREATE TRIGGER eligibility_rule_set_ins AFTER INSERT ON rule_set FOR EACH ROW "
               "WHEN (NEW.status = 'active') EXECUTE FUNCTION eligibility_mark_rules()")
    out.append(f"CREATE TRIGGER eligibility_rule_set_upd AFTER UPDATE OF {', '.join(RULES)} ON rule_set FOR EACH ROW "
               f"WHEN ((OLD.status = 'active' OR NEW.status = 'active') AND ({changed})) "
               "EXECUTE FUNCTION eligibility_mark_rules()")
    out.append("CREATE TRIGGER eligibility_rule_set_del AFTER DELETE ON rule_set FOR EACH ROW "
               "WHEN (OLD.status = 'active') EXECUTE FUNCTION eligibility_mark_rules()")
    return out


def upgrade() -> None:
    op.create_table(
        "eligibility_span",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("atena_no", sa.String(15), nullable=False),
        sa.Column("line", sa.String(40), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("opens_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("next_dose", sa.Integer()),
        sa.Column("earliest", sa.Date()),
        sa.Column("standard_from", sa.Date()),
        sa.Column("standard_until", sa.Date()),
        sa.Column("legal_until", sa.Date()),
        sa.Column("priority_group", sa.String(100), nullable=False),
        sa.Column("rule_version", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_eligibility_span"),
    )
    op.create_index("ix_eligibility_span_atena_no", "eligibility_span", ["atena_no"])
    op.create_index("ix_eligibility_span_line_open", "eligibility_span", ["line", "opens_on", "valid_from", "valid_to"])
    op.create_table(
        "eligibility_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("book_key", sa.String(80), nullable=False),
        sa.Column("horizon_from", sa.Date(), nullable=False),
        sa.Column("horizon_to", sa.Date(), nullable=False),
        sa.Column("built_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_eligibility_state"),
    )
    op.create_table(
        "eligibility_dirty",
        sa.Column("atena_no", sa.String(15), nullable=False),
        sa.Column("vaccine_code", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("atena_no", "vaccine_code", name="pk_eligibility_dirty"),
    )
    bind = op.get_bind()
    for ddl in (_pg_triggers() if bind.dialect.name == "postgresql" else _sqlite_triggers()):
        op.execute(ddl)


def downgrade() -> None:
    bind = op.get_bind()
    for table in (*WATCHED, "rule_set"):
        for kind in ("ins", "upd", "del"):
            op.execute(f"DROP TRIGGER IF EXISTS eligibility_{table}_{kind}"
                       + (f" ON {table}" if bind.dialect.name == "postgresql" else ""))
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS eligibility_mark()")
        op.execute("DROP FUNCTION IF EXISTS eligibility_mark_record()")
        op.execute("DROP FUNCTION IF EXISTS eligibility_mark_rules()")
    op.drop_table("eligibility_dirty")
    op.drop_table("eligibility_state")
    op.drop_index("ix_eligibility_span_line_open", table_name="eligibility_span")
    op.drop_index("ix_eligibility_span_atena_no", table_name="eligibility_span")
    op.drop_table("eligibility_span")
