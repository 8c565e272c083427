"""my_number_layer: 個人番号確認 results and export log (issue 3)

Exports and prints are logged in the audit chain itself (row count, purpose, file hash), so the
only new table is the 個人番号確認 result.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 07:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mynumber_verification",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("atena_no", sa.String(length=15), nullable=False),
        sa.Column("verified_at", sa.DateTime(), nullable=False),
        sa.Column("verified_by", sa.String(length=64), nullable=False),
        sa.Column("document", sa.String(length=30), nullable=False),
        sa.Column("identity_document", sa.String(length=60), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("number_check", sa.String(length=20), nullable=False),
        sa.Column("name_check", sa.String(length=20), nullable=False),
        sa.Column("birth_date_check", sa.String(length=20), nullable=False),
        sa.Column("sex_check", sa.String(length=20), nullable=False),
        sa.Column("address_check", sa.String(length=20), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["atena_no"], ["person.atena_no"],
                                name=op.f("fk_mynumber_verification_atena_no_person")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mynumber_verification")),
    )
    with op.batch_alter_table("mynumber_verification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mynumber_verification_atena_no"), ["atena_no"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mynumber_verification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mynumber_verification_atena_no"))
    op.drop_table("mynumber_verification")
