"""Every route against every role: allowed exactly when ROLES grants the route's declared permission."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sesshu.auth.permissions import PERMISSIONS, ROLES, has_permission
from sesshu.web.deps import route_table
from tests.web.conftest import add_record, login, record_version

# Public routes: the sign-in steps and the health check.
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/login/totp"), ("POST", "/login/totp"), ("GET", "/healthz")}


def _cases(ctx: dict) -> dict:
    """One valid request per route (a new route fails the test until it is added here)."""
    atena, rec = ctx["atena_no"], ctx["record_id"]
    version = lambda: record_version(ctx["db"], rec)  # noqa: E731 — read fresh: the supervisor changes it
    form = lambda **v: {"data": {"csrf_token": ctx["csrf"], **v}}  # noqa: E731
    api = lambda body: {"json": body, "headers": {"X-CSRF-Token": ctx["csrf"]}}  # noqa: E731
    return {
        ("GET", "/"): lambda: {},
        ("GET", "/search"): lambda: {"params": {"kana": "ヤマダ"}},
        ("POST", "/search/export"): lambda: {"params": {"kana": "ヤマダ"}, **form(purpose="権限の確認")},
        ("GET", "/persons/{atena_no}"): lambda: {"path": {"atena_no": atena}},
        ("POST", "/records/{record_id}/correct"): lambda: {
            "path": {"record_id": rec},
            **form(atena_no=atena, expected_version=str(version()), reason="権限の確認",
                   lot_no=f"LOT{version()}", orig_lot_no="")},
        ("GET", "/records/{record_id}/history"): lambda: {"path": {"record_id": rec}},
        ("GET", "/api/v1/persons"): lambda: {"params": {"kana": "ヤマダ"}},
        ("GET", "/api/v1/persons/{atena_no}"): lambda: {"path": {"atena_no": atena}},
        ("POST", "/api/v1/records/{record_id}/correct"): lambda: {
            "path": {"record_id": rec},
            **api({"expected_version": version(), "reason": "権限の確認", "changes": {"lot_no": f"API{version()}"}})},
        # Voiding ends the record, so it runs on a record of its own (see ctx["void_ids"]).
        ("POST", "/records/{record_id}/void"): lambda: {
            "path": {"record_id": ctx["void_ids"].pop()}, **form(atena_no=atena, expected_version="1", reason="確認")},
        ("POST", "/api/v1/records/{record_id}/void"): lambda: {
            "path": {"record_id": ctx["void_ids"].pop()}, **api({"expected_version": 1, "reason": "権限の確認"})},
        # Last: it ends the session.
        ("POST", "/logout"): lambda: form(),
    }


def test_every_route_declares_a_known_permission(app):
    for method, path, permission in route_table(app):
        if (method, path) in PUBLIC:
            assert permission is None, f"{method} {path} is public but declares {permission!r}"
        else:
            assert permission is not None, f"{method} {path} declares no permission"
            assert permission == "" or permission in PERMISSIONS, f"{method} {path}: {permission}"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_gets_exactly_the_routes_its_permissions_allow(role, app, db, make_staff, persons):
    table = [(m, p, perm) for m, p, perm in route_table(app) if (m, p) not in PUBLIC]
    ctx = {"db": db, "atena_no": persons["plain"], "record_id": add_record(db, persons["plain"]),
           "void_ids": [add_record(db, persons["plain"], vaccine=v) for v in ("BCG", "VAR")]}
    with TestClient(app, follow_redirects=False) as client:
        ctx["csrf"] = login(client, make_staff(role))
        cases = _cases(ctx)
        assert {(m, p) for m, p, _ in table} == set(cases), "every route needs a request in _cases"
        for (method, path), build in cases.items():
            permission = next(perm for m, p, perm in table if (m, p) == (method, path))
            req = build()
            url = path.format(**req.pop("path", {}))
            r = client.request(method, url, **req)
            allowed = permission == "" or has_permission(role, permission)
            if allowed:
                assert r.status_code < 400, f"{role} {method} {path}: {r.status_code} {r.text[:300]}"
                assert r.headers.get("location") != "/login" or path == "/logout", f"{role} {method} {path}"
            else:
                assert r.status_code == 403, f"{role} {method} {path}: {r.status_code}"
                assert "権限がありません" in r.text
