"""retention_disclosure_relief: per-person data keys (crypto-shredding), 問合せ受付票, 利用停止

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-03 09:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_data_key",
        sa.Column("atena_no", sa.String(length=15), nullable=False),
        sa.Column("key_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("atena_no", name=op.f("pk_person_data_key")),
    )
    op.create_table(
        "inquiry",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("atena_no", sa.String(length=15), nullable=True),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("requester_name", sa.String(length=100), nullable=False),
        sa.Column("requester_relation", sa.String(length=20), nullable=False),
        sa.Column("identity_method", sa.String(length=40), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("covers_my_number", sa.Boolean(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answered_on", sa.Date(), nullable=True),
        sa.Column("answered_by", sa.String(length=64), nullable=False),
        sa.Column("result_ref", sa.String(length=80), nullable=False),
        sa.Column("received_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["atena_no"], ["person.atena_no"], name=op.f("fk_inquiry_atena_no_person")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry")),
    )
    op.create_index(op.f("ix_inquiry_atena_no"), "inquiry", ["atena_no"], unique=False)
    op.create_index("ix_inquiry_status_due_on", "inquiry", ["status", "due_on"], unique=False)
    op.create_table(
        "use_suspension",
        sa.Column("atena_no", sa.String(length=15), nullable=False),
        sa.Column("inquiry_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["atena_no"], ["person.atena_no"], name=op.f("fk_use_suspension_atena_no_person")),
        sa.ForeignKeyConstraint(["inquiry_id"], ["inquiry.id"], name=op.f("fk_use_suspension_inquiry_id_inquiry")),
        sa.PrimaryKeyConstraint("atena_no", name=op.f("pk_use_suspension")),
    )


def downgrade() -> None:
    op.drop_table("use_suspension")
    op.drop_index("ix_inquiry_status_due_on", table_name="inquiry")
    op.drop_index(op.f("ix_inquiry_atena_no"), table_name="inquiry")
    op.drop_table("inquiry")
    op.drop_table("person_data_key")
