"""接種券 (tickets), the persons of a notice batch, and the never-reused number counters."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base

TICKET_STATES = {"issued": "発行済（未使用）", "used": "使用済", "invalidated": "無効"}


class NumberCounter(Base):
    """Counters that never go back (券番号, 証明書の発行番号): a number once handed out is never reused.

    A row is locked (SELECT … FOR UPDATE) while numbers are taken, so two batches never share one."""

    __tablename__ = "number_counter"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger, default=0)


class Ticket(Base):
    __tablename__ = "ticket"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(String(10))  # 券番号, unique for ever
    kind: Mapped[str] = mapped_column(String(1))  # 券種 (kinds.yaml)
    atena_no: Mapped[str] = mapped_column(ForeignKey("person.atena_no"))
    vaccine: Mapped[str] = mapped_column(String(20))  # the eligibility line (MR, HPV, …)
    dose_no: Mapped[int] = mapped_column(Integer)  # 回数 (the line's next dose)
    term: Mapped[str] = mapped_column(String(20), default="")  # 期, when the rules name one
    valid_until: Mapped[date | None] = mapped_column(Date)  # end of the legal window when issued
    state: Mapped[str] = mapped_column(String(12), default="issued")  # issued | used | invalidated
    issue_reason: Mapped[str] = mapped_column(String(12))  # notice | move_in | reissue
    job_id: Mapped[int | None] = mapped_column(ForeignKey("batch_job.id"))
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    issued_by: Mapped[str] = mapped_column(String(64))
    used_record_id: Mapped[int | None] = mapped_column(ForeignKey("vaccination_record.id"))
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    invalidated_at: Mapped[datetime | None] = mapped_column(DateTime)
    invalidated_by: Mapped[str] = mapped_column(String(64), default="")
    invalidated_reason: Mapped[str] = mapped_column(String(40), default="")


Index("uq_ticket_ticket_no", Ticket.ticket_no, unique=True)
Index("ix_ticket_atena_no", Ticket.atena_no, Ticket.vaccine)
# The ticket a record used (void, correction, the venue's undo): migration 0020.
Index("ix_ticket_used_record_id", Ticket.used_record_id)
# One live ticket per person, line and dose: a re-run or a second batch reuses it instead of doubling it.
Index("uq_ticket_live", Ticket.atena_no, Ticket.vaccine, Ticket.dose_no, unique=True,
      sqlite_where=text("state = 'issued'"), postgresql_where=text("state = 'issued'"))


class NoticeItem(Base):
    """One person of a notice batch: the eligibility line that put them on the list (fixed when the job is
    planned), the ticket issued and what was printed (name and address as mailed)."""

    __tablename__ = "notice_item"

    job_id: Mapped[int] = mapped_column(ForeignKey("batch_job.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    atena_no: Mapped[str] = mapped_column(String(15))
    vaccine: Mapped[str] = mapped_column(String(20))
    next_dose: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    earliest: Mapped[date | None] = mapped_column(Date)
    standard_from: Mapped[date | None] = mapped_column(Date)
    standard_until: Mapped[date | None] = mapped_column(Date)
    legal_until: Mapped[date | None] = mapped_column(Date)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    # Snapshot of what was printed, taken when the ticket was issued (a rewrite gives the same file).
    printed: Mapped[str] = mapped_column(Text, default="")
