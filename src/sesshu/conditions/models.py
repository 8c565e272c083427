"""Person conditions that widen who is a 定期 target (the B類 60–64 criterion), with their evidence.

A row is never deleted: ending it keeps the row (status "ended" with the last valid day) and a row
recorded by mistake is "withdrawn" (it never applied). The ledger reads the rows as date spans.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base

STATUSES = {"active": "登録中", "ended": "終了", "withdrawn": "取消（誤登録）"}


class PersonCondition(Base):
    __tablename__ = "person_condition"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    atena_no: Mapped[str] = mapped_column(ForeignKey("person.atena_no"), index=True)
    condition_code: Mapped[str] = mapped_column(String(40))
    impairment: Mapped[str] = mapped_column(String(20))
    # The document the city saw: 身体障害者手帳 (grade, number, issue date) or 医師の診断書.
    evidence_kind: Mapped[str] = mapped_column(String(30))
    evidence_grade: Mapped[int | None] = mapped_column(Integer)
    evidence_no: Mapped[str] = mapped_column(String(40), default="")
    evidence_issued_on: Mapped[date | None] = mapped_column(Date)
    evidence_note: Mapped[str] = mapped_column(String(200), default="")
    # 特定接種 staff lists: the row's 職種区分 code (campaign file tokutei.groups[].job_categories); "" otherwise.
    job_category: Mapped[str] = mapped_column(String(10), default="")
    confirmed_on: Mapped[date] = mapped_column(Date)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="active")
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
    recorded_by: Mapped[str] = mapped_column(String(64))
    record_reason: Mapped[str] = mapped_column(String(200))
    ended_on: Mapped[date | None] = mapped_column(Date)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    ended_by: Mapped[str | None] = mapped_column(String(64))
    end_reason: Mapped[str | None] = mapped_column(String(200))
