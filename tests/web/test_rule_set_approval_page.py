"""A campaign proposed by one supervisor is decided on /approvals by another: the page shows what will
be activated (kind, name, version, date, SHA-256) and approving it puts the campaign in force."""
from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from sesshu.actor import Actor
from sesshu.domain.schedule import PANDEMIC_DIR
from sesshu.rulesets import service as rulesets
from sesshu.rulesets.models import RuleSetVersion
from tests.web.conftest import login


def test_second_supervisor_activates_a_campaign_on_the_approvals_page(app, client, db, settings, make_staff):
    proposer = make_staff("supervisor", "boss-a")
    with db.transaction() as s:
        uid = s.execute(text("SELECT id FROM staff_user WHERE login_id = 'boss-a'")).scalar_one()
    actor = Actor(login_id="boss-a", kind="user", role="supervisor", user_id=uid)
    row = rulesets.propose(db, settings, actor=actor, raw=(PANDEMIC_DIR / "covid-2021.yaml").read_bytes(),
                           reason="厚生労働大臣の指示（再現）")
    login(client, proposer)
    own = client.get(f"/approvals/{row.approval_id}").text
    assert "covid-2021" in own and "承認する" not in own  # the proposer cannot decide it

    with TestClient(app, follow_redirects=False) as boss:
        boss_csrf = login(boss, make_staff("supervisor", "boss-b"))
        listing = boss.get("/approvals").text
        assert "covid-2021 第1版（2021-02-17から）" in listing
        detail = boss.get(f"/approvals/{row.approval_id}").text
        assert "承認する" in detail and row.sha256[:16] in detail and "2021-02-17" in detail
        assert "判定が変わる記録 0 件" in detail
        r = boss.post(f"/approvals/{row.approval_id}/approve", data={"csrf_token": boss_csrf, "expected_version": "1"})
        assert r.status_code == 303
    with db.transaction() as s:
        assert s.get(RuleSetVersion, row.id).status == "active"
