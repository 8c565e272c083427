"""Dates on screens in the signed-in user's style: 和暦 first with 西暦 alongside, or the reverse.

render() (web/deps.py) sets the style for the one template it renders; the `jdate`/`jrange` macros and
the `jdate_text` filter read it, and so does the `jst` filter for times (Japan time, never UTC),
so every page follows the user's setting.
"""
from __future__ import annotations

from contextvars import ContextVar
from datetime import date, datetime, timezone

from sesshu.clock import JST
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


def jst(value, *, seconds: bool = False) -> str:
    """A moment as Japan time in the user's style — the one helper behind every time on a page.

    Stored timestamps are naive UTC (sesshu.clock.utcnow); aware ones and ISO strings (job and
    history rows serialised as text) are accepted too. 和暦: 令和8年12月3日 18:24; 西暦: 2026-12-03 18:24.
    """
    if isinstance(value, str) and value:
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return ""
    local = (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(JST)
    clock = f"{local:%H:%M:%S}" if seconds else f"{local:%H:%M}"
    day = to_wareki(local.date()) if DATE_STYLE.get() == "wareki" else local.date().isoformat()
    return f"{day} {clock}"
