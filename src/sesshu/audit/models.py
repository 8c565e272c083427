"""Append-only, hash-chained audit log (証跡)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base


class AuditEntry(Base):
    __tablename__ = "audit_entry"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # ISO-8601 UTC text, hashed exactly as stored.
    occurred_at: Mapped[str] = mapped_column(String(32), index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    actor_kind: Mapped[str] = mapped_column(String(10))  # user | os
    action: Mapped[str] = mapped_column(String(40))
    atena_no: Mapped[str | None] = mapped_column(String(15))
    purpose: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


Index("ix_audit_entry_atena_no", AuditEntry.atena_no, AuditEntry.seq)
# Per-action reviews over a period (person views per staff member per day, failures) read only this index.
Index("ix_audit_entry_action_occurred_at", AuditEntry.action, AuditEntry.occurred_at, AuditEntry.actor)


class AuditHead(Base):
    """One row: the last sequence and hash. Locking it serialises writers of the chain,
    and comparing it with the table detects entries cut off the end."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    # HMAC (key outside the database) of the head itself: moving the head back after cutting entries
    # off the end needs a MAC only the key can make. NULL only before the chain was sealed (0022).
    last_mac: Mapped[str | None] = mapped_column(String(64))


class AuditMac(Base):
    """The keyed chain beside the hash chain: mac(n) = HMAC(key, mac(n-1) ‖ entry_hash(n)). Append-only
    like audit_entry; a rewritten entry, even with its hash chain recomputed, no longer matches."""

    __tablename__ = "audit_mac"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    mac: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed statement of the chain's state at the end of one JST day.

    The signature is made with a key kept outside the database, so whoever can rewrite the whole
    chain (and audit_head with it) still cannot produce checkpoints that match the rewrite."""

    __tablename__ = "audit_checkpoint"
    __table_args__ = (UniqueConstraint("municipality_code", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6))
    day: Mapped[date] = mapped_column(Date)
    last_seq: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))
    entry_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(100))
