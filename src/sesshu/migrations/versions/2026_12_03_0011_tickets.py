"""tickets: 接種券, notice batches, certificates, never-reused number counters

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 10:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "number_counter",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_number_counter"),
    )
    op.create_table(
        "ticket",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_no", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=1), nullable=False),
        sa.Column("atena_no", sa.String(length=15), nullable=False),
        sa.Column("vaccine", sa.String(length=20), nullable=False),
        sa.Column("dose_no", sa.Integer(), nullable=False),
        sa.Column("term", sa.String(length=20), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("issue_reason", sa.String(length=12), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("used_record_id", sa.Integer(), nullable=True),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("invalidated_at", sa.DateTime(), nullable=True),
        sa.Column("invalidated_by", sa.String(length=64), nullable=False),
        sa.Column("invalidated_reason", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["atena_no"], ["person.atena_no"], name="fk_ticket_atena_no_person"),
        sa.ForeignKeyConstraint(["job_id"], ["batch_job.id"], name="fk_ticket_job_id_batch_job"),
        sa.ForeignKeyConstraint(["replaces_id"], ["ticket.id"], name="fk_ticket_replaces_id_ticket"),
        sa.ForeignKeyConstraint(["used_record_id"], ["vaccination_record.id"],
                                name="fk_ticket_used_record_id_vaccination_record"),
        sa.PrimaryKeyConstraint("id", name="pk_ticket"),
    )
    op.create_index("uq_ticket_ticket_no", "ticket", ["ticket_no"], unique=True)
    op.create_index("ix_ticket_atena_no", "ticket", ["atena_no", "vaccine"])
    op.create_index("uq_ticket_live", "ticket", ["atena_no", "vaccine", "dose_no"], unique=True,
                    sqlite_where=sa.text("state = 'issued'"), postgresql_where=sa.text("state = 'issued'"))
    op.create_table(
        "notice_item",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("atena_no", sa.String(length=15), nullable=False),
        sa.Column("vaccine", sa.String(length=20), nullable=False),
        sa.Column("next_dose", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("earliest", sa.Date(), nullable=True),
        sa.Column("standard_from", sa.Date(), nullable=True),
        sa.Column("standard_until", sa.Date(), nullable=True),
        sa.Column("legal_until", sa.Date(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("printed", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["batch_job.id"], name="fk_notice_item_job_id_batch_job"),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"], name="fk_notice_item_ticket_id_ticket"),
        sa.PrimaryKeyConstraint("job_id", "seq", name="pk_notice_item"),
    )
    op.create_table(
        "certificate",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("issue_no", sa.String(length=20), nullable=False),
        sa.Column("atena_no", sa.String(length=15), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("relationship", sa.String(length=20), nullable=False),
        sa.Column("identity_method", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=100), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["atena_no"], ["person.atena_no"], name="fk_certificate_atena_no_person"),
        sa.PrimaryKeyConstraint("id", name="pk_certificate"),
    )
    op.create_index("ix_certificate_atena_no", "certificate", ["atena_no"])
    op.create_index("uq_certificate_issue_no", "certificate", ["issue_no"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_certificate_issue_no", table_name="certificate")
    op.drop_index("ix_certificate_atena_no", table_name="certificate")
    op.drop_table("certificate")
    op.drop_table("notice_item")
    op.drop_index("uq_ticket_live", table_name="ticket")
    op.drop_index("ix_ticket_atena_no", table_name="ticket")
    op.drop_index("uq_ticket_ticket_no", table_name="ticket")
    op.drop_table("ticket")
    op.drop_table("number_counter")
