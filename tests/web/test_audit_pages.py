"""Audit pages for the security officer and auditors: menu, verify, checkpoints, anomalies, lookup."""
from __future__ import annotations

import html
import json
import re
from datetime import date, timedelta

from sqlalchemy import text

from sesshu.actor import Actor
from sesshu.audit.checkpoints import checkpoint_dir, create_checkpoints
from sesshu.clock import today_jst
from tests.integration.test_audit_checkpoints import jst_at, rewrite_chain, write_at
from tests.web.conftest import ADMIN, login

STAFF = Actor(login_id="staff-a", kind="user", role="clerk")
SUNDAY = date(2025, 11, 9)


def _last_entry(db):
    with db.engine.connect() as c:
        return c.execute(text("SELECT actor, action, atena_no, detail FROM audit_entry ORDER BY seq DESC LIMIT 1")).one()


def test_menu_is_linked_from_home_for_audit_roles_only(client, make_staff):
    login(client, make_staff("auditor"))
    assert 'href="/audit"' in client.get("/").text
    page = client.get("/audit")
    assert page.status_code == 200 and 'action="/audit/verify"' in page.text and 'href="/audit/entries"' in page.text


def test_clerk_is_refused_and_the_attempt_is_on_record(client, make_staff, db):
    login(client, make_staff("clerk"))
    assert 'href="/audit"' not in client.get("/").text
    r = client.get("/audit/entries", params={"atena_no": "1001"})
    assert r.status_code == 403
    actor, action, _, detail = _last_entry(db)
    assert (actor, action) == ("clerk-1", "auth.denied") and json.loads(detail)["path"] == "/audit/entries"


def test_lookup_shows_hostile_detail_escaped_and_is_on_record(client, make_staff, db):
    hostile = "<script>alert(1)</script>"
    write_at(db, jst_at(date(2025, 10, 1), 10), STAFF, atena_no="1002", purpose="<b>目的</b>",
             detail={"name": hostile, "note": '"><img src=x onerror=alert(2)>'})
    login(client, make_staff("auditor"))
    page = client.get("/audit/entries", params={"atena_no": "1002"})
    assert page.status_code == 200
    assert hostile not in page.text and "<img src=x" not in page.text and "<b>目的" not in page.text
    assert html.escape(hostile, quote=False) in page.text and "&lt;b&gt;目的&lt;/b&gt;" in page.text
    actor, action, atena_no, detail = _last_entry(db)
    assert (actor, action, atena_no) == ("auditor-1", "audit.view", "1002")
    assert json.loads(detail)["rows"] == 1


def test_lookup_refuses_bad_input_in_japanese(client, make_staff):
    login(client, make_staff("auditor"))
    r = client.get("/audit/entries", params={"atena_no": "12a"})
    assert r.status_code == 400 and "宛名番号は15桁以内の数字" in r.text
    assert client.get("/audit/entries").status_code == 200  # empty form, no query


def test_verify_now_reports_clean_log_then_tampering(client, make_staff, db, backend, settings):
    write_at(db, jst_at(date(2025, 10, 1), 10), STAFF, n=3)
    create_checkpoints(db, settings, actor=ADMIN)
    csrf = login(client, make_staff("security_officer"))
    ok = client.post("/audit/verify", data={"csrf_token": csrf})
    assert ok.status_code == 200 and "改ざんは見つかりませんでした" in ok.text
    assert _last_entry(db)[:2] == ("security-officer-1", "audit.verify")
    rewrite_chain(db, backend, {2: {"detail": '{"forged": 1}'}})
    bad = client.post("/audit/verify", data={"csrf_token": csrf})
    assert "問題が" in bad.text and "2025-10-01" in bad.text and "書き換え" in bad.text
    assert client.post("/audit/verify").status_code == 403  # no CSRF token


def test_checkpoint_list_and_download_match_the_handed_over_file(client, make_staff, db, settings):
    write_at(db, jst_at(date(2025, 10, 1), 10), STAFF, n=2)
    create_checkpoints(db, settings, actor=ADMIN, day=date(2025, 10, 1))
    login(client, make_staff("auditor"))
    page = client.get("/audit/checkpoints")
    assert "2025-10-01" in page.text and "BEGIN PUBLIC KEY" in page.text
    assert _last_entry(db)[1] == "audit.view"
    r = client.get("/audit/checkpoints/2025-10-01")
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
    on_disk = json.loads((checkpoint_dir(settings) / "audit-checkpoint_112020_2025-10-01.json").read_text())
    assert r.json() == on_disk
    assert client.get("/audit/checkpoints/2025-10-02").status_code == 404


def test_anomaly_links_open_exactly_its_entries(client, make_staff, db):
    sunday = write_at(db, jst_at(SUNDAY, 14), STAFF, atena_no="1001", n=2)
    write_at(db, jst_at(date(2025, 11, 10), 10), STAFF, atena_no="1001")  # Monday, business hours
    login(client, make_staff("auditor"))
    last_month_end = today_jst().replace(day=1) - timedelta(days=1)
    first = client.get("/audit/anomalies").text  # a first visit proposes last month
    assert f'value="{last_month_end.replace(day=1).isoformat()}"' in first and f'value="{last_month_end}"' in first
    page = client.get("/audit/anomalies", params={"from": "2025-11-09", "to": "2025-11-10"})
    assert page.status_code == 200 and "日曜日" in page.text
    links = re.findall(r'href="(/audit/entries\?[^"]+)"', page.text)
    assert len(links) == 1
    listed = client.get(html.unescape(links[0]))
    assert sorted(int(s) for s in re.findall(r'id="seq-(\d+)"', listed.text)) == sunday
    bad = client.get("/audit/anomalies", params={"from": "2025-11-10", "to": "2025-11-01"})
    assert bad.status_code == 400 and "より後" in bad.text


def audit_checkpoint_day(db, settings) -> str:
    """A signed checkpoint to download (tests/web/test_permissions.py)."""
    return create_checkpoints(db, settings, actor=ADMIN, day=date(2026, 1, 1)).created[0].day.isoformat()
