"""Times on pages: stored UTC shown in Japan time, the date in the user's 和暦/西暦 style."""
from __future__ import annotations

from datetime import datetime, timezone

from sesshu.web.dates import DATE_STYLE, jst


def _in_style(style: str, value, **kw) -> str:
    token = DATE_STYLE.set(style)
    try:
        return jst(value, **kw)
    finally:
        DATE_STYLE.reset(token)


def test_a_stored_utc_time_is_shown_in_japan_time_across_midnight():
    assert _in_style("western", datetime(2026, 12, 3, 15, 30)) == "2026-12-04 00:30"


def test_the_date_follows_the_wareki_setting():
    assert _in_style("wareki", datetime(2026, 12, 3, 15, 30, 5), seconds=True) == "令和8年12月4日 00:30:05"


def test_aware_times_and_iso_text_are_accepted():
    aware = datetime(2026, 12, 3, 1, 0, tzinfo=timezone.utc)
    assert _in_style("western", aware) == "2026-12-03 10:00"
    assert _in_style("western", "2026-12-03T01:00:00.000000Z") == "2026-12-03 10:00"
    assert _in_style("western", "2026-12-03T01:00:00") == "2026-12-03 10:00"
    assert _in_style("western", None) == ""
