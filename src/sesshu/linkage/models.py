"""Tables of the city's half of information linkage (the 中間サーバー role).

Nothing here holds a name, an address or a 個人番号: a person is known to other bodies only by
the random 符号 of linkage_person_code, and the 副本 rows carry only the items of data/linkage.yaml.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base


class LinkagePersonCode(Base):
    """This city's 符号 for a person: random, opaque, never derived from the 個人番号 or 宛名番号."""

    __tablename__ = "linkage_person_code"

    atena_no: Mapped[str] = mapped_column(ForeignKey("person.atena_no"), primary_key=True)
    fugo: Mapped[str] = mapped_column(String(32), unique=True)
    # 自動応答不可 (e.g. DV支援措置): every provision for this person waits for a supervisor.
    manual_only: Mapped[bool] = mapped_column(Boolean, default=False)
    manual_reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ProvisionBatch(Base):
    """One reviewed registration of 副本: prepared by one, checked by a second, approved by a supervisor."""

    __tablename__ = "provision_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(12))  # prepared / checked / approved / published / rejected
    copies: Mapped[int] = mapped_column(Integer, default=0)
    persons: Mapped[int] = mapped_column(Integer, default=0)
    prepared_by: Mapped[str] = mapped_column(String(64))
    prepared_at: Mapped[datetime] = mapped_column(DateTime)
    checked_by: Mapped[str | None] = mapped_column(String(64))
    checked_at: Mapped[datetime | None] = mapped_column(DateTime)
    approval_id: Mapped[int | None] = mapped_column(Integer)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime)
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ProvisionCopy(Base):
    """One 副本 (or 差分: a correction or a void) of one ledger record, in one batch."""

    __tablename__ = "provision_copy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("provision_batch.id"), index=True)
    atena_no: Mapped[str] = mapped_column(ForeignKey("person.atena_no"))
    record_id: Mapped[int] = mapped_column(ForeignKey("vaccination_record.id"))
    record_version: Mapped[int] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(8))  # new / correct / void
    items: Mapped[str] = mapped_column(Text)  # JSON of the statutory items only
    manual_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # The copy other bodies are answered from: the latest published copy of its record.
    current: Mapped[bool] = mapped_column(Boolean, default=False)


Index("ix_provision_copy_record", ProvisionCopy.record_id, ProvisionCopy.current)
Index("ix_provision_copy_atena_no", ProvisionCopy.atena_no, ProvisionCopy.current)


class LinkageInquiry(Base):
    """An inquiry this city sent (照会) and what became of it; the result is kept encrypted until purged."""

    __tablename__ = "linkage_inquiry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    permit_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    atena_no: Mapped[str] = mapped_column(ForeignKey("person.atena_no"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    task: Mapped[str] = mapped_column(String(40))
    info: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))  # approved / sending / waiting / answered / refused
    refusal: Mapped[str] = mapped_column(String(400), default="")
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    records_received: Mapped[int] = mapped_column(Integer, default=0)
    records_imported: Mapped[int] = mapped_column(Integer, default=0)
    not_disclosed: Mapped[int] = mapped_column(Integer, default=0)
    result_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    purge_after: Mapped[date | None] = mapped_column(Date)
    purged_at: Mapped[datetime | None] = mapped_column(DateTime)


class LinkageProvision(Base):
    """A permit another body obtained to ask us, and our answer (自動応答 or held for a supervisor)."""

    __tablename__ = "linkage_provision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    permit_id: Mapped[str] = mapped_column(String(40), unique=True)
    atena_no: Mapped[str | None] = mapped_column(ForeignKey("person.atena_no"), index=True)
    requester: Mapped[str] = mapped_column(String(20))
    task: Mapped[str] = mapped_column(String(40))
    info: Mapped[str] = mapped_column(String(40))
    # held (自動応答不可) → disclose / withhold (decided by a supervisor) → sent
    status: Mapped[str] = mapped_column(String(12))
    decision: Mapped[str] = mapped_column(String(12), default="")  # auto / disclose / withhold
    approval_id: Mapped[int | None] = mapped_column(Integer)
    records_sent: Mapped[int] = mapped_column(Integer, default=0)
    not_disclosed: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class LinkageImportedRecord(Base):
    """Where a ledger record that came through linkage came from (the source is kept)."""

    __tablename__ = "linkage_imported_record"

    record_id: Mapped[int] = mapped_column(ForeignKey("vaccination_record.id"), primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("linkage_inquiry.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    provider_name: Mapped[str] = mapped_column(String(40))


class LinkageExchange(Base):
    """情報提供等記録 (番号法23条): every inquiry, provision and refusal, kept for the legal period."""

    __tablename__ = "linkage_exchange"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    atena_no: Mapped[str | None] = mapped_column(String(15), index=True)
    direction: Mapped[str] = mapped_column(String(12))  # inquiry / provision
    counterpart: Mapped[str] = mapped_column(String(20))
    task: Mapped[str] = mapped_column(String(40))
    info: Mapped[str] = mapped_column(String(40))
    permit_id: Mapped[str] = mapped_column(String(40), default="")
    outcome: Mapped[str] = mapped_column(String(20))  # requested / answered / refused / provided / held / withheld
    records: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    detail: Mapped[str] = mapped_column(String(400), default="")
    keep_until: Mapped[date] = mapped_column(Date, index=True)


class LinkageNonce(Base):
    """Nonces of signed messages already accepted (replay protection; also used by the hub)."""

    __tablename__ = "linkage_nonce"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    sender: Mapped[str] = mapped_column(String(20))
    seen_at: Mapped[datetime] = mapped_column(DateTime, index=True)
