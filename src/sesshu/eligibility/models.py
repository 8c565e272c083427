"""The maintained eligibility table (接種可能範囲 per person and line) and its bookkeeping.

A row is one *span* of as_of dates (valid_from … valid_to, inclusive) in which the schedule engine
gives the same open answer (eligible, or not_yet) for one person and line. "Who is open on as_of
within N days" is then a range query: the spans that contain as_of and whose ``opens_on`` (the span's
first day when eligible, the answer's earliest when not_yet) is on or before as_of + N.
Spans whose answer is complete or expired are not stored: no target list shows them.
See docs/eligibility.md.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base


class EligibilitySpan(Base):
    __tablename__ = "eligibility_span"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    atena_no: Mapped[str] = mapped_column(String(15), index=True)  # no FK: an erased person's rows go with the refresh
    line: Mapped[str] = mapped_column(String(40))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    opens_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12))  # eligible | not_yet
    next_dose: Mapped[int | None] = mapped_column(Integer)
    earliest: Mapped[date | None] = mapped_column(Date)
    standard_from: Mapped[date | None] = mapped_column(Date)
    standard_until: Mapped[date | None] = mapped_column(Date)
    legal_until: Mapped[date | None] = mapped_column(Date)
    priority_group: Mapped[str] = mapped_column(String(100), default="")  # campaign 接種順位 (targets.group_of)
    rule_version: Mapped[str] = mapped_column(String(200), default="")  # RuleSet.version_of(line) on valid_from


Index("ix_eligibility_span_line_open", EligibilitySpan.line, EligibilitySpan.opens_on, EligibilitySpan.valid_from,
      EligibilitySpan.valid_to)


class EligibilityState(Base):
    """One row once the table is built: the period it answers for and the rules it was built with.
    No row: the table is not built, every selection runs the full evaluation."""

    __tablename__ = "eligibility_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_key: Mapped[str] = mapped_column(String(80))
    horizon_from: Mapped[date] = mapped_column(Date)
    horizon_to: Mapped[date] = mapped_column(Date)
    built_at: Mapped[datetime] = mapped_column(DateTime)


class EligibilityDirty(Base):
    """Persons whose records or facts changed in the open transaction (written by triggers, read and
    emptied by the session's before-commit refresh), with the vaccine of a changed record ("*": a
    registry fact, condition or 妊娠届 changed — every line). atena_no "*": the rules changed: rebuild all."""

    __tablename__ = "eligibility_dirty"

    atena_no: Mapped[str] = mapped_column(String(15), primary_key=True)
    vaccine_code: Mapped[str] = mapped_column(String(20), primary_key=True, default="*")
