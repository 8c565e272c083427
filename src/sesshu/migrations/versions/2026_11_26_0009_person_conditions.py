"""person_conditions: the B類 60–64 criterion (designated_disability) stored per person

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 08:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_condition",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("atena_no", sa.String(length=15), nullable=False),
        sa.Column("condition_code", sa.String(length=40), nullable=False),
        sa.Column("impairment", sa.String(length=20), nullable=False),
        sa.Column("evidence_kind", sa.String(length=30), nullable=False),
        sa.Column("evidence_grade", sa.Integer(), nullable=True),
        sa.Column("evidence_no", sa.String(length=40), nullable=False),
        sa.Column("evidence_issued_on", sa.Date(), nullable=True),
        sa.Column("evidence_note", sa.String(length=200), nullable=False),
        sa.Column("confirmed_on", sa.Date(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("record_reason", sa.String(length=200), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.Column("end_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["atena_no"], ["person.atena_no"], name="fk_person_condition_atena_no_person"),
        sa.PrimaryKeyConstraint("id", name="pk_person_condition"),
    )
    op.create_index("ix_person_condition_atena_no", "person_condition", ["atena_no"])


def downgrade() -> None:
    op.drop_index("ix_person_condition_atena_no", table_name="person_condition")
    op.drop_table("person_condition")
