"""purpose_bound_access: 事務 bindings of staff and persons (issue 3)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 07:00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_assignment",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("task_code", sa.String(length=40), nullable=False),
        sa.Column("department", sa.String(length=60), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("assigned_at", sa.DateTime(), nullable=False),
        sa.Column("assigned_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"], name="fk_staff_assignment_user_id_staff_user"),
        sa.PrimaryKeyConstraint("user_id", "task_code", name="pk_staff_assignment"),
    )
    op.create_table(
        "person_task",
        sa.Column("atena_no", sa.String(length=15), nullable=False),
        sa.Column("task_code", sa.String(length=40), nullable=False),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.Column("linked_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["atena_no"], ["person.atena_no"], name="fk_person_task_atena_no_person"),
        sa.PrimaryKeyConstraint("atena_no", "task_code", name="pk_person_task"),
    )
    # Existing clerks and supervisors keep working: they were doing the vaccination task all along.
    op.execute(
        "INSERT INTO staff_assignment (user_id, task_code, department, valid_until, assigned_at, assigned_by) "
        "SELECT id, 'yobo_sesshu', '健康づくり課', NULL, created_at, 'migration:0008' FROM staff_user "
        "WHERE role IN ('clerk', 'supervisor')"
    )


def downgrade() -> None:
    op.drop_table("person_task")
    op.drop_table("staff_assignment")
