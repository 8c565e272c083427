"""Shapes the linkage pages and commands show."""
from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

BATCH_STATUSES = {"prepared": "作成済み（確認待ち）", "checked": "確認済み（承認待ち）", "approved": "承認済み（公開待ち）",
                  "published": "公開済み", "discarded": "破棄（作り直し）"}
PROVISION_STATUSES = {"held": "保留（自動応答不可・判断待ち）", "disclose": "提供承認済み（送信待ち）",
                      "withhold": "不開示決定（送信待ち）", "sent": "回答済み"}
INQUIRY_STATUSES = {"approved": "承認済み・送信待ち", "sending": "送信中", "waiting": "回答待ち", "answered": "回答受領", "refused": "拒否"}


class BatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    status: str
    copies: int
    persons: int
    prepared_by: str
    prepared_at: datetime
    checked_by: str | None = None
    approved_by: str | None = None
    published_at: datetime | None = None
    version: int

    @property
    def status_label(self) -> str:
        return BATCH_STATUSES.get(self.status, self.status)


class ProvisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    permit_id: str
    atena_no: str | None
    requester: str
    status: str
    decision: str
    records_sent: int
    not_disclosed: int
    received_at: datetime
    sent_at: datetime | None = None

    @property
    def status_label(self) -> str:
        return PROVISION_STATUSES.get(self.status, self.status)


class InquiryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    permit_id: str | None
    atena_no: str
    provider: str
    status: str
    refusal: str
    requested_by: str
    requested_at: datetime
    answered_at: datetime | None = None
    records_received: int
    records_imported: int
    not_disclosed: int
    purge_after: date | None = None
    purged_at: datetime | None = None

    @property
    def status_label(self) -> str:
        return INQUIRY_STATUSES.get(self.status, self.status)


OUTCOMES = {"requested": "照会（許可証発行）", "answered": "回答受領", "refused": "拒否", "held": "保留（自動応答不可）",
            "provided": "提供", "withheld": "不開示"}
DIRECTIONS = {"inquiry": "照会", "provision": "提供"}


class ExchangeOut(BaseModel):
    """One 情報提供等記録 line: who asked whom, when, for what, under which permit, and the outcome."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    atena_no: str | None
    direction: str
    counterpart: str
    task: str
    info: str
    permit_id: str
    outcome: str
    records: int
    actor: str
    occurred_at: datetime
    detail: str
    keep_until: date

    @property
    def direction_label(self) -> str:
        return DIRECTIONS.get(self.direction, self.direction)

    @property
    def outcome_label(self) -> str:
        return OUTCOMES.get(self.outcome, self.outcome)

    @property
    def task_label(self) -> str:
        from sesshu.access.tasks import TASKS

        return TASKS[self.task].label if self.task in TASKS else self.task

    @property
    def info_label(self) -> str:
        from sesshu.linkage.rules import load_rules

        return load_rules().info.get(self.info, {}).get("label", self.info)


class SyncSummary(BaseModel):
    published_batches: int = 0
    inquiries_sent: int = 0
    provided: int = 0
    held: int = 0
    answers_imported: int = 0
    refused: int = 0
