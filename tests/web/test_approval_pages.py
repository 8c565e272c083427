"""Approval pages and API: a clerk requests, a supervisor approves; the requester never gets an approve
button and a forged approve is refused with 403 and put on record."""
from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sesshu.approvals.models import ApprovalRequest
from sesshu.audit.models import AuditEntry
from sesshu.ledger.models import VaccinationRecord
from sesshu.registry.models import Person
from tests.helpers import my_number
from tests.web.conftest import add_record, login, record_version

NUMBER = my_number("55566677788")
FORM = {"name": "熊谷 花子", "name_kana": "くまがや はなこ", "sex": "F", "birth_date": "令和2年6月15日",
        "postal_code": "360-0042", "address": "さいたま市浦和区高砂3-15-1", "phone": "", "my_number": NUMBER,
        "reason": "市外在住者の予診票の受付"}


def _id(response) -> int:
    m = re.fullmatch(r"/approvals/(\d+)\?notice=requested", response.headers["location"])
    assert m, response.headers.get("location")
    return int(m.group(1))


def _version(db, approval_id: int) -> int:
    with db.transaction() as s:
        return s.get(ApprovalRequest, approval_id).version


def _audit(db, action: str) -> list[AuditEntry]:
    with db.transaction() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def _non_residents(db) -> int:
    with db.transaction() as s:
        return s.execute(select(func.count()).select_from(Person).where(
            Person.registry_status == "non_resident")).scalar_one()


def test_clerk_requests_a_non_resident_and_a_supervisor_approves_it(app, client, db, make_staff):
    csrf = login(client, make_staff("clerk"))
    form_page = client.get("/persons/new")
    assert form_page.status_code == 200 and "住登外者の登録申請" in form_page.text
    r = client.post("/persons/new", data={**FORM, "csrf_token": csrf})
    assert r.status_code == 303
    approval_id = _id(r)
    mine = client.get(r.headers["location"])
    assert "申請しました" in mine.text and "承認する" not in mine.text and "取り下げる" in mine.text
    assert _non_residents(db) == 0

    with TestClient(app, follow_redirects=False) as boss:
        boss_csrf = login(boss, make_staff("supervisor"))
        listing = boss.get("/approvals").text
        assert f'href="/approvals/{approval_id}"' in listing and "住登外者の登録（2020年生・女）" in listing
        assert "花子" not in listing and "ハナコ" not in listing  # the list carries no names
        detail = boss.get(f"/approvals/{approval_id}").text
        assert "熊谷　花子" in detail and "********" + NUMBER[-4:] in detail and NUMBER not in detail
        assert "承認する" in detail
        r = boss.post(f"/approvals/{approval_id}/approve",
                      data={"csrf_token": boss_csrf, "expected_version": str(_version(db, approval_id))})
        assert r.status_code == 303 and r.headers["location"] == f"/approvals/{approval_id}?notice=approved"
        done = boss.get(r.headers["location"]).text
        assert "承認し、内容を反映しました" in done and 'href="/persons/900000000000001"' in done
        person = boss.get("/persons/900000000000001").text
        assert "熊谷　花子" in person and "住登外" in person
    assert _non_residents(db) == 1


def test_requester_sees_no_approve_button_and_a_forged_post_is_refused_and_recorded(client, db, make_staff):
    csrf = login(client, make_staff("supervisor"))
    approval_id = _id(client.post("/persons/new", data={**FORM, "csrf_token": csrf}))
    page = client.get(f"/approvals/{approval_id}").text
    assert "承認する" not in page and "却下する" not in page and "ご自身の申請は承認・却下できません" in page
    for action in ("approve", "reject"):
        r = client.post(f"/approvals/{approval_id}/{action}",
                        data={"csrf_token": csrf, "expected_version": "1", "comment": "自分で決める"})
        assert r.status_code == 403 and "ご自身の申請" in r.text
    refusals = _audit(db, "approval.decision_refused")
    assert len(refusals) == 2 and all(e.actor == "supervisor-1" for e in refusals)
    assert _non_residents(db) == 0 and _version(db, approval_id) == 1


def test_self_approval_through_the_api_is_refused_and_another_user_may_approve(app, client, db, make_staff):
    csrf = login(client, make_staff("supervisor"))
    approval_id = _id(client.post("/persons/new", data={**FORM, "csrf_token": csrf}))
    r = client.post(f"/api/v1/approvals/{approval_id}/approve", json={"expected_version": 1},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and r.json()["error"]["code"] == "E_FORBIDDEN"
    assert _non_residents(db) == 0
    with TestClient(app, follow_redirects=False) as other:
        other_csrf = login(other, make_staff("supervisor", login_id="supervisor-2"))
        body = other.get(f"/api/v1/approvals/{approval_id}").json()
        assert body["may_decide"] is True and body["approval"]["status"] == "requested"
        r = other.post(f"/api/v1/approvals/{approval_id}/approve", json={"expected_version": 1},
                       headers={"X-CSRF-Token": other_csrf})
        assert r.status_code == 200 and r.json()["status"] == "approved"
        again = other.post(f"/api/v1/approvals/{approval_id}/approve", json={"expected_version": 2},
                           headers={"X-CSRF-Token": other_csrf})
        assert again.status_code == 409
    assert _non_residents(db) == 1


def test_clerk_cannot_approve_and_sees_only_own_requests(app, client, db, make_staff):
    csrf = login(client, make_staff("clerk"))
    with TestClient(app, follow_redirects=False) as boss:
        boss_csrf = login(boss, make_staff("supervisor"))
        foreign = _id(boss.post("/persons/new", data={**FORM, "csrf_token": boss_csrf}))
    r = client.post(f"/approvals/{foreign}/approve", data={"csrf_token": csrf, "expected_version": "1"})
    assert r.status_code == 403 and "権限がありません" in r.text
    assert client.get(f"/approvals/{foreign}").status_code == 404
    assert f"/approvals/{foreign}" not in client.get("/approvals").text
    assert client.get("/api/v1/approvals").json() == []
    assert _non_residents(db) == 0


def test_rejection_needs_a_reason_and_creates_nobody(app, client, db, make_staff):
    csrf = login(client, make_staff("clerk"))
    approval_id = _id(client.post("/persons/new", data={**FORM, "csrf_token": csrf}))
    with TestClient(app, follow_redirects=False) as boss:
        boss_csrf = login(boss, make_staff("supervisor"))
        r = boss.post(f"/approvals/{approval_id}/reject", data={"csrf_token": boss_csrf, "expected_version": "1"})
        assert r.status_code == 400 and "却下の理由を入力してください" in r.text
        assert "申請 %d" % approval_id in r.text and "承認する" in r.text  # the same page, not an error page
        r = boss.post(f"/approvals/{approval_id}/reject",
                      data={"csrf_token": boss_csrf, "expected_version": "1", "comment": "書類不備"})
        assert r.headers["location"] == f"/approvals/{approval_id}?notice=rejected"
    page = client.get(f"/approvals/{approval_id}").text
    assert "却下" in page and "書類不備" in page and "取り下げる" not in page
    assert _non_residents(db) == 0


def test_requester_withdraws_a_pending_request(client, db, make_staff):
    csrf = login(client, make_staff("clerk"))
    approval_id = _id(client.post("/persons/new", data={**FORM, "csrf_token": csrf}))
    r = client.post(f"/approvals/{approval_id}/withdraw", data={"csrf_token": csrf, "expected_version": "1"})
    assert r.headers["location"] == f"/approvals/{approval_id}?notice=withdrawn"
    assert "申請を取り下げました" in client.get(r.headers["location"]).text
    assert len(_audit(db, "approval.withdraw")) == 1


def test_form_errors_come_back_in_japanese_without_echoing_the_my_number(client, make_staff, persons):
    csrf = login(client, make_staff("clerk"))
    bad = client.post("/persons/new", data={**FORM, "csrf_token": csrf, "birth_date": "2020-13-01"})
    assert bad.status_code == 400 and "生年月日" in bad.text and NUMBER not in bad.text
    assert 'value="熊谷 花子"' in bad.text  # the rest of the form is kept
    # 山田 太郎 (ヤマダ タロウ, 男, 2020-04-01) is already registered: warn, and let the clerk confirm.
    same = {**FORM, "name": "山田 太郎", "name_kana": "ヤマダ タロウ", "sex": "M", "birth_date": "2020-04-01",
            "my_number": "", "csrf_token": csrf}
    warned = client.post("/persons/new", data=same)
    assert warned.status_code == 400 and 'href="/persons/1001"' in warned.text and "distinct_confirmed" in warned.text
    ok = client.post("/persons/new", data={**same, "acknowledged": "1001", "distinct_confirmed": "1"})
    assert ok.status_code == 303
    # The same 個人番号 as a registered person: refused outright.
    taken = client.post("/persons/new", data={**FORM, "csrf_token": csrf, "name_kana": "ベツ",
                                              "my_number": my_number("12345678901")})
    assert taken.status_code == 400 and "1001" in taken.text


def test_moving_a_record_is_requested_on_the_record_page_and_applied_on_approval(app, client, db, make_staff,
                                                                                 persons):
    rid = add_record(db, persons["plain"])
    csrf = login(client, make_staff("supervisor"))
    assert f'href="/records/{rid}/edit"' in client.get(f"/persons/{persons['plain']}").text
    page = client.get(f"/records/{rid}/edit").text
    assert f'action="/records/{rid}/reassign"' in page and "別人への付け替え申請" in page
    r = client.post(f"/records/{rid}/reassign", data={"csrf_token": csrf, "atena_no": persons["plain"],
                                                      "expected_version": str(record_version(db, rid)),
                                                      "to_atena_no": persons["hostile"], "reason": "宛名番号の誤記"})
    approval_id = _id(r)
    with TestClient(app, follow_redirects=False) as other:
        other_csrf = login(other, make_staff("supervisor", login_id="supervisor-2"))
        r = other.post(f"/approvals/{approval_id}/approve", data={"csrf_token": other_csrf, "expected_version": "1"})
        assert r.headers["location"] == f"/approvals/{approval_id}?notice=approved"
    with db.transaction() as s:
        assert s.get(VaccinationRecord, rid).atena_no == persons["hostile"]


def test_clerk_sees_no_move_form_and_cannot_post_one(client, db, make_staff, persons):
    rid = add_record(db, persons["plain"])
    csrf = login(client, make_staff("clerk"))
    assert "reassign" not in client.get(f"/persons/{persons['plain']}").text
    r = client.post(f"/records/{rid}/reassign", data={"csrf_token": csrf, "atena_no": persons["plain"],
                                                      "expected_version": "1", "to_atena_no": persons["hostile"],
                                                      "reason": "誤記"})
    assert r.status_code == 403
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(ApprovalRequest)).scalar_one() == 0


def test_failed_approval_shows_why_on_the_request_page(app, client, db, make_staff, persons):
    rid = add_record(db, persons["plain"])
    csrf = login(client, make_staff("supervisor"))
    approval_id = _id(client.post(f"/records/{rid}/reassign", data={
        "csrf_token": csrf, "atena_no": persons["plain"], "expected_version": "1",
        "to_atena_no": persons["hostile"], "reason": "宛名番号の誤記"}))
    with db.transaction() as s:
        s.get(VaccinationRecord, rid).remarks = "後から修正"
    with TestClient(app, follow_redirects=False) as other:
        other_csrf = login(other, make_staff("supervisor", login_id="supervisor-2"))
        r = other.post(f"/approvals/{approval_id}/approve", data={"csrf_token": other_csrf, "expected_version": "1"})
        assert r.headers["location"] == f"/approvals/{approval_id}"
        page = other.get(r.headers["location"]).text
        assert "処理不能" in page and "申請後に更新されています" in page
    with db.transaction() as s:
        assert s.get(VaccinationRecord, rid).atena_no == persons["plain"]
