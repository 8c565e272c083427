"""billing_run_files: when the month's files were written from a run

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 16:20:00

`sesshu billing run` computes the month (a sesshu.jobs job) and then writes its files. A kill between
the job's closing commit and the files' commit left a finished run without files, and the re-run of the
same command then computed the month again as a new run. `files_at` is set in the transaction that logs
the files (`billing.files`), so a re-run can tell an interrupted command from a finished one.
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("billing_run", sa.Column("files_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("billing_run") as batch:
        batch.drop_column("files_at")
