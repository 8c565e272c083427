"""個人番号確認 results: one row per presented number checked against a person's record."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base


class MyNumberVerification(Base):
    __tablename__ = "mynumber_verification"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    atena_no: Mapped[str] = mapped_column(ForeignKey("person.atena_no"), index=True)
    verified_at: Mapped[datetime] = mapped_column(DateTime)
    verified_by: Mapped[str] = mapped_column(String(64))  # actor label (login ID or os:<user>)
    document: Mapped[str] = mapped_column(String(30))  # code in sesshu.mynumber.service.DOCUMENTS
    identity_document: Mapped[str] = mapped_column(String(60), default="")  # 身元確認書類 beside a non-card document
    # match / mismatch / bad_check_digit
    result: Mapped[str] = mapped_column(String(20))
    # match / mismatch / not_registered / bad_check_digit
    number_check: Mapped[str] = mapped_column(String(20))
    # Each of the 4情報: match / mismatch (typed from the document) or confirmed (ticked by staff).
    name_check: Mapped[str] = mapped_column(String(20))
    birth_date_check: Mapped[str] = mapped_column(String(20))
    sex_check: Mapped[str] = mapped_column(String(20))
    address_check: Mapped[str] = mapped_column(String(20))
    audit_seq: Mapped[int] = mapped_column(Integer)
