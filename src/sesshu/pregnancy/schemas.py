"""Shapes of a 妊娠届 row for pages, the CLI and the JSON API."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sesshu.domain.wareki import to_wareki
from sesshu.pregnancy.models import SOURCES, STATUSES


@dataclass(frozen=True)
class PregnancyEntry:
    expected_delivery: date | None
    notified_on: date | None
    source_ref: str = ""


@dataclass(frozen=True)
class PregnancyOut:
    id: int
    expected_delivery: date
    notified_on: date
    source: str
    source_ref: str
    status: str
    recorded_at: datetime
    recorded_by: str
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    withdraw_reason: str | None
    window_from: date | None  # RSウイルス 母子免疫: 妊娠28週0日
    window_until: date | None  # 妊娠36週6日
    window_state: str  # "before" | "open" | "passed" | "none" (withdrawn, or outside the program)

    @property
    def source_label(self) -> str:
        return SOURCES.get(self.source, self.source)

    @property
    def status_label(self) -> str:
        return STATUSES.get(self.status, self.status)

    @property
    def window_text(self) -> str:
        if self.window_from is None:
            return "—"
        return f"{to_wareki(self.window_from)}〜{to_wareki(self.window_until)}"

    @property
    def window_label(self) -> str:
        return {"before": "接種期間前", "open": "接種期間中", "passed": "接種期間終了",
                "none": "—"}[self.window_state]


def pregnancy_out(row, today: date, rules) -> PregnancyOut:
    """rules: the RuleSet in force on ``today`` (sesshu.rulesets.active.rule_book(s).at(today))."""
    start = until = None
    state = "none"
    if row.status == "active":
        windows = rules.pregnancy_windows(row.expected_delivery)
        if windows:
            _sid, start, until = windows[0]
            state = "before" if today < start else ("open" if today <= until else "passed")
    return PregnancyOut(
        id=row.id, expected_delivery=row.expected_delivery, notified_on=row.notified_on, source=row.source,
        source_ref=row.source_ref, status=row.status, recorded_at=row.recorded_at, recorded_by=row.recorded_by,
        withdrawn_at=row.withdrawn_at, withdrawn_by=row.withdrawn_by, withdraw_reason=row.withdraw_reason,
        window_from=start, window_until=until, window_state=state)
