"""住民基本台帳 copy and the atena layer: one row per person, keyed by 宛名番号."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base

REGISTRY_STATUSES = {
    "resident": "住民",
    "moved_out": "転出",
    "deceased": "死亡",
    "non_resident": "住登外",
}
SEXES = {"M": "男", "F": "女"}


class Person(Base):
    __tablename__ = "person"

    atena_no: Mapped[str] = mapped_column(String(15), primary_key=True)
    # 個人番号 only as AES-GCM ciphertext (bound to atena_no) plus a keyed hash for exact lookup.
    my_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    my_number_hmac: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100), default="")  # name without spaces
    name_kana: Mapped[str] = mapped_column(String(100), default="")
    kana_key: Mapped[str] = mapped_column(String(100), default="")
    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[date] = mapped_column(Date, index=True)
    postal_code: Mapped[str] = mapped_column(String(8), default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    household_no: Mapped[str] = mapped_column(String(15), default="", index=True)
    relationship: Mapped[str] = mapped_column(String(20), default="")
    householder_name: Mapped[str] = mapped_column(String(100), default="")
    registry_status: Mapped[str] = mapped_column(String(16), default="resident", index=True)
    change_reason: Mapped[str] = mapped_column(String(20), default="")
    changed_on: Mapped[date | None] = mapped_column(Date)
    moved_in_on: Mapped[date | None] = mapped_column(Date)
    moved_out_on: Mapped[date | None] = mapped_column(Date)
    died_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    __mapper_args__ = {"version_id_col": version}
    # Prefix searches read these in order and stop after a page; atena_no makes the order total
    # and lets a count run on the index alone.
    __table_args__ = (
        Index("ix_person_kana_key_atena_no", "kana_key", "atena_no"),
        Index("ix_person_name_key_atena_no", "name_key", "atena_no"),
    )


class PersonHistory(Base):
    """Old values of a person row, kept whenever the registry feed or staff change it."""

    __tablename__ = "person_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    atena_no: Mapped[str] = mapped_column(ForeignKey("person.atena_no"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(DateTime)
    changed_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(200))
    import_batch_id: Mapped[int | None] = mapped_column(Integer)
    old_values: Mapped[str] = mapped_column(Text)

