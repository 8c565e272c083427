"""No unsafe request reaches a route without the session's CSRF token (or, at login, the signed pre-session one)."""
from __future__ import annotations

from collections import defaultdict

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sesshu.audit.models import AuditEntry
from sesshu.web.deps import UNSAFE_METHODS, route_table
from tests.web.conftest import PASSWORD, add_record, csrf_token, login, record_version, submit_password

PRE_SESSION = {"/login"}


def _unsafe_routes(app) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in route_table(app) if m in UNSAFE_METHODS]


def _url(path: str, ctx: dict) -> str:
    # Other path parameters (ids of passkeys, approvals…) need not exist: the token is checked first.
    return path.format_map(defaultdict(lambda: "1", atena_no=ctx["atena_no"], record_id=ctx["record_id"]))


@pytest.mark.parametrize("token", [None, "wrong-token", ""])
def test_every_unsafe_route_refuses_a_missing_or_wrong_token(token, app, client, db, make_staff, persons):
    ctx = {"atena_no": persons["plain"], "record_id": add_record(db, persons["plain"])}
    login(client, make_staff("supervisor"))
    routes = _unsafe_routes(app)
    assert ("POST", "/records/{record_id}/correct") in routes and ("POST", "/logout") in routes
    for method, path in routes:
        if path in PRE_SESSION:
            continue
        url = _url(path, ctx)
        fields = {"atena_no": ctx["atena_no"], "expected_version": "1", "reason": "CSRFの確認", "lot_no": "X1",
                  "orig_lot_no": "", "purpose": "CSRFの確認", "login_id": "x", "password": "y", "code": "123456"}
        if token is not None:
            fields["csrf_token"] = token
        headers = {"X-CSRF-Token": token} if token else {}
        as_form = client.request(method, url, data=fields)
        as_json = client.request(method, url, json={"expected_version": 1, "reason": "CSRFの確認", "changes": {}},
                                 headers=headers)
        assert as_form.status_code == 403, f"{method} {path} (form): {as_form.status_code}"
        assert as_json.status_code == 403, f"{method} {path} (json): {as_json.status_code}"
    # Nothing happened: the record is untouched and the user is still signed in.
    assert record_version(db, ctx["record_id"]) == 1
    assert client.get("/").status_code == 200


def test_login_form_needs_the_signed_pre_session_token(client, make_staff, db):
    staff = make_staff("clerk")
    page = client.get("/login")
    token = csrf_token(page.text)
    data = {"login_id": staff.login_id, "password": PASSWORD}
    with db.transaction() as s:
        before = s.execute(select(func.max(AuditEntry.seq))).scalar_one() or 0
    assert client.post("/login", data=data).status_code == 403
    assert client.post("/login", data=data | {"csrf_token": "forged"}).status_code == 403
    # A cookie the attacker planted with a value of their choosing carries no valid signature.
    client.cookies.set("sesshu_login_csrf", "forged.9999999999.abcd", path="/login")
    assert client.post("/login", data=data | {"csrf_token": "forged"}).status_code == 403
    # Without the cookie at all (another browser), the token from the page is worthless.
    client.cookies.clear()
    assert client.post("/login", data=data | {"csrf_token": token}).status_code == 403
    with db.transaction() as s:
        after = s.execute(select(AuditEntry.action, AuditEntry.detail).where(AuditEntry.seq > before)
                          .order_by(AuditEntry.seq)).all()
    # Each refusal is on record, and none of them reached the login service (no auth.login_failed etc.).
    assert [a for a, _ in after] == ["auth.csrf_failed"] * 4, after
    assert all('"path": "/login"' in d for _, d in after)


def test_login_form_with_its_token_proceeds(client, make_staff):
    staff = make_staff("clerk")
    r = submit_password(client, staff.login_id)
    assert r.status_code == 303


def test_totp_form_needs_the_session_token(client, make_staff):
    staff = make_staff("clerk")
    submit_password(client, staff.login_id)
    r = client.post("/login/totp", data={"code": staff.next_code(), "csrf_token": "wrong"})
    assert r.status_code == 403


def test_api_refuses_a_token_from_another_session(app, client, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    login(client, make_staff("supervisor"))
    with TestClient(app, follow_redirects=False) as other:
        foreign = login(other, make_staff("supervisor", login_id="supervisor-2"))
    r = client.post(f"/api/v1/records/{rec}/void", json={"expected_version": 1, "reason": "x"},
                    headers={"X-CSRF-Token": foreign})
    assert r.status_code == 403 and r.json()["error"]["code"] == "E_CSRF"


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Origin": "http://testserver.evil.example"},
                                     {"Referer": "https://evil.example/page"}])
def test_every_unsafe_route_refuses_another_origin_even_with_the_right_token(headers, app, client, db, make_staff,
                                                                            persons):
    ctx = {"atena_no": persons["plain"], "record_id": add_record(db, persons["plain"])}
    csrf = login(client, make_staff("supervisor"))
    for method, path in _unsafe_routes(app):
        url = _url(path, ctx)
        r = client.request(method, url, data={"csrf_token": csrf, "atena_no": ctx["atena_no"], "expected_version": "1",
                                              "reason": "Originの確認", "lot_no": "X1", "orig_lot_no": "",
                                              "login_id": "x", "password": "y", "code": "123456"},
                           headers={**headers, "X-CSRF-Token": csrf})
        assert r.status_code == 403, f"{method} {path}: {r.status_code}"
    assert record_version(db, ctx["record_id"]) == 1
    assert client.get("/").status_code == 200  # still signed in: /logout was refused too


def test_the_sites_own_origin_is_accepted(client, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    csrf = login(client, make_staff("supervisor"))
    r = client.post(f"/records/{rec}/correct", data={
        "csrf_token": csrf, "atena_no": persons["plain"], "expected_version": "1", "reason": "Originの確認",
        "lot_no": "SAME1", "orig_lot_no": "AB123"}, headers={"Origin": "http://testserver",
                                                            "Referer": "http://testserver/persons/1001"})
    assert r.status_code in (200, 303) and record_version(db, rec) == 2
