"""record_list_indexes: the record list's filters; staff_user.must_change_password (issue 22)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 03:00:00

The record list (/records) finds records by Lot No (a lot recall), 請求月, import batch (the import
summary's links) and vaccine with a date range. Each gets an index so the list stays fast on a
39.5M-record ledger. Records with an エラーコード (判定 無効・任意) get a partial index of their own:
they are few, and the list of them (the import summary's links) reads it newest first.

staff_user.must_change_password: an account created or a password reset by the security officer on the
web gets a one-time password the user must replace at the next sign-in.
"""
import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_vaccination_record_lot_no", "vaccination_record", ["lot_no"])
    op.create_index("ix_vaccination_record_billing_month", "vaccination_record", ["billing_month"])
    op.create_index("ix_vaccination_record_import_batch", "vaccination_record", ["import_batch_id"])
    op.create_index("ix_vaccination_record_vaccine_date", "vaccination_record", ["vaccine_code", "vaccinated_on"])
    op.create_index("ix_vaccination_record_flagged", "vaccination_record", ["vaccinated_on", "id"],
                    sqlite_where=sa.text("error_code <> ''"), postgresql_where=sa.text("error_code <> ''"))
    op.add_column("staff_user", sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                          server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("staff_user") as batch:
        batch.drop_column("must_change_password")
    for name in ("ix_vaccination_record_flagged", "ix_vaccination_record_vaccine_date", "ix_vaccination_record_import_batch",
                 "ix_vaccination_record_billing_month", "ix_vaccination_record_lot_no"):
        op.drop_index(name, table_name="vaccination_record")
