"""rule_set: uploaded rule files (campaigns, amendments of shipped files, city settings)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 02:40:00

A campaign (特措法 住民接種), an amended shipped rule file or the city's settings is uploaded as a
version with an effective date, proposed by one supervisor and activated by another (approval kind
`rule_set_activate`). The active versions with the shipped files are the rules every path uses.
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_set",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("vaccine_codes", sa.String(400), nullable=False),
        sa.Column("group_ids", sa.String(400), nullable=False),
        sa.Column("yaml_text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(400), nullable=False),
        sa.Column("proposed_by", sa.String(64), nullable=False),
        sa.Column("proposed_at", sa.DateTime(), nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=True),
        sa.Column("approved_by", sa.String(64), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rule_set"),
        sa.UniqueConstraint("kind", "name", "version", name="uq_rule_set_kind_name_version"),
    )
    op.create_index("ix_rule_set_status", "rule_set", ["status"])


def downgrade() -> None:
    op.drop_index("ix_rule_set_status", table_name="rule_set")
    op.drop_table("rule_set")
