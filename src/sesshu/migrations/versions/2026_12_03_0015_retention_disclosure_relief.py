"""retention_disclosure_relief: per-person data keys (crypto-shredding)

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


def downgrade() -> None:
    op.drop_table("person_data_key")
