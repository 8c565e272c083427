"""問合せ受付票 (one row per inquiry or request) and 利用停止 (use suspension) of a person."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base

STATUSES = {"open": "対応中", "answered": "回答済み"}


class Inquiry(Base):
    __tablename__ = "inquiry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))  # inquiry | disclosure | correction | suspension
    atena_no: Mapped[str | None] = mapped_column(ForeignKey("person.atena_no"), index=True)
    received_on: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(20))
    requester_name: Mapped[str] = mapped_column(String(100))
    requester_relation: Mapped[str] = mapped_column(String(20))
    identity_method: Mapped[str] = mapped_column(String(40))
    question: Mapped[str] = mapped_column(Text)
    covers_my_number: Mapped[bool] = mapped_column(Boolean, default=False)  # 開示請求: 個人番号も対象
    due_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="open")
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_on: Mapped[date | None] = mapped_column(Date)
    answered_by: Mapped[str] = mapped_column(String(64), default="")
    result_ref: Mapped[str] = mapped_column(String(80), default="")  # record id corrected, package sha256 …
    received_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


Index("ix_inquiry_status_due_on", Inquiry.status, Inquiry.due_on)


class UseSuspension(Base):
    """利用停止: only legally required processing continues for this person (docs/disclosure.md)."""

    __tablename__ = "use_suspension"

    atena_no: Mapped[str] = mapped_column(ForeignKey("person.atena_no"), primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiry.id"))
    since: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
