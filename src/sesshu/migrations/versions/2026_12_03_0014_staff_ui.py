"""staff_ui: per-user date style; indexes for the dashboard's aggregates

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-03 09:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_preference",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("date_style", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"], name="fk_staff_preference_user_id_staff_user"),
        sa.PrimaryKeyConstraint("user_id", name="pk_staff_preference"),
    )
    op.create_index("ix_vaccination_record_created_at", "vaccination_record", ["created_at"])
    op.create_index("ix_vaccination_record_vaccine_atena", "vaccination_record",
                    ["vaccine_code", "atena_no", "status"])


def downgrade() -> None:
    op.drop_index("ix_vaccination_record_vaccine_atena", table_name="vaccination_record")
    op.drop_index("ix_vaccination_record_created_at", table_name="vaccination_record")
    op.drop_table("staff_preference")
