"""An outside probe against a running server (real uvicorn over HTTP), with every role.

Each attack must be refused, put on the audit log, and lose nothing: forged and replayed sessions,
CSRF, IDOR (other role's routes, persons outside one's 事務, guessed numbers), injection in search
fields, brute force, expired and shared accounts, export without permission, a tampered audit log
and a tampered checkpoint. The test ends by checking that the chain still verifies and that the data
the probe attacked is exactly as it was.
"""
from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from sesshu.access import service as access
from sesshu.access.models import StaffAssignment
from sesshu.audit.checkpoints import create_checkpoints, verify_log
from sesshu.audit.models import AuditEntry
from sesshu.clock import today_jst
from sesshu.ledger.models import VaccinationRecord
from sesshu.registry.models import Person
from sesshu.web.deps import SESSION_COOKIE
from tests.integration.test_audit_checkpoints import tamper
from tests.web.conftest import ADMIN, add_record, csrf_token, login, submit_password


def _client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, follow_redirects=False, timeout=30)


def _actions_since(db, seq: int) -> list[tuple[str, str | None, dict]]:
    with db.transaction() as s:
        rows = s.execute(select(AuditEntry.action, AuditEntry.atena_no, AuditEntry.detail)
                         .where(AuditEntry.seq > seq).order_by(AuditEntry.seq)).all()
    return [(a, n, json.loads(d)) for a, n, d in rows]


def _last_seq(db) -> int:
    with db.transaction() as s:
        return s.execute(select(func.max(AuditEntry.seq))).scalar_one() or 0


def _snapshot(db) -> tuple:
    with db.transaction() as s:
        persons = s.execute(select(Person.atena_no, Person.name, Person.version).order_by(Person.atena_no)).all()
        records = s.execute(select(VaccinationRecord.id, VaccinationRecord.lot_no, VaccinationRecord.status,
                                   VaccinationRecord.version).order_by(VaccinationRecord.id)).all()
    return tuple(map(tuple, persons)), tuple(map(tuple, records))


def test_probe_every_role_against_a_running_server(live_server, settings, db, make_staff, persons, backend):
    record_id = add_record(db, persons["plain"])
    staff = {role: make_staff(role) for role in ("clerk", "supervisor", "security_officer", "auditor")}
    before = _snapshot(db)
    clients = {}
    for role, member in staff.items():
        clients[role] = _client(live_server)
        clients[role].csrf = login(clients[role], member)

    # 1. Forged and replayed sessions.
    seq = _last_seq(db)
    with _client(live_server) as attacker:
        attacker.cookies.set(SESSION_COOKIE, "forged-" + "x" * 40)
        assert attacker.get(f"/persons/{persons['plain']}").headers["location"] == "/login"
        assert attacker.get("/api/v1/persons", params={"kana": "ヤ"}).status_code == 401
        stolen = clients["clerk"].cookies.get(SESSION_COOKIE)
        replay = _client(live_server)
        login(replay, staff["clerk"])  # the clerk signs in elsewhere: the first session ends (one ID, one place)
        attacker.cookies.set(SESSION_COOKIE, stolen)
        assert attacker.get(f"/api/v1/persons/{persons['plain']}").status_code == 401
        clients["clerk"].close()
        clients["clerk"], clients["clerk"].csrf = replay, csrf_token(replay.get("/").text)
    got = _actions_since(db, seq)
    assert [a for a, _, _ in got].count("auth.session_rejected") >= 3
    assert ("auth.session_replaced", None) in [(a, n) for a, n, _ in got]

    # 2. CSRF: a state change without the session's token, for every role.
    seq = _last_seq(db)
    for role, c in clients.items():
        r = c.post(f"/records/{record_id}/void", data={"atena_no": persons["plain"], "expected_version": "1",
                                                       "reason": "CSRF"})
        assert r.status_code == 403, role
        r = c.post(f"/api/v1/records/{record_id}/void", json={"expected_version": 1, "reason": "CSRF"},
                   headers={"X-CSRF-Token": "not-the-token"})
        assert r.status_code == 403, role
    assert [a for a, _, _ in _actions_since(db, seq)] == ["auth.csrf_failed"] * 8

    # 3. IDOR: routes beyond the role, persons outside the 事務, guessed numbers.
    seq = _last_seq(db)
    for role in ("security_officer", "auditor"):
        assert clients[role].get(f"/persons/{persons['plain']}").status_code == 403
        assert clients[role].get(f"/api/v1/persons/{persons['plain']}").status_code == 403
    assert clients["clerk"].post(f"/records/{record_id}/correct", data={
        "csrf_token": clients["clerk"].csrf, "atena_no": persons["plain"], "expected_version": "1",
        "reason": "x", "lot_no": "IDOR"}).status_code == 403
    with db.transaction() as s:  # the supervisor is moved to the relief task only: the claimant list is empty
        s.execute(StaffAssignment.__table__.delete())
    access.assign(db, actor=ADMIN, login_id=staff["supervisor"].login_id, task_code="kenko_higai_kyusai",
                  department="健康づくり課")
    sup = clients["supervisor"]
    for atena in (persons["plain"], persons["hostile"], "1003", "999999999999999"):
        assert sup.get(f"/persons/{atena}").status_code == 404
        assert sup.get(f"/api/v1/persons/{atena}").status_code == 404
    assert sup.post(f"/api/v1/records/{record_id}/correct", headers={"X-CSRF-Token": sup.csrf},
                    json={"expected_version": 1, "reason": "x", "changes": {"lot_no": "IDOR"}}).status_code == 404
    got = _actions_since(db, seq)
    assert sum(a == "auth.denied" for a, _, _ in got) == 5
    assert {n for a, n, _ in got if a == "access.out_of_scope"} == {persons["plain"], persons["hostile"]}
    assert not [a for a, _, _ in got if a in ("person.view", "record.correct")]
    access.assign(db, actor=ADMIN, login_id=staff["supervisor"].login_id, task_code="yobo_sesshu",
                  department="健康づくり課")
    access.assign(db, actor=ADMIN, login_id=staff["clerk"].login_id, task_code="yobo_sesshu",
                  department="健康づくり課")

    # 4. Injection in the search fields: inert, nothing widened, nothing changed.
    for value in ("' OR 1=1 --", "%", "_", "\\", "1001' OR '1'='1", "<script>alert(1)</script>", "\x00"):
        for field in ("atena_no", "kana", "name", "address", "vaccine", "institution", "birth_date"):
            r = clients["clerk"].get("/api/v1/persons", params={field: value})
            assert r.status_code in (200, 400, 422), (field, value, r.status_code)
            if r.status_code == 200:
                assert r.json()["total"] <= 1, (field, value)
            page = clients["clerk"].get("/search", params={field: value})
            assert page.status_code in (200, 400) and "<script>alert(1)</script>" not in page.text

    # 5. Export without permission; 6. with permission it is an encrypted ZIP and on record.
    seq = _last_seq(db)
    r = clients["clerk"].post("/search/export", params={"kana": "ヤ"},
                              data={"csrf_token": clients["clerk"].csrf, "purpose": "持ち出し",
                                    "password": "Export-Pass-2026", "password_confirmation": "Export-Pass-2026"})
    assert r.status_code == 403
    assert [a for a, _, _ in _actions_since(db, seq)] == ["auth.denied"]

    # 7. Brute force: the account locks, the right password no longer opens it, and it is all on record.
    seq = _last_seq(db)
    with _client(live_server) as brute:
        for i in range(6):
            r = submit_password(brute, staff["auditor"].login_id, password=f"guess-{i}-xxxxxxx")
            assert r.status_code == 400
        r = submit_password(brute, staff["auditor"].login_id)
        assert r.status_code == 400 and "location" not in r.headers
    got = [a for a, _, _ in _actions_since(db, seq)]
    assert got.count("auth.login_failed") == 7 and "auth.locked" in got

    # 8. Expired and shared/generic accounts.
    expired = make_staff("clerk", login_id="expired-1", valid_until=today_jst() - timedelta(days=1))
    seq = _last_seq(db)
    with _client(live_server) as c:
        r = submit_password(c, expired.login_id)
        assert r.status_code == 400 and SESSION_COOKIE not in r.headers.get("set-cookie", "")
    assert [d.get("reason") for a, _, d in _actions_since(db, seq) if a == "auth.login_failed"] == ["expired"]
    with pytest.raises(Exception, match="共用|共有|一般的"):
        make_staff("clerk", login_id="kyoyu")

    # 9. Nothing the probe attacked was changed, and the log verifies.
    assert _snapshot(db) == before
    assert verify_log(db, settings, actor=ADMIN).ok
    for c in clients.values():
        c.close()


def test_probe_tampered_log_and_tampered_checkpoint_are_found(live_server, settings, db, make_staff, persons, backend,
                                                              tmp_path):
    officer = make_staff("security_officer")
    clerk = make_staff("clerk")
    with _client(live_server) as c:
        login(c, clerk)
        assert c.get(f"/persons/{persons['plain']}").status_code == 200
    run = create_checkpoints(db, settings, actor=ADMIN, today=today_jst() + timedelta(days=1))
    assert run.created and run.files
    with db.transaction() as s:
        view_seq = s.execute(select(func.max(AuditEntry.seq)).where(AuditEntry.action == "person.view")).scalar_one()
    # Someone with database access hides the view of the person…
    tamper(db, backend, ("UPDATE audit_entry SET atena_no = :n WHERE seq = :s", {"n": persons["hostile"], "s": view_seq}))
    # …and edits the checkpoint file that was handed to the outside party.
    handed = run.files[0]
    doc = json.loads(handed.read_text(encoding="utf-8"))
    doc["payload"]["entry_count"] += 1
    outside = tmp_path / "handed"
    outside.mkdir()
    (outside / handed.name).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with _client(live_server) as c:
        csrf = login(c, officer)
        page = c.post("/audit/verify", data={"csrf_token": csrf})
        assert page.status_code == 200
        assert f"連番{view_seq}" in page.text and "改ざん" in page.text
    report = verify_log(db, settings, actor=ADMIN, files_dir=outside)
    assert not report.ok
    assert any(f"連番{view_seq}" in p for p in report.problems)
    assert any(handed.name in p or "署名" in p for p in report.problems)
    with db.transaction() as s:
        outcomes = [json.loads(d)["ok"] for d in s.execute(select(AuditEntry.detail)
                                                            .where(AuditEntry.action == "audit.verify")).scalars()]
    assert outcomes[-2:] == [False, False]  # both verifications, and their findings, are themselves on record
