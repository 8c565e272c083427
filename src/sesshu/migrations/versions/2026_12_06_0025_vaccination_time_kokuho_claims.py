"""vaccination_record.vaccination_time (接種時刻); kokuho_claim (国保連 route); away_notice 取下げ/終了;
person_condition.job_category (特定接種 職種区分)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 06:00:00

- 接種時刻: optional (NULL on every older record and on 予診票 without it). A campaign's 時間外加算 is paid
  only for a dose whose time is known to be outside the regular hours (docs/billing.md).
- kokuho_claim: doses claimed through the 国保連, one row per claimed dose with its verdict; one `paid` row
  per record ever (partial unique index), so a dose is not paid twice through that route.
- away_notice: closed_on / closed_at / closed_by / close_reason for a 届出 withdrawn (取下げ) or ended (終了).
- person_condition.job_category: the 職種区分 of a 特定接種 staff-list row, so doses can be counted by it;
  rows recorded before keep it in their note ("… 職種区分 2（…）"), from which it is filled here.
"""
import re

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_JOB_IN_NOTE = re.compile(r"職種区分 (\S+?)（")


def upgrade() -> None:
    with op.batch_alter_table("vaccination_record") as batch:
        batch.add_column(sa.Column("vaccination_time", sa.Time(), nullable=True))
    with op.batch_alter_table("away_notice") as batch:
        batch.add_column(sa.Column("closed_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("closed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("closed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("close_reason", sa.String(200), nullable=False, server_default=""))
    with op.batch_alter_table("person_condition") as batch:
        batch.add_column(sa.Column("job_category", sa.String(10), nullable=False, server_default=""))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, evidence_note FROM person_condition "
                                "WHERE evidence_kind = 'staff_list' AND evidence_note LIKE '%職種区分 %'")).all()
    fill = [{"i": i, "j": m.group(1)[:10]} for i, note in rows if (m := _JOB_IN_NOTE.search(note or ""))]
    if fill:
        conn.execute(sa.text("UPDATE person_condition SET job_category = :j WHERE id = :i"), fill)
    op.create_table(
        "kokuho_claim",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("institution_code", sa.String(10), nullable=False),
        sa.Column("institution_name", sa.String(100), nullable=False),
        sa.Column("ticket_no", sa.String(20), nullable=False),
        sa.Column("atena_no", sa.String(15), nullable=False),
        sa.Column("vaccine_code", sa.String(20), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("vaccinated_on", sa.Date(), nullable=False),
        sa.Column("vaccination_time", sa.Time(), nullable=True),
        sa.Column("screening_result", sa.String(20), nullable=False),
        sa.Column("claimed_amount", sa.Integer(), nullable=False),
        sa.Column("computed_amount", sa.Integer(), nullable=True),
        sa.Column("record_id", sa.Integer(), sa.ForeignKey("vaccination_record.id"), nullable=True),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("codes", sa.String(200), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("import_batch_id", sa.Integer(), sa.ForeignKey("import_batch.id"), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_kokuho_claim_month", "kokuho_claim", ["month", "line_no"])
    op.create_index("ix_kokuho_claim_record", "kokuho_claim", ["record_id"])
    op.create_index("uq_kokuho_claim_paid_record", "kokuho_claim", ["record_id"], unique=True,
                    sqlite_where=sa.text("outcome = 'paid'"), postgresql_where=sa.text("outcome = 'paid'"))


def downgrade() -> None:
    op.drop_index("uq_kokuho_claim_paid_record", "kokuho_claim")
    op.drop_index("ix_kokuho_claim_record", "kokuho_claim")
    op.drop_index("ix_kokuho_claim_month", "kokuho_claim")
    op.drop_table("kokuho_claim")
    with op.batch_alter_table("person_condition") as batch:
        batch.drop_column("job_category")
    with op.batch_alter_table("away_notice") as batch:
        for name in ("close_reason", "closed_by", "closed_at", "closed_on"):
            batch.drop_column(name)
    with op.batch_alter_table("vaccination_record") as batch:
        batch.drop_column("vaccination_time")
