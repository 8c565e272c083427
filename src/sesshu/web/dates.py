"""Dates on screens in the signed-in user's style: 和暦 first with 西暦 alongside, or the reverse.

render() (web/deps.py) sets the style for the one template it renders; the `jdate`/`jrange` macros
and the `jdate_text` filter read it, so every page follows the user's setting.
"""
from __future__ import annotations

from contextvars import ContextVar
from datetime import date

from sesshu.domain.wareki import to_wareki
from sesshu.preferences.service import DEFAULT_DATE_STYLE

DATE_STYLE: ContextVar[str] = ContextVar("date_style", default=DEFAULT_DATE_STYLE)


def date_pair(d: date | None) -> tuple[str, str]:
    """(shown first, shown alongside) for one date."""
    if not isinstance(d, date):
        return "", ""
    western, wareki = d.isoformat(), to_wareki(d)
    return (wareki, western) if DATE_STYLE.get() == "wareki" else (western, wareki)


def range_pair(a: date | None, b: date | None) -> tuple[str, str]:
    fa, sa = date_pair(a)
    fb, sb = date_pair(b)
    return f"{fa}〜{fb}", f"{sa}〜{sb}"


def jdate_text(d: date | None) -> str:
    """One line: 令和5年8月3日（2023-08-03）, or 2023-08-03（令和5年8月3日）."""
    first, second = date_pair(d)
    return f"{first}（{second}）" if first else ""


def jst(dt) -> str:
    """A stored UTC timestamp (naive) as Japan time: 2026-12-03 18:24."""
    from datetime import datetime, timezone

    from sesshu.clock import JST

    if not isinstance(dt, datetime):
        return ""
    aware = dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return f"{aware.astimezone(JST):%Y-%m-%d %H:%M}"
