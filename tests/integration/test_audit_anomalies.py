"""Anomaly report: closed days and off-hours work, authentication failures, unusual person-view volume.
Each anomaly's lookup criteria select exactly its entries."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from sesshu.actor import Actor
from sesshu.audit.anomalies import Calendar, anomaly_report
from sesshu.audit.lookup import LookupCriteria, search_entries
from sesshu.auth.service import AuthError, create_user, login_password, record_access_denied
from sesshu.domain.errors import InvalidInput
from tests.integration.test_audit_checkpoints import jst_at, write_at

A = Actor(login_id="staff-a", kind="user", role="clerk")
B = Actor(login_id="staff-b", kind="user", role="clerk")
# November 2025: Mon 3 is 文化の日, Sat 8 / Sun 9 a weekend, Wed 5 an ordinary weekday.
HOLIDAY, SATURDAY, WEEKDAY = date(2025, 11, 3), date(2025, 11, 8), date(2025, 11, 5)


def _lookup(db, anomaly) -> list[int]:
    p = anomaly.lookup
    criteria = LookupCriteria.parse(atena_no=p.get("atena_no", ""), actor=p.get("actor", ""),
                                    action=p.get("action", ""), date_from=p.get("from"), date_to=p.get("to"),
                                    seq_from=int(p["seq_from"]) if "seq_from" in p else None,
                                    seq_to=int(p["seq_to"]) if "seq_to" in p else None, seqs=p.get("seqs", ""))
    page = search_entries(db, actor=A, criteria=criteria, per_page=500)
    return sorted(r.seq for r in page.rows)


def test_calendar_knows_holidays_weekends_and_year_end(settings):
    cal = Calendar.from_settings(settings)
    assert cal.closed_reason(HOLIDAY) == "文化の日"
    assert cal.closed_reason(SATURDAY) == "土曜日"
    assert cal.closed_reason(date(2025, 12, 29)) == "年末年始等の休業日"  # a Monday
    assert cal.closed_reason(date(2026, 1, 2)) == "年末年始等の休業日"
    assert cal.closed_reason(WEEKDAY) is None
    assert Calendar.from_settings(replace(settings, closed_days="")).closed_reason(date(2025, 12, 29)) is None


@pytest.mark.parametrize("field,value,message", [
    ("business_hours", "9時-17時", "08:30-17:15"),
    ("business_hours", "18:00-09:00", "始業時刻"),
    ("closed_days", "12-32", "12-29"),
])
def test_bad_calendar_settings_are_refused_in_japanese(settings, field, value, message):
    with pytest.raises(InvalidInput, match=message):
        Calendar.from_settings(replace(settings, **{field: value}))


def test_reports_closed_day_and_off_hours_work_with_exact_entries(db, settings, operator):
    early = write_at(db, jst_at(WEEKDAY, 8, 29), A)
    normal = write_at(db, jst_at(WEEKDAY, 8, 30), A, n=2) + write_at(db, jst_at(WEEKDAY, 17, 14), A)
    late = write_at(db, jst_at(WEEKDAY, 17, 15), A, n=3)
    other = write_at(db, jst_at(WEEKDAY, 18, 0), B)
    holiday = write_at(db, jst_at(SATURDAY, 11), A, n=2) + write_at(db, jst_at(SATURDAY, 23, 59), A)
    report = anomaly_report(db, settings, actor=operator, date_from=WEEKDAY, date_to=SATURDAY)
    got = {(a.kind, a.who, a.day, a.note): a for a in report.off_hours}
    assert set(got) == {
        ("off_hours", "staff-a", WEEKDAY, "始業（08:30）前"),
        ("off_hours", "staff-a", WEEKDAY, "終業（17:15）後"),
        ("off_hours", "staff-b", WEEKDAY, "終業（17:15）後"),
        ("closed_day", "staff-a", SATURDAY, "11月8日（土曜日）"),
    }
    assert _lookup(db, got[("off_hours", "staff-a", WEEKDAY, "終業（17:15）後")]) == late
    assert _lookup(db, got[("off_hours", "staff-b", WEEKDAY, "終業（17:15）後")]) == other
    assert _lookup(db, got[("closed_day", "staff-a", SATURDAY, "11月8日（土曜日）")]) == holiday
    assert got[("off_hours", "staff-a", WEEKDAY, "始業（08:30）前")].count == len(early)
    assert not set(normal) & {s for a in report.off_hours for s in _lookup(db, a)}


def test_reports_holiday_work(db, settings, operator):
    seqs = write_at(db, jst_at(HOLIDAY, 10), B, action="person.search")
    report = anomaly_report(db, settings, actor=operator, date_from=HOLIDAY, date_to=HOLIDAY)
    [a] = report.off_hours
    assert (a.kind, a.who, a.note) == ("closed_day", "staff-b", "11月3日（文化の日）")
    assert _lookup(db, a) == seqs


def test_reports_authentication_failures_per_account_and_client(db, settings, operator):
    create_user(db, settings, actor=operator, login_id="victim", display_name="職員", role="clerk",
                password="kumagaya-Sesshu-2026")
    for login_id in ("victim", "victim", "nobody"):
        with pytest.raises(AuthError):
            login_password(db, login_id=login_id, password="wrong-password-1", client="192.0.2.7")
    with pytest.raises(AuthError):
        login_password(db, login_id="victim", password="wrong-password-1", client="198.51.100.3")
    record_access_denied(db, actor=A, permission="audit.view", path="/audit", method="GET")
    from sesshu.clock import today_jst

    today = today_jst()
    report = anomaly_report(db, settings, actor=operator, date_from=today - timedelta(days=1), date_to=today)
    by_account = {a.who: a for a in report.failures_by_account}
    assert by_account["victim"].count == 3 and by_account["nobody"].count == 1
    assert "ログイン失敗 3件" in by_account["victim"].note
    assert by_account["staff-a"].note == "権限のない操作の試行 1件"
    by_client = {a.who: a for a in report.failures_by_client}
    assert by_client["192.0.2.7"].count == 3 and by_client["192.0.2.7"].note.startswith("2アカウント")
    assert by_client["198.51.100.3"].count == 1
    assert len(_lookup(db, by_client["192.0.2.7"])) == 3
    assert len(_lookup(db, by_account["victim"])) == 3


def test_reports_unusual_person_view_volume(db, settings, operator):
    day = WEEKDAY
    # B's usual day: 5 views on 10 earlier weekdays; then 30 on `day` (6× the median, under the limit).
    for back in range(1, 15):
        d = day - timedelta(days=back)
        if d.weekday() < 5:
            write_at(db, jst_at(d, 10), B, n=5)
    write_at(db, jst_at(day, 9), B, n=30)
    # A: 101 views on one day (over the limit of 100) with no history; C: 100 views, just at the limit.
    over = write_at(db, jst_at(day, 9, 30), A, n=101)
    write_at(db, jst_at(day, 10), Actor(login_id="staff-c", kind="user", role="clerk"), n=100)
    write_at(db, jst_at(day, 11), A, action="person.search", n=50)  # not a person view
    report = anomaly_report(db, settings, actor=operator, date_from=day, date_to=day)
    found = {a.who: a for a in report.view_volume}
    assert set(found) == {"staff-a", "staff-b"}
    assert found["staff-a"].count == 101 and "上限 100件" in found["staff-a"].note
    assert found["staff-b"].count == 30 and "中央値 5件" in found["staff-b"].note
    assert _lookup(db, found["staff-a"]) == over


def test_report_is_on_record_and_period_is_validated(db, settings, operator):
    anomaly_report(db, settings, actor=operator, date_from="2025-11-01", date_to="R7.11.30")
    page = search_entries(db, actor=operator, criteria=LookupCriteria.parse(action="audit.view"))
    assert any('"anomalies"' in r.detail and "2025-11-30" in r.detail for r in page.rows)
    with pytest.raises(InvalidInput, match="より後"):
        anomaly_report(db, settings, actor=operator, date_from="2025-12-01", date_to="2025-11-01")
    with pytest.raises(InvalidInput, match="366日以内"):
        anomaly_report(db, settings, actor=operator, date_from="2024-01-01", date_to="2025-12-31")
    with pytest.raises(InvalidInput, match="期間"):
        anomaly_report(db, settings, actor=operator, date_from="", date_to="2025-12-31")
