"""The only place outside tests that reads the wall clock; domain code gets dates passed in."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def today_jst() -> date:
    return datetime.now(JST).date()


def now_jst() -> datetime:
    """The wall-clock time in Japan (a venue station's 接種時刻)."""
    return datetime.now(JST).replace(tzinfo=None)


def utc_iso(dt: datetime | None = None) -> str:
    dt = dt or datetime.now(timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
