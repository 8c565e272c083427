"""relief_adjustment: 過誤調整 of relief payments after a corrected decision

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 02:40:00

A recorded relief decision may be corrected (with a reason and a second person's approval). What was
already paid under the old decision is set right in the next payment list of the case: one row per
benefit with the signed difference, listed once and marked sent with the 全銀 file's hash. A benefit
the correction takes away is kept, marked cancelled (relief_benefit.status), so its history stays readable.
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("relief_benefit", sa.Column("status", sa.String(length=12), nullable=False,
                                              server_default="active"))
    op.create_table(
        "relief_adjustment",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("benefit_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=400), nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=True),
        sa.Column("pay_month", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("zengin_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["relief_case.id"], name=op.f("fk_relief_adjustment_case_id_relief_case")),
        sa.ForeignKeyConstraint(["benefit_id"], ["relief_benefit.id"],
                                name=op.f("fk_relief_adjustment_benefit_id_relief_benefit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relief_adjustment")),
    )
    op.create_index(op.f("ix_relief_adjustment_case_id"), "relief_adjustment", ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_relief_adjustment_case_id"), table_name="relief_adjustment")
    op.drop_table("relief_adjustment")
    with op.batch_alter_table("relief_benefit") as batch:
        batch.drop_column("status")
