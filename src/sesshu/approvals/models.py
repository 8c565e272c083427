"""Approval requests: one row per change waiting for (or decided by) a second staff member."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base

STATUSES = {
    "requested": "承認待ち",
    "approved": "承認済み",
    "rejected": "却下",
    "withdrawn": "取下げ",
    # The approver approved, but the change could no longer be made (e.g. the record changed since):
    # nothing was applied and the request is closed; the requester files a new one.
    "failed": "処理不能",
}


class ApprovalRequest(Base):
    __tablename__ = "approval_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(12), default="requested")
    # The payload (it may hold 4情報 and a 個人番号) only as AES-GCM ciphertext; payload_ref is a
    # random value used as its associated data, so a ciphertext copied onto another request fails.
    payload_ref: Mapped[str] = mapped_column(String(32), unique=True)
    payload_enc: Mapped[bytes] = mapped_column(LargeBinary)
    summary: Mapped[str] = mapped_column(String(200))  # safe for lists: no name, no number
    # Keyed hash of what the request is about (a person's kana+birth+sex, a record id): at most one
    # pending request per subject (partial unique index below).
    subject_key: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(400))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_by_user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_by_user_id: Mapped[int | None] = mapped_column(Integer)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decision_comment: Mapped[str] = mapped_column(String(400), default="")
    result_ref: Mapped[str] = mapped_column(String(40), default="")  # e.g. the new 宛名番号, the record id
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


Index("ix_approval_request_status", ApprovalRequest.status, ApprovalRequest.requested_at)
Index(
    "uq_approval_request_pending_subject",
    ApprovalRequest.subject_key,
    unique=True,
    sqlite_where=text("status = 'requested'"),
    postgresql_where=text("status = 'requested'"),
)
