"""Linkage pages: a clerk prepares 副本, a second clerk checks them on the page (which files the
approval request), a supervisor approves on the approvals page; the preparer gets no check button;
a person's page lists their 情報提供等記録 and a refused inquiry says why."""
from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from sesshu.linkage.models import ProvisionBatch
from tests.web.conftest import add_record, login


def test_prepare_check_and_approve_on_the_pages(app, client, db, make_staff, persons):
    add_record(db, persons["plain"], vaccine="MR")
    csrf = login(client, make_staff("clerk"))
    r = client.post("/linkage/batches", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/linkage?notice=prepared"
    page = client.get(r.headers["location"]).text
    assert "副本の登録を作成しました" in page and "作成済み（確認待ち）" in page
    assert "内容を確認し、承認を申請する" not in page  # the preparer cannot check their own batch
    with db.transaction() as s:
        batch_id = s.execute(select(ProvisionBatch.id)).scalar_one()
    r = client.post(f"/linkage/batches/{batch_id}/check", data={"csrf_token": csrf, "expected_version": "1"})
    assert r.status_code == 403 and "副本を作成した職員は確認できません" in r.text

    with TestClient(app, follow_redirects=False) as checker:
        checker_csrf = login(checker, make_staff("clerk", login_id="clerk-2"))
        assert "内容を確認し、承認を申請する" in checker.get("/linkage").text
        r = checker.post(f"/linkage/batches/{batch_id}/check",
                         data={"csrf_token": checker_csrf, "expected_version": "1"})
        assert r.status_code == 303
        approval_id = int(re.fullmatch(r"/approvals/(\d+)\?notice=requested", r.headers["location"]).group(1))
    with TestClient(app, follow_redirects=False) as boss:
        boss_csrf = login(boss, make_staff("supervisor"))
        detail = boss.get(f"/approvals/{approval_id}").text
        assert "副本の登録（中間サーバー）" in detail and "clerk-1" in detail and "clerk-2" in detail
        r = boss.post(f"/approvals/{approval_id}/approve", data={"csrf_token": boss_csrf, "expected_version": "1"})
        assert r.headers["location"] == f"/approvals/{approval_id}?notice=approved"
        assert "承認済み（公開待ち）" in boss.get("/linkage").text


def test_person_page_links_to_linkage_and_a_refused_inquiry_says_why(client, db, make_staff, persons):
    csrf = login(client, make_staff("clerk"))
    atena = persons["plain"]
    assert f'href="/persons/{atena}/linkage"' in client.get(f"/persons/{atena}").text
    r = client.post(f"/persons/{atena}/linkage/inquire", data={"csrf_token": csrf, "provider": "112089"})
    assert r.status_code == 303 and r.headers["location"].endswith("error=unavailable")
    page = client.get(r.headers["location"]).text
    assert "中継機能に接続できないため照会できませんでした" in page and "情報提供等記録" in page
    r = client.post(f"/persons/{atena}/linkage/inquire", data={"csrf_token": csrf, "provider": "abc"})
    assert r.status_code == 400 and "6桁の数字" in r.text


def test_security_officer_sees_no_linkage_menu(client, make_staff):
    login(client, make_staff("security_officer"))
    assert 'href="/linkage"' not in client.get("/").text
    assert client.get("/linkage").status_code == 403
