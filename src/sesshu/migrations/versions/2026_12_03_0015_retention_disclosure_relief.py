"""retention_disclosure_relief: per-person data keys (crypto-shredding), 問合せ受付票, 利用停止, 健康被害救済

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-03 09:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0014"
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
    op.create_table(
        "inquiry",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("atena_no", sa.String(length=15), nullable=True),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("requester_name", sa.String(length=100), nullable=False),
        sa.Column("requester_relation", sa.String(length=20), nullable=False),
        sa.Column("identity_method", sa.String(length=40), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("covers_my_number", sa.Boolean(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answered_on", sa.Date(), nullable=True),
        sa.Column("answered_by", sa.String(length=64), nullable=False),
        sa.Column("result_ref", sa.String(length=80), nullable=False),
        sa.Column("received_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["atena_no"], ["person.atena_no"], name=op.f("fk_inquiry_atena_no_person")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry")),
    )
    op.create_index(op.f("ix_inquiry_atena_no"), "inquiry", ["atena_no"], unique=False)
    op.create_index("ix_inquiry_status_due_on", "inquiry", ["status", "due_on"], unique=False)
    op.create_table(
        "use_suspension",
        sa.Column("atena_no", sa.String(length=15), nullable=False),
        sa.Column("inquiry_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["atena_no"], ["person.atena_no"], name=op.f("fk_use_suspension_atena_no_person")),
        sa.ForeignKeyConstraint(["inquiry_id"], ["inquiry.id"], name=op.f("fk_use_suspension_inquiry_id_inquiry")),
        sa.PrimaryKeyConstraint("atena_no", name=op.f("pk_use_suspension")),
    )
    op.create_table(
        "relief_case",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("atena_no", sa.String(length=15), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("vaccine_class", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("claimant_name", sa.String(length=100), nullable=False),
        sa.Column("claimant_relation", sa.String(length=20), nullable=False),
        sa.Column("claimed", sa.String(length=200), nullable=False),
        sa.Column("bank_code", sa.String(length=4), nullable=False),
        sa.Column("bank_name", sa.String(length=30), nullable=False),
        sa.Column("branch_code", sa.String(length=3), nullable=False),
        sa.Column("branch_name", sa.String(length=30), nullable=False),
        sa.Column("account_type", sa.String(length=1), nullable=False),
        sa.Column("account_no", sa.String(length=7), nullable=False),
        sa.Column("account_holder_kana", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["atena_no"], ["person.atena_no"], name=op.f("fk_relief_case_atena_no_person")),
        sa.ForeignKeyConstraint(["record_id"], ["vaccination_record.id"],
                                name=op.f("fk_relief_case_record_id_vaccination_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relief_case")),
    )
    op.create_index(op.f("ix_relief_case_atena_no"), "relief_case", ["atena_no"], unique=False)
    op.create_table(
        "relief_step",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=24), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("done_by", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["relief_case.id"], name=op.f("fk_relief_step_case_id_relief_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relief_step")),
    )
    op.create_index(op.f("ix_relief_step_case_id"), "relief_step", ["case_id"], unique=False)
    op.create_table(
        "relief_benefit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("periodic", sa.Boolean(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("first_month", sa.Date(), nullable=False),
        sa.Column("end_month", sa.Date(), nullable=True),
        sa.Column("ended_reason", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["relief_case.id"], name=op.f("fk_relief_benefit_case_id_relief_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relief_benefit")),
    )
    op.create_index(op.f("ix_relief_benefit_case_id"), "relief_benefit", ["case_id"], unique=False)
    op.create_table(
        "relief_payment",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("benefit_id", sa.Integer(), nullable=False),
        sa.Column("pay_month", sa.Date(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("zengin_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["benefit_id"], ["relief_benefit.id"],
                                name=op.f("fk_relief_payment_benefit_id_relief_benefit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relief_payment")),
    )
    op.create_index("uq_relief_payment_benefit_month", "relief_payment", ["benefit_id", "pay_month"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_relief_payment_benefit_month", table_name="relief_payment")
    op.drop_table("relief_payment")
    op.drop_index(op.f("ix_relief_benefit_case_id"), table_name="relief_benefit")
    op.drop_table("relief_benefit")
    op.drop_index(op.f("ix_relief_step_case_id"), table_name="relief_step")
    op.drop_table("relief_step")
    op.drop_index(op.f("ix_relief_case_atena_no"), table_name="relief_case")
    op.drop_table("relief_case")
    op.drop_table("use_suspension")
    op.drop_index("ix_inquiry_status_due_on", table_name="inquiry")
    op.drop_index(op.f("ix_inquiry_atena_no"), table_name="inquiry")
    op.drop_table("inquiry")
    op.drop_table("person_data_key")
