"""Append-only, hash-chained audit log (証跡)."""
from __future__ import annotations

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base


class AuditEntry(Base):
    __tablename__ = "audit_entry"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # ISO-8601 UTC text, hashed exactly as stored.
    occurred_at: Mapped[str] = mapped_column(String(32), index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    actor_kind: Mapped[str] = mapped_column(String(10))  # user | os
    action: Mapped[str] = mapped_column(String(40), index=True)
    atena_no: Mapped[str | None] = mapped_column(String(15))
    purpose: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


Index("ix_audit_entry_atena_no", AuditEntry.atena_no, AuditEntry.seq)


class AuditHead(Base):
    """One row: the last sequence and hash. Locking it serialises writers of the chain,
    and comparing it with the table detects entries cut off the end."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
