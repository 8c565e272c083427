"""Relief cases, their steps (the timeline), the benefits decided, and the payments made."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base


class ReliefCase(Base):
    __tablename__ = "relief_case"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    atena_no: Mapped[str] = mapped_column(ForeignKey("person.atena_no"), index=True)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("vaccination_record.id"))
    vaccine_class: Mapped[str] = mapped_column(String(12))  # A | temporary | B
    status: Mapped[str] = mapped_column(String(24))  # the last step
    claimant_name: Mapped[str] = mapped_column(String(100))
    claimant_relation: Mapped[str] = mapped_column(String(20))
    claimed: Mapped[str] = mapped_column(String(200))  # comma-separated benefit codes
    # Payee account (全銀): 銀行・支店コード, 種目, 番号, 名義カナ.
    bank_code: Mapped[str] = mapped_column(String(4), default="")
    bank_name: Mapped[str] = mapped_column(String(30), default="")
    branch_code: Mapped[str] = mapped_column(String(3), default="")
    branch_name: Mapped[str] = mapped_column(String(30), default="")
    account_type: Mapped[str] = mapped_column(String(1), default="1")
    account_no: Mapped[str] = mapped_column(String(7), default="")
    account_holder_kana: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ReliefStep(Base):
    __tablename__ = "relief_step"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("relief_case.id"), index=True)
    step: Mapped[str] = mapped_column(String(24))
    on_date: Mapped[date] = mapped_column(Date)
    done_by: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)  # JSON: checklist, minutes, decision …
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ReliefBenefit(Base):
    __tablename__ = "relief_benefit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("relief_case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    periodic: Mapped[bool] = mapped_column(Boolean, default=False)
    amount: Mapped[int] = mapped_column(Integer)  # yen: the lump sum, or the monthly amount of a pension
    first_month: Mapped[date] = mapped_column(Date)  # 1st of the first month paid
    end_month: Mapped[date | None] = mapped_column(Date)  # 1st of the last month paid (None: until ended)
    ended_reason: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | cancelled (a corrected decision)


class ReliefPayment(Base):
    __tablename__ = "relief_payment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    benefit_id: Mapped[int] = mapped_column(ForeignKey("relief_benefit.id"))
    pay_month: Mapped[date] = mapped_column(Date)  # 1st of the month it is paid in
    months: Mapped[int] = mapped_column(Integer, default=1)  # pension months covered
    amount: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="listed")  # listed | sent
    zengin_sha256: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)


Index("uq_relief_payment_benefit_month", ReliefPayment.benefit_id, ReliefPayment.pay_month, unique=True)


class ReliefAdjustment(Base):
    """過誤調整: the difference between what was paid for a benefit and what a corrected decision says
    should have been paid. Listed in the next payment list of the case (a negative amount is deducted from
    the case's transfer; what cannot be deducted is claimed back — 返納)."""

    __tablename__ = "relief_adjustment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("relief_case.id"), index=True)
    benefit_id: Mapped[int] = mapped_column(ForeignKey("relief_benefit.id"))
    amount: Mapped[int] = mapped_column(Integer)  # yen, signed: + paid too little, − paid too much
    reason: Mapped[str] = mapped_column(String(400))
    approval_id: Mapped[int | None] = mapped_column(Integer)
    pay_month: Mapped[date | None] = mapped_column(Date)  # the list it went into (None: not listed yet)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending | listed | sent
    zengin_sha256: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
