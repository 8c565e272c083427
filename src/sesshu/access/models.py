"""Bindings of the 団体内統合宛名 access control: staff ↔ (task, department), person ↔ task."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base


class StaffAssignment(Base):
    """事務取扱担当者: a staff member assigned to a task within a department, optionally until a date."""

    __tablename__ = "staff_assignment"

    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), primary_key=True)
    task_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    department: Mapped[str] = mapped_column(String(60))
    valid_until: Mapped[date | None] = mapped_column(Date)
    assigned_at: Mapped[datetime] = mapped_column(DateTime)
    assigned_by: Mapped[str] = mapped_column(String(64))


class PersonTask(Base):
    """A person whose 特定個人情報 a "linked" task uses (e.g. a relief claimant)."""

    __tablename__ = "person_task"

    atena_no: Mapped[str] = mapped_column(ForeignKey("person.atena_no"), primary_key=True)
    task_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    linked_at: Mapped[datetime] = mapped_column(DateTime)
    linked_by: Mapped[str] = mapped_column(String(64))
