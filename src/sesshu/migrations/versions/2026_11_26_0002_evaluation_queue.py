"""evaluation queue: persons whose records wait for the schedule engine

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 05:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluation_queue",
        sa.Column("atena_no", sa.String(length=15), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("atena_no", name=op.f("pk_evaluation_queue")),
    )


def downgrade() -> None:
    op.drop_table("evaluation_queue")
