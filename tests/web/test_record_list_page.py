"""The record list (/records): 判定・エラーコード・接種区分・請求月・Lot No・ワクチン・接種日 filters (issue 22 item 2)."""
from __future__ import annotations

import json
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import select

from sesshu.access import service as access
from sesshu.access.models import StaffAssignment
from sesshu.audit.models import AuditEntry
from sesshu.auth.models import StaffUser
from tests.web.conftest import ADMIN, add_record, login


def _rows(html: str) -> int:
    return html.count('<tr class="verdict-')


def _records(db, persons):
    a = add_record(db, persons["plain"], "MR", date(2021, 4, 10), lot_no="LOT-A", billing_month="2021-04")
    b = add_record(db, persons["plain"], "HIB", date(2020, 6, 1), lot_no="LOT-B", billing_month="2020-06")
    c = add_record(db, persons["hostile"], "MR", date(2021, 6, 1), lot_no="LOT-A", billing_month="2021-06",
                   error_code="E_INTERVAL_TOO_SHORT")
    d = add_record(db, persons["hostile"], "VAR", date(2021, 7, 1), category="voluntary",
                   error_code="W_OUTSIDE_LEGAL_WINDOW")
    return a, b, c, d


def test_filters_find_the_records_a_lot_recall_or_a_refusal_needs(client, db, make_staff, persons):
    _records(db, persons)
    login(client, make_staff("clerk"))
    assert client.get("/records").status_code == 200  # the empty form
    lot = client.get("/records?lot_no=LOT-A").text
    assert _rows(lot) == 2 and "2件" in lot
    assert _rows(client.get("/records?lot_no=LOT-A&vaccinated_from=R3.5.1").text) == 1
    assert _rows(client.get("/records?vaccinated_from=2020-01-01&vaccinated_to=令和2年12月31日").text) == 1
    assert _rows(client.get("/records?billing_month=R3.4").text) == 1
    assert _rows(client.get("/records?billing_month=令和3年6月").text) == 1
    assert _rows(client.get("/records?billing_month=２０２１－０６").text) == 1
    invalid = client.get("/records?verdict=invalid").text
    assert _rows(invalid) == 1 and "E_INTERVAL_TOO_SHORT" in invalid and "接種間隔が不足しています" in invalid
    assert _rows(client.get("/records?verdict=voluntary").text) == 1
    assert _rows(client.get("/records?verdict=valid").text) == 2
    assert _rows(client.get("/records?code=e_interval_too_short").text) == 1
    assert _rows(client.get("/records?code=E_INTERVAL").text) == 0  # a whole code, not a prefix
    assert _rows(client.get("/records?category=voluntary").text) == 1
    assert _rows(client.get("/records?billing=not_billable").text) == 1
    assert _rows(client.get("/records?vaccine=MR").text) == 2
    bad = client.get("/records?billing_month=R3.13")
    assert bad.status_code == 400 and "請求月" in bad.text
    with db.transaction() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "record.list")
                          .order_by(AuditEntry.seq.desc())).scalars().first()
    assert entry is not None and json.loads(entry.detail)["criteria"] == {"vaccine": "MR"}


def test_the_list_is_paginated(client, db, make_staff, persons):
    for day in range(1, 106):
        add_record(db, persons["plain"], "MR", date(2021, 1, 1).fromordinal(date(2021, 1, 1).toordinal() + day),
                   lot_no="LOT-P")
    login(client, make_staff("clerk"))
    first = client.get("/records?lot_no=LOT-P").text
    assert _rows(first) == 100 and "105件" in first and "（1 / 2ページ）" in first and 'rel="next"' in first
    assert _rows(client.get("/records?lot_no=LOT-P&page=2").text) == 5


def test_the_list_shows_only_persons_of_the_users_tasks(app, db, make_staff, persons):
    _records(db, persons)
    staff = make_staff("clerk", login_id="kyusai-2")
    with db.transaction() as s:
        uid = s.execute(select(StaffUser.id).where(StaffUser.login_id == staff.login_id)).scalar_one()
        s.execute(StaffAssignment.__table__.delete().where(StaffAssignment.user_id == uid))
    access.assign(db, actor=ADMIN, login_id=staff.login_id, task_code="kenko_higai_kyusai", department="健康づくり課")
    with db.transaction() as s:
        access.link_person_in(s, ADMIN, atena_no=persons["plain"], task_code="kenko_higai_kyusai")
    with TestClient(app, follow_redirects=False) as client:
        login(client, staff)
        page = client.get("/records?lot_no=LOT-A").text
    assert _rows(page) == 1 and persons["hostile"] not in page
