"""Anomaly report for the security officer's regular review (seed III: 休業日・時間外のアクセス, ログイン失敗).

For a period of JST days it lists
  (a) operations on closed days (weekends, national holidays via jpholiday, the configured
      year-end/new-year days) and outside business hours, per staff member and day;
  (b) login failures, locks, failed second factors and refused requests, per account and per client;
  (c) days on which a staff member viewed unusually many persons: above the configured limit, or
      well above that member's usual (median) daily count.
Every anomaly carries the lookup criteria that select exactly its entries.

The log is read with range conditions on the indexed occurred_at text and aggregated in SQL by
(actor, UTC hour); only those small groups are mapped to JST days in Python.
"""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import jpholiday
from sqlalchemy import String, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.audit.lookup import MAX_SEQ_PARTS, action_label, compress_seqs
from sesshu.audit.models import AuditEntry
from sesshu.audit.periods import day_range, day_start, days, jst_hour, parse_period, utc_bound
from sesshu.audit.service import record
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.domain.errors import InvalidInput

FAILURE_ACTIONS = ("auth.login_failed", "auth.locked", "auth.mfa_failed", "auth.reauth_failed",
                   "auth.password_change_failed", "auth.passkey_register_failed", "auth.denied",
                   "access.out_of_scope", "access.no_task", "auth.session_rejected", "auth.csrf_failed",
                   "export.terminal_refused", "auth.passkey_remove_refused", "approval.view_refused",
                   "approval.withdraw_refused", "user.totp_fallback_refused",
                   "user.self_change_refused")
CLIENT_ACTIONS = ("auth.login_failed", "auth.mfa_failed", "auth.session_rejected", "auth.csrf_failed")
VIEW_ACTIONS = ("person.view",)
BASELINE_DAYS = 28
MIN_BASELINE_ACTIVE_DAYS = 5
# Below this a multiple of the median means nothing (2 views on a day when 0.5 is usual).
MIN_UNUSUAL_VIEWS = 10
WEEKDAYS = "月火水木金土日"

KIND_LABELS = {
    "closed_day": "休業日の操作",
    "off_hours": "時間外の操作",
    "failures_account": "認証の失敗・拒否（アカウント別）",
    "failures_client": "認証の失敗（接続元別）",
    "view_volume": "個人の情報の大量閲覧",
}


@dataclass(frozen=True)
class Calendar:
    opens: time
    closes: time
    closed_days: frozenset[tuple[int, int]]

    @classmethod
    def from_settings(cls, settings: Settings) -> "Calendar":
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", settings.business_hours)
        try:
            opens, closes = time(int(m[1]), int(m[2])), time(int(m[3]), int(m[4]))
        except (TypeError, ValueError) as e:
            raise InvalidInput("設定 business_hours は 08:30-17:15 の形で指定してください") from e
        if opens >= closes:
            raise InvalidInput("設定 business_hours の始業時刻が終業時刻より後になっています")
        closed = set()
        for part in filter(None, (p.strip() for p in settings.closed_days.split(","))):
            try:
                month, day = (int(x) for x in part.split("-"))
                date(2000, month, day)  # a leap year: 02-29 is allowed
            except ValueError as e:
                raise InvalidInput(f"設定 closed_days の {part} は 12-29 のような月-日で指定してください") from e
            closed.add((month, day))
        return cls(opens=opens, closes=closes, closed_days=frozenset(closed))

    def closed_reason(self, d: date) -> str | None:
        """Why `d` is not a business day, or None when it is one."""
        name = jpholiday.is_holiday_name(d)
        if name:
            return name
        if (d.month, d.day) in self.closed_days:
            return "年末年始等の休業日"
        if d.weekday() >= 5:
            return f"{WEEKDAYS[d.weekday()]}曜日"
        return None

    def off_hours_ranges(self, first: date, last: date) -> list[tuple[str, str]]:
        """UTC text ranges [a, b) covering closed days and the hours outside business hours."""
        spans: list[list[datetime]] = []
        for d in days(first, last):
            start, end = day_start(d), day_start(d + timedelta(days=1))
            parts = ([(start, end)] if self.closed_reason(d) else
                     [(start, datetime.combine(d, self.opens, tzinfo=start.tzinfo)),
                      (datetime.combine(d, self.closes, tzinfo=start.tzinfo), end)])
            for a, b in parts:
                if spans and spans[-1][1] == a:
                    spans[-1][1] = b  # evening joins the next morning or closed day: fewer OR terms
                else:
                    spans.append([a, b])
        return [(utc_bound(a), utc_bound(b)) for a, b in spans]


@dataclass(frozen=True)
class Anomaly:
    kind: str
    who: str
    day: date | None
    count: int
    note: str
    lookup: dict[str, str]

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    def as_dict(self) -> dict:
        return {"kind": self.kind, "label": self.label, "who": self.who,
                "day": self.day.isoformat() if self.day else None, "count": self.count, "note": self.note,
                "lookup": self.lookup}


@dataclass
class AnomalyReport:
    date_from: date
    date_to: date
    business_hours: str
    view_limit: int
    median_factor: int
    off_hours: list[Anomaly] = field(default_factory=list)
    failures_by_account: list[Anomaly] = field(default_factory=list)
    failures_by_client: list[Anomaly] = field(default_factory=list)
    view_volume: list[Anomaly] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.off_hours) + len(self.failures_by_account) + len(self.failures_by_client) + len(self.view_volume)

    def as_dict(self) -> dict:
        return {"from": self.date_from.isoformat(), "to": self.date_to.isoformat(),
                "business_hours": self.business_hours, "view_limit": self.view_limit,
                "median_factor": self.median_factor,
                "off_hours": [a.as_dict() for a in self.off_hours],
                "failures_by_account": [a.as_dict() for a in self.failures_by_account],
                "failures_by_client": [a.as_dict() for a in self.failures_by_client],
                "view_volume": [a.as_dict() for a in self.view_volume]}


def anomaly_report(db: Database, settings: Settings, *, actor: Actor, date_from: str | date | None,
                   date_to: str | date | None) -> AnomalyReport:
    """The report for [date_from, date_to] (JST days, inclusive). Running it is on record."""
    first, last = parse_period(date_from, date_to, required=True)
    cal = Calendar.from_settings(settings)
    if settings.audit_view_limit < 1 or settings.audit_view_median_factor < 1:
        raise InvalidInput("設定 audit_view_limit と audit_view_median_factor は1以上にしてください")
    report = AnomalyReport(date_from=first, date_to=last, business_hours=f"{cal.opens:%H:%M}〜{cal.closes:%H:%M}",
                           view_limit=settings.audit_view_limit, median_factor=settings.audit_view_median_factor)
    with db.transaction() as s:
        report.off_hours = _off_hours(s, cal, first, last)
        report.failures_by_account = _failures_by_account(s, first, last)
        report.failures_by_client = _failures_by_client(s, first, last)
        report.view_volume = _view_volume(s, settings, first, last)
        record(s, actor, "audit.view", purpose="操作記録の異常の確認",
               detail={"view": "anomalies", "from": first.isoformat(), "to": last.isoformat(),
                       "found": report.total})
    return report


def _hour():
    return func.substr(AuditEntry.occurred_at, 1, 13)


def _off_hours(s: Session, cal: Calendar, first: date, last: date) -> list[Anomaly]:
    hour = _hour()
    # One index range per off-hours span: the work follows the off-hours entries, not the whole period.
    query = (select(AuditEntry.actor, hour, func.count(), func.min(AuditEntry.seq), func.max(AuditEntry.seq))
             .where(AuditEntry.occurred_at >= bindparam("a"), AuditEntry.occurred_at < bindparam("b"))
             .group_by(AuditEntry.actor, hour))
    rows = [row for a, b in cal.off_hours_ranges(first, last) for row in s.execute(query, {"a": a, "b": b})]
    groups: dict[tuple[str, date, str], list[int]] = {}
    for who, h, n, lo, hi in rows:
        t = jst_hour(h)
        d = t.date()
        segment = "closed" if cal.closed_reason(d) else ("before" if t.time() < cal.opens else "after")
        g = groups.setdefault((who, d, segment), [0, lo, hi])
        g[0] += n
        g[1], g[2] = min(g[1], lo), max(g[2], hi)
    out = []
    for (who, d, segment), (n, lo, hi) in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        if segment == "closed":
            kind, note = "closed_day", f"{d.month}月{d.day}日（{cal.closed_reason(d)}）"
        else:
            kind = "off_hours"
            note = (f"始業（{cal.opens:%H:%M}）前" if segment == "before" else f"終業（{cal.closes:%H:%M}）後")
        # Seq follows time, so this member's entries between lo and hi are exactly this segment's.
        out.append(Anomaly(kind=kind, who=who, day=d, count=n, note=note,
                           lookup={"actor": who, "seq_from": str(lo), "seq_to": str(hi)}))
    return out


def _failures_by_account(s: Session, first: date, last: date) -> list[Anomaly]:
    start, end = day_range(first, last)
    rows = s.execute(
        select(AuditEntry.actor, AuditEntry.action, func.count())
        .where(AuditEntry.occurred_at >= start, AuditEntry.occurred_at < end,
               AuditEntry.action.in_(FAILURE_ACTIONS))
        .group_by(AuditEntry.actor, AuditEntry.action)
    ).all()
    per_actor: dict[str, dict[str, int]] = {}
    for who, action, n in rows:
        per_actor.setdefault(who, {})[action] = n
    out = []
    for who, counts in per_actor.items():
        note = "、".join(f"{action_label(a)} {n}件" for a, n in sorted(counts.items()))
        out.append(Anomaly(kind="failures_account", who=who, day=None, count=sum(counts.values()), note=note,
                           lookup={"actor": who, "action": ",".join(sorted(counts)), "from": first.isoformat(),
                                   "to": last.isoformat()}))
    return sorted(out, key=lambda a: (-a.count, a.who))


def _failures_by_client(s: Session, first: date, last: date) -> list[Anomaly]:
    start, end = day_range(first, last)
    if s.get_bind().dialect.name == "postgresql":
        client = cast(AuditEntry.detail, JSONB)["client"].astext
        seqs = func.string_agg(cast(AuditEntry.seq, String), ",")
    else:
        client = func.json_extract(AuditEntry.detail, "$.client")
        seqs = func.group_concat(AuditEntry.seq)
    rows = s.execute(
        select(client, func.count(), func.count(AuditEntry.actor.distinct()), seqs)
        .where(AuditEntry.occurred_at >= start, AuditEntry.occurred_at < end,
               AuditEntry.action.in_(CLIENT_ACTIONS), client.is_not(None), client != "")
        .group_by(client)
    ).all()
    out = []
    for who, n, accounts, seq_text in rows:
        runs = compress_seqs(int(x) for x in seq_text.split(",")).split(",")
        note = f"{accounts}アカウントに対して"
        if len(runs) > MAX_SEQ_PARTS:
            runs, note = runs[:MAX_SEQ_PARTS], note + "（リンク先は先頭の一部のみ）"
        out.append(Anomaly(kind="failures_client", who=who, day=None, count=n, note=note,
                           lookup={"seqs": ",".join(runs)}))
    return sorted(out, key=lambda a: (-a.count, a.who))


def _view_volume(s: Session, settings: Settings, first: date, last: date) -> list[Anomaly]:
    base_first = first - timedelta(days=BASELINE_DAYS)
    start, end = day_range(base_first, last)
    hour = _hour()
    rows = s.execute(
        select(AuditEntry.actor, hour, func.count(), func.min(AuditEntry.seq), func.max(AuditEntry.seq))
        .where(AuditEntry.action.in_(VIEW_ACTIONS), AuditEntry.occurred_at >= start, AuditEntry.occurred_at < end)
        .group_by(AuditEntry.actor, hour)
    ).all()
    per_day: dict[str, dict[date, list[int]]] = {}
    for who, h, n, lo, hi in rows:
        g = per_day.setdefault(who, {}).setdefault(jst_hour(h).date(), [0, lo, hi])
        g[0] += n
        g[1], g[2] = min(g[1], lo), max(g[2], hi)
    limit, factor = settings.audit_view_limit, settings.audit_view_median_factor
    out = []
    for who, by_day in per_day.items():
        active = [g[0] for g in by_day.values()]
        median = statistics.median(active) if len(active) >= MIN_BASELINE_ACTIVE_DAYS else None
        for d, (n, lo, hi) in by_day.items():
            if d < first:
                continue
            reasons = []
            if n > limit:
                reasons.append(f"1日の上限 {limit}件を超過")
            if median is not None and n >= MIN_UNUSUAL_VIEWS and n >= factor * median:
                reasons.append(f"普段（中央値 {median:g}件）の{n / median:.1f}倍")
            if reasons:
                out.append(Anomaly(kind="view_volume", who=who, day=d, count=n, note="、".join(reasons),
                                   lookup={"actor": who, "action": ",".join(VIEW_ACTIONS), "seq_from": str(lo),
                                           "seq_to": str(hi)}))
    return sorted(out, key=lambda a: (a.day, -a.count, a.who))
