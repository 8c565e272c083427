"""approvals: four-eyes approval requests (issue 3)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 07:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approval_request",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("payload_ref", sa.String(length=32), nullable=False),
        sa.Column("payload_enc", sa.LargeBinary(), nullable=False),
        sa.Column("summary", sa.String(length=200), nullable=False),
        sa.Column("subject_key", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=400), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_by_user_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_by_user_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_comment", sa.String(length=400), nullable=False),
        sa.Column("result_ref", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_request")),
        sa.UniqueConstraint("payload_ref", name=op.f("uq_approval_request_payload_ref")),
    )
    with op.batch_alter_table("approval_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approval_request_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_approval_request_requested_by_user_id"), ["requested_by_user_id"],
                              unique=False)
        batch_op.create_index("ix_approval_request_status", ["status", "requested_at"], unique=False)
        batch_op.create_index("uq_approval_request_pending_subject", ["subject_key"], unique=True,
                              sqlite_where=sa.text("status = 'requested'"),
                              postgresql_where=sa.text("status = 'requested'"))


def downgrade() -> None:
    with op.batch_alter_table("approval_request", schema=None) as batch_op:
        batch_op.drop_index("uq_approval_request_pending_subject")
        batch_op.drop_index("ix_approval_request_status")
        batch_op.drop_index(batch_op.f("ix_approval_request_requested_by_user_id"))
        batch_op.drop_index(batch_op.f("ix_approval_request_kind"))
    op.drop_table("approval_request")
