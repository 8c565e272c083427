"""search indexes: (kana_key, atena_no) and (name_key, atena_no) for ordered prefix pages

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 05:40:00
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index("ix_person_kana_key")
        batch_op.drop_index("ix_person_name_key")
        batch_op.create_index("ix_person_kana_key_atena_no", ["kana_key", "atena_no"], unique=False)
        batch_op.create_index("ix_person_name_key_atena_no", ["name_key", "atena_no"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index("ix_person_name_key_atena_no")
        batch_op.drop_index("ix_person_kana_key_atena_no")
        batch_op.create_index("ix_person_name_key", ["name_key"], unique=False)
        batch_op.create_index("ix_person_kana_key", ["kana_key"], unique=False)
