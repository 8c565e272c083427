"""Input and output shapes of person conditions."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sesshu.conditions.codes import catalog
from sesshu.conditions.facts import span_of
from sesshu.conditions.models import STATUSES


@dataclass(frozen=True)
class ConditionEntry:
    """What a clerk records: the condition, the document seen, and the period it applies."""

    condition_code: str
    impairment: str
    evidence_kind: str
    confirmed_on: date | None
    reason: str
    evidence_grade: int | None = None
    evidence_no: str = ""
    evidence_issued_on: date | None = None
    evidence_note: str = ""
    valid_from: date | None = None
    valid_until: date | None = None


@dataclass(frozen=True)
class ConditionOut:
    id: int
    atena_no: str
    condition_code: str
    label: str
    impairment: str
    impairment_label: str
    evidence_kind: str
    evidence_label: str
    evidence_grade: int | None
    evidence_no: str
    evidence_issued_on: date | None
    evidence_note: str
    confirmed_on: date
    valid_from: date | None
    valid_until: date | None
    status: str
    status_label: str
    state: str  # holds / not_yet / lapsed / ended / withdrawn — on the day it was read
    state_label: str
    recorded_at: datetime
    recorded_by: str
    record_reason: str
    ended_on: date | None
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str | None
    source: str

    @property
    def can_end(self) -> bool:
        return self.status == "active"


STATE_LABELS = {"holds": "有効", "not_yet": "有効期間の前", "lapsed": "有効期間の経過", "ended": "終了",
                "withdrawn": "取消（誤登録）"}


def _state(row, today: date) -> str:
    if row.status == "withdrawn":
        return "withdrawn"
    span = span_of(row)
    if span is None or (span.valid_until is not None and span.valid_until < today):
        return "ended" if row.status == "ended" else "lapsed"
    if span.valid_from is not None and today < span.valid_from:
        return "not_yet"
    return "holds"


def condition_out(row, today: date, cat=None) -> ConditionOut:
    cat = cat or catalog()
    kind = cat.conditions.get(row.condition_code)
    evidence = cat.evidence.get(row.evidence_kind)
    state = _state(row, today)
    return ConditionOut(
        id=row.id, atena_no=row.atena_no, condition_code=row.condition_code,
        label=kind.label if kind else row.condition_code,
        impairment=row.impairment,
        impairment_label=kind.impairments.get(row.impairment, row.impairment) if kind else row.impairment,
        evidence_kind=row.evidence_kind, evidence_label=evidence.label if evidence else row.evidence_kind,
        evidence_grade=row.evidence_grade, evidence_no=row.evidence_no, evidence_issued_on=row.evidence_issued_on,
        evidence_note=row.evidence_note, confirmed_on=row.confirmed_on, valid_from=row.valid_from,
        valid_until=row.valid_until, status=row.status, status_label=STATUSES.get(row.status, row.status),
        state=state, state_label=STATE_LABELS[state], recorded_at=row.recorded_at, recorded_by=row.recorded_by,
        record_reason=row.record_reason, ended_on=row.ended_on, ended_at=row.ended_at, ended_by=row.ended_by,
        end_reason=row.end_reason, source=kind.source if kind else "")
