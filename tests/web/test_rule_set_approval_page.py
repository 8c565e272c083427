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


def test_a_supervisor_uploads_checks_and_proposes_a_rule_file_on_the_web(app, client, db, settings, make_staff):
    """/rulesets: a bad file gets its line-numbered Japanese errors and changes nothing; a good one shows the
    preview, and submitting it with a reason files the approval request (the same service as the CLI)."""
    import re

    csrf = login(client, make_staff("supervisor", "boss-a"))
    good = (PANDEMIC_DIR / "covid-2021.yaml").read_text(encoding="utf-8")
    bad = good.replace("days: 18}", "dayz: 18}")
    r = client.post("/rulesets/check", data={"csrf_token": csrf},
                    files={"file": ("bad.yaml", bad.encode("utf-8"), "application/x-yaml")})
    assert r.status_code == 422 and "行目" in r.text and "dayz" in r.text and "何も変更していません" in r.text

    r = client.post("/rulesets/check", data={"csrf_token": csrf},
                    files={"file": ("covid-2021.yaml", good.replace("\n", "\r\n").encode("utf-8"), "application/x-yaml")})
    assert r.status_code == 200 and "検証OK" in r.text and "covid-2021 第1版" in r.text and "適用を申請する" in r.text
    sha = re.search(r'name="sha256" value="([0-9a-f]{64})"', r.text)[1]
    text_ = good  # what the browser posts back from the hidden field (LF line ends)
    r = client.post("/rulesets/propose", data={"csrf_token": csrf, "text": text_, "sha256": sha, "reason": ""})
    assert r.status_code == 400 and "申請理由" in r.text
    r = client.post("/rulesets/propose", data={"csrf_token": csrf, "text": text_.replace("2277", "9999"),
                                               "sha256": sha, "reason": "x"})
    assert r.status_code == 409 and "一致しません" in r.text
    with db.transaction() as s:
        assert s.execute(text("SELECT count(*) FROM rule_set")).scalar_one() == 0
    r = client.post("/rulesets/propose", data={"csrf_token": csrf, "text": text_, "sha256": sha,
                                               "reason": "厚生労働大臣の指示（再現）"})
    assert r.status_code == 303 and r.headers["location"] == "/rulesets?notice=proposed"
    page = client.get(r.headers["location"]).text
    assert "申請しました" in page and "covid-2021" in page and "承認待ち" in page
    with db.transaction() as s:
        row = s.execute(text("SELECT status, sha256, proposed_by FROM rule_set")).one()
    assert (row.status, row.sha256, row.proposed_by) == ("proposed", sha, "boss-a")


def test_a_clerk_cannot_open_the_rule_file_page(client, make_staff):
    login(client, make_staff("clerk", "clerk-a"))
    assert client.get("/rulesets").status_code == 403


def test_campaign_pages_show_no_reviewers_check_markers(app, client, db, settings, make_staff):
    """Open questions in the shipped campaign files are written for the supervisors who read them on /rulesets
    (【要確認】 with what was found), never as the developers' `[check]` markers; the pages that show a campaign
    (its check preview and text, the versions list, the approval, the counts) render clean."""
    csrf = login(client, make_staff("supervisor", "boss-a"))
    for name in ("covid-2021.yaml", "covid-2021-v2.yaml", "example-tokutei.yaml", "example.yaml"):
        text_ = (PANDEMIC_DIR / name).read_text(encoding="utf-8")
        assert "[check" not in text_, name
        r = client.post("/rulesets/check", data={"csrf_token": csrf},
                        files={"file": (name, text_.encode("utf-8"), "application/x-yaml")})
        assert r.status_code == 200 and "検証OK" in r.text, name
        assert "[check" not in r.text, name
    with db.transaction() as s:
        uid = s.execute(text("SELECT id FROM staff_user WHERE login_id = 'boss-a'")).scalar_one()
    row = rulesets.propose(db, settings, actor=Actor(login_id="boss-a", kind="user", role="supervisor", user_id=uid),
                           raw=(PANDEMIC_DIR / "example-tokutei.yaml").read_bytes(), reason="仮想例")
    for page in ("/rulesets", f"/approvals/{row.approval_id}", "/counts?from=2027-11-01&to=2027-11-30"):
        r = client.get(page)
        assert r.status_code == 200 and "[check" not in r.text, page
