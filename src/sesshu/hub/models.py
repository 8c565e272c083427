"""The hub's tables: bodies, the permit list, 符号 links, permits and the sealed answers it relays.

The hub stores only metadata and ciphertext: body codes, opaque 符号, permit ids, times and HPKE
ciphertexts it has no key for. No name, address, 宛名番号 or 個人番号 ever reaches it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base


class HubBody(Base):
    """A body on the network (a city) and its public keys (Ed25519 for signatures, X25519 for HPKE)."""

    __tablename__ = "hub_body"

    body_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    sign_public: Mapped[str] = mapped_column(String(100))
    hpke_public: Mapped[str] = mapped_column(String(100))


class HubPermitRule(Base):
    """One line of the 照会許可用照合リスト: 照会者 × 事務 × 提供者 × 情報."""

    __tablename__ = "hub_permit_rule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    requester: Mapped[str] = mapped_column(String(20))
    task: Mapped[str] = mapped_column(String(40))
    provider: Mapped[str] = mapped_column(String(20))
    info: Mapped[str] = mapped_column(String(40))
    legal_basis: Mapped[str] = mapped_column(String(200), default="")

    __table_args__ = (UniqueConstraint("requester", "task", "provider", "info", name="uq_hub_permit_rule_key"),)


class HubCode(Base):
    """A body's 符号 for a person, and the hub-internal person key that links the 符号 of one person."""

    __tablename__ = "hub_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    body_id: Mapped[str] = mapped_column(String(20))
    fugo: Mapped[str] = mapped_column(String(32))
    person_key: Mapped[str] = mapped_column(String(32), index=True)
    has_copies: Mapped[int] = mapped_column(Integer, default=0)
    registered_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("body_id", "fugo", name="uq_hub_code_body_fugo"),)


class HubTransfer(Base):
    """A 転出 announced by the former body: a one-time transfer code (only its hash) for the new body."""

    __tablename__ = "hub_transfer"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    body_id: Mapped[str] = mapped_column(String(20))
    fugo: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    used_by: Mapped[str | None] = mapped_column(String(20))


class HubPermit(Base):
    """A 提供許可証 issued for one allowed inquiry, and the sealed answer while it waits for delivery."""

    __tablename__ = "hub_permit"

    permit_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    requester: Mapped[str] = mapped_column(String(20), index=True)
    provider: Mapped[str] = mapped_column(String(20), index=True)
    task: Mapped[str] = mapped_column(String(40))
    info: Mapped[str] = mapped_column(String(40))
    provider_fugo: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12))  # issued / fetched / answered / delivered
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    answer: Mapped[str | None] = mapped_column(Text)  # the provider's signed envelope (HPKE ciphertext inside)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)


class HubEvent(Base):
    """The hub's own log of every request it handled (metadata only), refusals included."""

    __tablename__ = "hub_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(20))
    sender: Mapped[str] = mapped_column(String(20), default="")
    outcome: Mapped[str] = mapped_column(String(12))  # ok / refused
    permit_id: Mapped[str] = mapped_column(String(40), default="")
    detail: Mapped[str] = mapped_column(String(400), default="")


Index("ix_hub_event_time", HubEvent.occurred_at)
