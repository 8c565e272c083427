"""Linkage pages: a clerk prepares 副本, a second clerk checks them on the page (which files the
approval request), a supervisor approves on the approvals page; the preparer gets no check button;
a person's 情報照会 is filed for a supervisor's approval and sent only once another supervisor
approves it."""
from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from sesshu.linkage.models import LinkageExchange, LinkageInquiry, ProvisionBatch
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


def _sent(db) -> tuple[list, list]:
    """What the city has sent or recorded: inquiries and 情報提供等記録."""
    with db.transaction() as s:
        return (s.execute(select(LinkageInquiry.status)).scalars().all(),
                s.execute(select(LinkageExchange.outcome)).scalars().all())


def test_an_inquiry_waits_for_a_supervisor_who_is_not_the_requester(app, client, db, make_staff, persons):
    """III-6: "上長の承認を得た上で情報照会・入手を行う". The page files the content; nothing is sent
    until another supervisor approves; the requester cannot approve their own; the approver reads what
    is asked in plain Japanese; the approval makes the inquiry ready for the sender (linkage serve)."""
    csrf = login(client, make_staff("supervisor", login_id="asking-boss"))
    atena = persons["plain"]
    assert f'href="/persons/{atena}/linkage"' in client.get(f"/persons/{atena}").text
    assert "照会を申請する" in client.get(f"/persons/{atena}/linkage").text
    r = client.post(f"/persons/{atena}/linkage/inquire", data={"csrf_token": csrf, "provider": "１１２０８９",
                                                                 "purpose": "転入者の接種履歴の確認"})
    assert r.status_code == 303
    approval_id = int(re.fullmatch(r"/approvals/(\d+)\?notice=requested", r.headers["location"]).group(1))
    assert _sent(db) == ([], [])  # requested: nothing sent, nothing recorded as sent
    r = client.post(f"/approvals/{approval_id}/approve", data={"csrf_token": csrf, "expected_version": "1"})
    assert r.status_code == 403 and "ご自身の申請は承認・却下できません" in r.text
    assert _sent(db) == ([], [])

    with TestClient(app, follow_redirects=False) as boss:
        boss_csrf = login(boss, make_staff("supervisor", login_id="deciding-boss"))
        detail = boss.get(f"/approvals/{approval_id}").text
        for text in ("情報照会（中間サーバー）", f"宛名番号 {atena}", "団体コード 112089",
                     "新型インフルエンザ等対策特別措置法による予防接種の実施に関する情報",
                     "別表第二 115の2の項", "転入者の接種履歴の確認"):
            assert text in detail, text
        r = boss.post(f"/approvals/{approval_id}/approve", data={"csrf_token": boss_csrf, "expected_version": "1"})
        assert r.headers["location"] == f"/approvals/{approval_id}?notice=approved"
    statuses, exchanges = _sent(db)
    assert statuses == ["approved"] and exchanges == []  # approved: the sender hands it to the hub next
    page = client.get(f"/persons/{atena}/linkage").text
    assert "承認済み・送信待ち" in page

    r = client.post(f"/persons/{atena}/linkage/inquire", data={"csrf_token": csrf, "provider": "abc",
                                                                 "purpose": "確認"})
    assert r.status_code == 400 and "6桁の数字" in r.text
    r = client.post(f"/persons/{atena}/linkage/inquire", data={"csrf_token": csrf, "provider": "112089",
                                                                 "purpose": " "})
    assert r.status_code == 400 and "照会の目的" in r.text


def test_a_rejected_inquiry_sends_nothing(app, client, db, make_staff, persons):
    csrf = login(client, make_staff("clerk"))
    atena = persons["plain"]
    r = client.post(f"/persons/{atena}/linkage/inquire", data={"csrf_token": csrf, "provider": "112089",
                                                                 "purpose": "転入者の接種履歴の確認"})
    approval_id = int(re.fullmatch(r"/approvals/(\d+)\?notice=requested", r.headers["location"]).group(1))
    r = client.post(f"/persons/{atena}/linkage/inquire", data={"csrf_token": csrf, "provider": "112089",
                                                                 "purpose": "同じ内容"})
    assert r.status_code == 409 and f"申請番号 {approval_id}" in r.text  # one pending request per content
    with TestClient(app, follow_redirects=False) as boss:
        boss_csrf = login(boss, make_staff("supervisor"))
        r = boss.post(f"/approvals/{approval_id}/reject", data={"csrf_token": boss_csrf, "expected_version": "1",
                                                                "comment": "照会先が転出元ではありません"})
        assert r.status_code == 303
    assert _sent(db) == ([], [])
    assert "照会はありません" in client.get(f"/persons/{atena}/linkage").text


def test_security_officer_sees_no_linkage_menu(client, make_staff):
    login(client, make_staff("security_officer"))
    assert 'href="/linkage"' not in client.get("/").text
    assert client.get("/linkage").status_code == 403
