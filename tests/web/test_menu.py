"""Menus show only what the role may open (issue 22 item 10): every link of every role answers 200."""
from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from sesshu.access import service as access
from sesshu.auth.permissions import ROLES
from sesshu.web.menu import MENU, menu_for
from tests.web.conftest import ADMIN, login

LINK = re.compile(r'<a href="(/[^"#?]*)"')


def _links(html: str, start: str, end: str) -> set[str]:
    part = html[html.index(start):html.index(end, html.index(start))]
    return set(LINK.findall(part))


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_menu_link_of_every_role_opens(role, app, db, make_staff, persons):
    staff = make_staff(role)
    with TestClient(app, follow_redirects=False) as client:
        login(client, staff)
        home = client.get("/")
        assert home.status_code == 200 and "準備中" not in home.text
        nav = _links(home.text, '<nav class="menu"', "</nav>")
        tiles = _links(home.text, '<ul class="tiles">', "</ul>")
        assert nav and nav <= tiles | {"/"}, (nav, tiles)
        for path in sorted(nav | tiles):
            r = client.get(path)
            assert r.status_code == 200, f"{role}: {path} answered {r.status_code}"
        assert {m.path for m in menu_for(role)} <= nav | tiles  # items needing no 事務 are always offered


def test_relief_is_offered_only_to_staff_of_the_relief_task(app, db, make_staff, persons):
    with TestClient(app, follow_redirects=False) as client:
        login(client, make_staff("clerk"))
        assert 'href="/relief"' not in client.get("/").text  # relief.manage, but not on the relief 事務
    staff = make_staff("clerk", login_id="kyusai-9")
    access.assign(db, actor=ADMIN, login_id=staff.login_id, task_code="kenko_higai_kyusai", department="健康づくり課")
    with TestClient(app, follow_redirects=False) as client:
        login(client, staff)
        assert 'href="/relief"' in client.get("/").text
        assert client.get("/relief").status_code == 200


def test_the_billing_home_offers_billing(app, db, make_staff):
    with TestClient(app, follow_redirects=False) as client:
        login(client, make_staff("billing"))
        home = client.get("/").text
    assert 'href="/billing"' in home and "委託料の支払い" in home and "準備中" not in home


def test_every_menu_item_names_a_known_permission():
    from sesshu.auth.permissions import PERMISSIONS
    assert all(m.permission in PERMISSIONS for m in MENU)


def test_the_supervisors_home_counts_the_requests_waiting_for_a_decision(app, db, settings, make_staff, persons):
    from sesshu.actor import Actor
    from sesshu.approvals.service import request_approval
    clerk = make_staff("clerk")
    with TestClient(app, follow_redirects=False) as client:
        login(client, clerk)
        uid = client.get("/")  # signed in: the clerk exists with an id
    from sqlalchemy import select
    from sesshu.auth.models import StaffUser
    with db.transaction() as s:
        user_id = s.execute(select(StaffUser.id).where(StaffUser.login_id == clerk.login_id)).scalar_one()
    request_approval(db, settings, actor=Actor(login_id=clerk.login_id, kind="user", role="clerk", user_id=user_id),
                     kind="non_resident_registration", reason="里帰り出産",
                     raw={"name": "里帰　さくら", "name_kana": "サトガエリ　サクラ", "sex": "F",
                          "birth_date": "2023-05-05", "address": "東京都千代田区1-1"})
    with TestClient(app, follow_redirects=False) as client:
        login(client, make_staff("supervisor"))
        assert "承認待ち 1件" in client.get("/").text
    assert uid.status_code == 200
