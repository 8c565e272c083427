"""住所地外接種届: a person living here without being registered here (or registered here and staying
elsewhere is the other city's business) asks to be vaccinated in this city; the 届出済証 they receive."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base


class AwayNotice(Base):
    __tablename__ = "away_notice"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notice_no: Mapped[str] = mapped_column(String(12))  # 届出番号 (printed on the 届出済証), never reused
    atena_no: Mapped[str] = mapped_column(ForeignKey("person.atena_no"))  # a 住登外者 (via the two-person check)
    reason: Mapped[str] = mapped_column(String(20))  # away/reasons.yaml
    reason_note: Mapped[str] = mapped_column(String(200), default="")
    home_municipality: Mapped[str] = mapped_column(String(40))  # 住民票所在地の市町村
    home_municipality_code: Mapped[str] = mapped_column(String(6), default="")
    home_ticket_no: Mapped[str] = mapped_column(String(20), default="")  # 住所地の接種券番号 (as presented)
    vaccine: Mapped[str] = mapped_column(String(20))  # the eligibility line
    period_from: Mapped[date] = mapped_column(Date)
    period_until: Mapped[date] = mapped_column(Date)
    received_on: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(12))  # counter / mail / web
    status: Mapped[str] = mapped_column(String(12), default="accepted")  # accepted / withdrawn / ended
    # 取下げ (the person withdrew it: void from the start) or 終了 (void from closed_on on, e.g. moved away
    # early): the 届出済証 is void after; who, when and why are here and on the audit log (away.withdraw/end).
    closed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    close_reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))


Index("uq_away_notice_no", AwayNotice.notice_no, unique=True)
Index("ix_away_notice_atena_no", AwayNotice.atena_no)
