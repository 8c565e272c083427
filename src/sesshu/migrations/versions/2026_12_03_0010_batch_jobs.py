"""batch_jobs: resumable batch jobs (plan, committed chunks, outputs)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_job",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("job_key", sa.String(length=200), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("total_units", sa.Integer(), nullable=False),
        sa.Column("done_units", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("result", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_batch_job"),
    )
    op.create_index("uq_batch_job_kind_key", "batch_job", ["kind", "job_key"], unique=True)
    op.create_table(
        "batch_job_unit",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("unit_key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["batch_job.id"], name="fk_batch_job_unit_job_id_batch_job"),
        sa.PrimaryKeyConstraint("job_id", "seq", name="pk_batch_job_unit"),
    )
    op.create_table(
        "batch_job_chunk",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("chunk_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("committed_at", sa.DateTime(), nullable=False),
        sa.Column("output_done", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["batch_job.id"], name="fk_batch_job_chunk_job_id_batch_job"),
        sa.PrimaryKeyConstraint("job_id", "chunk_no", name="pk_batch_job_chunk"),
    )


def downgrade() -> None:
    op.drop_table("batch_job_chunk")
    op.drop_table("batch_job_unit")
    op.drop_index("uq_batch_job_kind_key", table_name="batch_job")
    op.drop_table("batch_job")
