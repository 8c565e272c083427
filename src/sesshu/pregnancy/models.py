"""妊娠届 (pregnancy notifications) per person, from the 母子保健 side or typed by staff.

The resident registry does not know who is pregnant; RSウイルス 母子免疫 (A類 from 2026-04-01) is 定期
only in 妊娠28週0日–36週6日, reckoned from the expected delivery date (出産予定日 = 40週0日). A row is
never deleted: one recorded by mistake is withdrawn (it never applied), with who, when and why.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base

STATUSES = {"active": "登録中", "withdrawn": "取消（誤登録）"}
SOURCES = {"hand": "窓口・手入力", "boshi": "母子保健システム（ファイル取込）"}


class PregnancyNotice(Base):
    __tablename__ = "pregnancy_notice"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    atena_no: Mapped[str] = mapped_column(ForeignKey("person.atena_no"))
    expected_delivery: Mapped[date] = mapped_column(Date)  # 出産予定日 (妊娠40週0日)
    notified_on: Mapped[date] = mapped_column(Date)  # 届出日 (母子保健法第15条の妊娠の届出)
    source: Mapped[str] = mapped_column(String(12))  # SOURCES
    source_ref: Mapped[str] = mapped_column(String(40), default="")  # 母子保健側の届出番号など
    status: Mapped[str] = mapped_column(String(12), default="active")
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
    recorded_by: Mapped[str] = mapped_column(String(64))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime)
    withdrawn_by: Mapped[str | None] = mapped_column(String(64))
    withdraw_reason: Mapped[str | None] = mapped_column(String(200))


Index("ix_pregnancy_notice_atena_no", PregnancyNotice.atena_no, PregnancyNotice.expected_delivery)
