"""団体内統合宛名のアクセス制御: staff see a person's 特定個人情報 only through a 事務 they are assigned to.

A person outside the user's 事務 is answered exactly like a person who does not exist (no probing
by 宛名番号), nothing changes, and the refusal is on the audit log.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text, update

from sesshu.access import service as access
from sesshu.access.models import StaffAssignment
from sesshu.audit.models import AuditEntry
from sesshu.auth.models import StaffUser
from sesshu.clock import today_jst
from sesshu.ledger.models import VaccinationRecord
from tests.web.conftest import ADMIN, add_record, login


def _audit(db, action: str) -> list[AuditEntry]:
    with db.transaction() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action)
                              .order_by(AuditEntry.seq)).scalars())


def _user_id(db, login_id: str) -> int:
    with db.transaction() as s:
        return s.execute(select(StaffUser.id).where(StaffUser.login_id == login_id)).scalar_one()


def _clear_tasks(db, login_id: str) -> None:
    with db.transaction() as s:
        s.execute(StaffAssignment.__table__.delete().where(StaffAssignment.user_id == _user_id(db, login_id)))


def _only_relief(db, login_id: str) -> None:
    """Re-bind the account to the injury-relief task only (population: linked persons)."""
    _clear_tasks(db, login_id)
    access.assign(db, actor=ADMIN, login_id=login_id, task_code="kenko_higai_kyusai", department="健康づくり課")


@pytest.fixture
def relief_clerk(app, db, make_staff, persons):
    staff = make_staff("supervisor", login_id="kyusai-1")  # supervisor: may also correct and export
    _only_relief(db, staff.login_id)
    with db.transaction() as s:  # one claimant: the 1001 person
        access.link_person_in(s, ADMIN, atena_no=persons["plain"], task_code="kenko_higai_kyusai")
    client = TestClient(app, follow_redirects=False)
    csrf = login(client, staff)
    yield client, csrf
    client.close()


def test_outside_scope_looks_exactly_like_a_missing_person(relief_clerk, persons, db):
    client, _ = relief_clerk
    assert client.get(f"/persons/{persons['plain']}").status_code == 200  # linked claimant: visible
    hidden = client.get(f"/persons/{persons['hostile']}")
    missing = client.get("/persons/999999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace(persons["hostile"], "X") == missing.text.replace("999999", "X")
    assert "アクイ" not in hidden.text
    api_hidden = client.get(f"/api/v1/persons/{persons['hostile']}")
    assert api_hidden.status_code == 404 and api_hidden.json()["error"]["code"] == "E_NOT_FOUND"
    refused = _audit(db, "access.out_of_scope")
    assert [e.atena_no for e in refused] == [persons["hostile"], persons["hostile"]]
    assert not [e for e in _audit(db, "person.view") if e.atena_no == persons["hostile"]]


def test_search_and_export_return_only_persons_of_the_users_tasks(relief_clerk, persons, db):
    client, csrf = relief_clerk
    page = client.get("/search", params={"birth_from": "2000-01-01"})
    assert page.status_code == 200
    assert "山田" in page.text and "アクイ" not in page.text
    api = client.get("/api/v1/persons", params={"birth_from": "2000-01-01"}).json()
    assert [r["atena_no"] for r in api["rows"]] == [persons["plain"]] and api["total"] == 1


def test_records_of_a_person_outside_scope_cannot_be_read_or_changed(relief_clerk, persons, db):
    client, csrf = relief_clerk
    rec = add_record(db, persons["hostile"])
    assert client.get(f"/records/{rec}/history").status_code == 404
    r = client.post(f"/records/{rec}/correct", data={"csrf_token": csrf, "atena_no": persons["hostile"],
                                                     "expected_version": "1", "reason": "試行", "lot_no": "ZZ9"})
    assert r.status_code == 404
    r = client.post(f"/api/v1/records/{rec}/void", json={"expected_version": 1, "reason": "試行"},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 404
    with db.transaction() as s:
        row = s.get(VaccinationRecord, rec)
        assert (row.lot_no, row.status, row.version) == ("AB123", "active", 1)
    assert {e.detail for e in _audit(db, "access.out_of_scope")} and \
        all(f'"record_id": {rec}' in e.detail for e in _audit(db, "access.out_of_scope"))


def test_staff_without_any_task_see_nobody(app, db, make_staff, persons):
    staff = make_staff("clerk", login_id="no-task")
    _clear_tasks(db, staff.login_id)
    with TestClient(app, follow_redirects=False) as client:
        login(client, staff)
        r = client.get("/search", params={"kana": "ヤマダ"})
        assert r.status_code == 403 and "事務の担当に割り当てられていない" in r.text
        assert "山田" not in r.text
        assert client.get(f"/persons/{persons['plain']}").status_code == 404
        assert client.get("/api/v1/persons", params={"kana": "ヤマダ"}).status_code == 403
    assert len(_audit(db, "access.no_task")) == 2
    assert [e.atena_no for e in _audit(db, "access.out_of_scope")] == [persons["plain"]]


def test_a_lapsed_assignment_no_longer_grants_access(app, db, make_staff, persons):
    staff = make_staff("clerk", login_id="lapsed-1")
    with TestClient(app, follow_redirects=False) as client:
        login(client, staff)
        assert client.get(f"/persons/{persons['plain']}").status_code == 200
        with db.transaction() as s:  # the assignment ran until yesterday
            s.execute(update(StaffAssignment).where(StaffAssignment.user_id == _user_id(db, staff.login_id))
                      .values(valid_until=today_jst() - timedelta(days=1)))
        assert client.get(f"/persons/{persons['plain']}").status_code == 404


def test_security_officer_assigns_and_unassigns_through_the_page(app, db, make_staff, persons):
    officer, clerk = make_staff("security_officer"), make_staff("clerk", login_id="new-clerk")
    _clear_tasks(db, clerk.login_id)
    with TestClient(app, follow_redirects=False) as client:
        csrf = login(client, officer)
        bad = client.post("/admin/assignments", data={"csrf_token": csrf, "login_id": clerk.login_id,
                                                      "task_code": "yobo_sesshu", "department": "税務課"})
        assert bad.status_code == 400 and "取扱部署" in bad.text
        self_assign = client.post("/admin/assignments", data={"csrf_token": csrf, "login_id": officer.login_id,
                                                              "task_code": "yobo_sesshu", "department": "健康づくり課"})
        assert self_assign.status_code == 400 and "自分自身" in self_assign.text
        ok = client.post("/admin/assignments", data={"csrf_token": csrf, "login_id": clerk.login_id,
                                                     "task_code": "yobo_sesshu", "department": "健康づくり課",
                                                     "valid_until": "R20.3.31"})
        assert ok.status_code == 303
        listing = client.get("/admin/assignments").text
        assert "new-clerk" in listing and "予防接種法による予防接種の実施に関する事務" in listing and "2038-03-31" in listing
    with db.transaction() as s:
        assert access.scope_of(s, access_actor(db, clerk.login_id)).all_persons
    with TestClient(app, follow_redirects=False) as client:
        csrf = login(client, officer)
        r = client.post("/admin/assignments/remove", data={"csrf_token": csrf, "login_id": clerk.login_id,
                                                           "task_code": "yobo_sesshu"})
        assert r.status_code == 303
    with db.transaction() as s:
        assert access.scope_of(s, access_actor(db, clerk.login_id)).empty
    assert [e.action for e in _audit(db, "access.assign")][-1:] == ["access.assign"]
    assert len(_audit(db, "access.unassign")) == 1


def access_actor(db, login_id: str):
    from sesshu.actor import Actor

    return Actor(login_id=login_id, kind="user", role="clerk", user_id=_user_id(db, login_id))


def test_the_migration_binds_existing_person_handling_staff_to_the_vaccination_task(tmp_path):
    """Accounts made before 事務 existed: clerks and supervisors keep their work, others get nothing."""
    from sesshu.config import load_settings
    from sesshu.migrate import upgrade

    settings = load_settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(settings, "0007")
    engine = create_engine(settings.resolved_database_url)
    with engine.begin() as c:
        for i, role in enumerate(("clerk", "supervisor", "security_officer", "auditor"), start=1):
            c.execute(text("INSERT INTO staff_user (id, login_id, display_name, role, password_hash, totp_last_step, "
                           "failed_logins, is_active, is_demo, created_at) VALUES (:i, :l, 'x', :r, 'h', 0, 0, 1, 0, "
                           "'2026-01-01 00:00:00')"), {"i": i, "l": f"u{i}", "r": role})
    upgrade(settings)
    with engine.connect() as c:
        rows = c.execute(text("SELECT user_id, task_code, department FROM staff_assignment ORDER BY user_id")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, "yobo_sesshu", "健康づくり課"), (2, "yobo_sesshu", "健康づくり課")]
