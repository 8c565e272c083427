"""Per-user screen settings (one row per staff member; no row = the defaults)."""
from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base


class StaffPreference(Base):
    __tablename__ = "staff_preference"

    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), primary_key=True, autoincrement=False)
    # "wareki": 令和5年8月3日 first, 2023-08-03 alongside; "western": the other way round.
    date_style: Mapped[str] = mapped_column(String(10), default="wareki")
