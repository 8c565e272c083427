"""Uploaded rule files: campaigns, amendments of shipped files, the city's settings (sesshu.rulesets)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base

STATUSES = {
    "proposed": "承認待ち",
    "active": "適用中",
    "superseded": "後の版に置換済み",
    "rejected": "却下・取下げ",
}


class RuleSetVersion(Base):
    """One version of one uploaded rule file. The YAML text is kept as uploaded, with its SHA-256:
    what a verdict cites is exactly what was approved. The active ones (with the shipped files) are
    the rules the whole system uses (sesshu.rulesets.active)."""

    __tablename__ = "rule_set"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(12))  # campaign | amendment | settings
    name: Mapped[str] = mapped_column(String(80))  # campaign name / shipped file name / settings name
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="proposed")
    title: Mapped[str] = mapped_column(String(200), default="")
    vaccine_codes: Mapped[str] = mapped_column(String(400), default="")  # comma-separated
    group_ids: Mapped[str] = mapped_column(String(400), default="")  # comma-separated
    yaml_text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(400))
    proposed_by: Mapped[str] = mapped_column(String(64))
    proposed_at: Mapped[datetime] = mapped_column(DateTime)
    approval_id: Mapped[int | None] = mapped_column(Integer)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("kind", "name", "version", name="uq_rule_set_kind_name_version"),)


Index("ix_rule_set_status", RuleSetVersion.status)
