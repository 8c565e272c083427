"""Issued 予防接種済証 / 接種歴証明書 and the 照会申請 behind each: who asked, how identity was confirmed."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base


class Certificate(Base):
    """予防接種済証 / 接種歴証明書 issued on a 照会申請: who asked, how identity was confirmed, what was printed."""

    __tablename__ = "certificate"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issue_no: Mapped[str] = mapped_column(String(20))
    atena_no: Mapped[str] = mapped_column(ForeignKey("person.atena_no"), index=True)
    requested_by: Mapped[str] = mapped_column(String(100))  # 申請者 (the person, a parent, an agent)
    relationship: Mapped[str] = mapped_column(String(20))  # 本人 / 親権者 / 代理人 …
    identity_method: Mapped[str] = mapped_column(String(40))  # 本人確認の方法
    purpose: Mapped[str] = mapped_column(String(100), default="")
    records: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    issued_by: Mapped[str] = mapped_column(String(64))


Index("uq_certificate_issue_no", Certificate.issue_no, unique=True)
