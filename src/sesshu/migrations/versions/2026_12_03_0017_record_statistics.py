"""record_statistics: PostgreSQL's estimate of how many persons the ledger holds

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 14:15:00

ANALYZE samples 30,000 rows and, for vaccination_record.atena_no (a few to a dozen records per person,
spread over the whole heap), estimates far too few distinct persons: 78,005 for a ledger of 1,000,000
persons and 10.6M records. The planner then expects ~136 records per person, and every batch look-up
`atena_no IN (2,000 persons)` (schedule evaluation, 対象者選定, imports) became a sequential scan of the
whole table: 4.8 s per batch instead of 0.25 s (bench/bench_scale.py, docs/operations.md). A fixed
ratio — one person per 10 records, a negative n_distinct — scales with the table and keeps the
estimate right at every size. SQLite has no such setting (its planner uses the index anyway).
"""
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE vaccination_record ALTER COLUMN atena_no SET (n_distinct = -0.1)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE vaccination_record ALTER COLUMN atena_no RESET (n_distinct)")
