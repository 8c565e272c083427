"""away_notice (住所地外接種届); indexes on vaccination_record.vaccinated_on and ticket.used_record_id

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 03:00:00

One row per 届出 accepted: the person (a 住登外者, created only through the two-person check), the reason
(sesshu/away/reasons.yaml), the home municipality, the period, the eligibility line, and the 届出番号
printed on the 届出済証. The daily counts and the dashboard's doses per day read a few days of records:
an index on the day of the dose. The ticket a record used is looked up on every void, correction and venue
undo: an index on ticket.used_record_id (without it, a sequential scan of every ticket).
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "away_notice",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("notice_no", sa.String(12), nullable=False),
        sa.Column("atena_no", sa.String(15), sa.ForeignKey("person.atena_no"), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("reason_note", sa.String(200), nullable=False),
        sa.Column("home_municipality", sa.String(40), nullable=False),
        sa.Column("home_municipality_code", sa.String(6), nullable=False),
        sa.Column("home_ticket_no", sa.String(20), nullable=False),
        sa.Column("vaccine", sa.String(20), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_until", sa.Date(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(12), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
    )
    op.create_index("uq_away_notice_no", "away_notice", ["notice_no"], unique=True)
    op.create_index("ix_away_notice_atena_no", "away_notice", ["atena_no"])
    op.create_index("ix_vaccination_record_vaccinated_on", "vaccination_record", ["vaccinated_on"])
    op.create_index("ix_ticket_used_record_id", "ticket", ["used_record_id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_used_record_id", "ticket")
    op.drop_index("ix_vaccination_record_vaccinated_on", "vaccination_record")
    op.drop_index("ix_away_notice_atena_no", "away_notice")
    op.drop_index("uq_away_notice_no", "away_notice")
    op.drop_table("away_notice")
