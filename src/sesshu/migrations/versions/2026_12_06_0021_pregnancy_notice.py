"""pregnancy_notice: 妊娠届 (expected delivery date, 届出日, source) per person, for RSウイルス 母子免疫

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 03:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pregnancy_notice",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("atena_no", sa.String(length=15), nullable=False),
        sa.Column("expected_delivery", sa.Date(), nullable=False),
        sa.Column("notified_on", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("source_ref", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("import_batch_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=64), nullable=True),
        sa.Column("withdraw_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["atena_no"], ["person.atena_no"], name="fk_pregnancy_notice_atena_no_person"),
        sa.ForeignKeyConstraint(["import_batch_id"], ["import_batch.id"],
                                name="fk_pregnancy_notice_import_batch_id_import_batch"),
        sa.PrimaryKeyConstraint("id", name="pk_pregnancy_notice"),
    )
    op.create_index("ix_pregnancy_notice_atena_no", "pregnancy_notice", ["atena_no", "expected_delivery"])


def downgrade() -> None:
    op.drop_index("ix_pregnancy_notice_atena_no", table_name="pregnancy_notice")
    op.drop_table("pregnancy_notice")
