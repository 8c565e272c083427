"""Shapes of approval requests as they leave the service (the payload only as described rows)."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from sesshu.approvals.kinds import KINDS
from sesshu.approvals.models import STATUSES


class ApprovalOut(BaseModel):
    id: int
    kind: str
    kind_label: str
    status: str
    status_label: str
    summary: str
    reason: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_comment: str
    result_ref: str
    version: int

    @classmethod
    def from_row(cls, r) -> "ApprovalOut":
        kind = KINDS.get(r.kind)
        return cls(id=r.id, kind=r.kind, kind_label=kind.label if kind else r.kind, status=r.status,
                   status_label=STATUSES.get(r.status, r.status), summary=r.summary, reason=r.reason,
                   requested_by=r.requested_by, requested_at=r.requested_at, decided_by=r.decided_by,
                   decided_at=r.decided_at, decision_comment=r.decision_comment, result_ref=r.result_ref,
                   version=r.version)


class DetailRow(BaseModel):
    label: str
    value: str


class ApprovalDetail(BaseModel):
    approval: ApprovalOut
    details: list[DetailRow]
    own: bool  # the viewer made this request
    may_decide: bool  # the viewer may approve or reject it now
    may_withdraw: bool
    result_atena_no: str | None  # where to look at the outcome
    # The persons a pending request is about, read live (an erasure: who, with 4情報, and why due).
    subjects_header: list[str] = []
    subjects: list[list[str]] = []
    subjects_more: int = 0  # persons not listed on the page


class ApprovalOverview(BaseModel):
    to_decide: list[ApprovalOut]  # pending requests of other staff (approvers only)
    mine: list[ApprovalOut]
