"""Web hardening an outside probe checks: HSTS behind TLS, forged/replayed sessions, injection in
every search field (page and API), hostile text from the registry rendered inert."""
from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sesshu.registry.models import Person
from sesshu.web.app import create_app
from sesshu.web.deps import SESSION_COOKIE
from sesshu.web.forms import SearchQuery
from tests.web.conftest import login

HOSTILE_INPUTS = (
    "' OR '1'='1", "1; DROP TABLE person; --", "%' --", "\\", "_%", "<script>alert(1)</script>",
    "ヤマダ' UNION SELECT my_number_enc FROM person --", "\x00", "山田\u202e", "{{7*7}}", "${jndi:ldap://x}",
)


def test_hsts_only_behind_tls(settings, db, client):
    assert "strict-transport-security" not in client.get("/login").headers
    with TestClient(create_app(settings), base_url="https://testserver") as tls:
        assert tls.get("/login").headers["strict-transport-security"].startswith("max-age=31536000")
    behind_proxy = dataclasses.replace(settings, secure_cookies=True)
    with TestClient(create_app(behind_proxy)) as c:
        assert "max-age=" in c.get("/healthz").headers["strict-transport-security"]


def test_isolation_headers_on_every_page(client):
    r = client.get("/login")
    assert r.headers["cross-origin-opener-policy"] == "same-origin"
    assert r.headers["cross-origin-resource-policy"] == "same-origin"
    assert "camera=()" in r.headers["permissions-policy"]


def test_forged_and_replayed_session_cookies_are_refused(client, make_staff, persons):
    login(client, make_staff("clerk"))
    stolen = client.cookies.get(SESSION_COOKIE)
    assert client.get(f"/persons/{persons['plain']}").status_code == 200
    client.cookies.set(SESSION_COOKIE, "forged-" + "A" * 40)
    assert client.get(f"/persons/{persons['plain']}").headers["location"] == "/login"
    assert client.get(f"/api/v1/persons/{persons['plain']}").status_code == 401
    client.cookies.set(SESSION_COOKIE, stolen)
    page = client.get("/")
    client.post("/logout", data={"csrf_token": page.text.split('name="csrf_token" value="')[1].split('"')[0]})
    client.cookies.set(SESSION_COOKIE, stolen)  # replay the cookie after sign-out
    assert client.get(f"/persons/{persons['plain']}").headers["location"] == "/login"
    assert client.get("/api/v1/persons", params={"kana": "ヤ"}).status_code == 401


def _search_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(SearchQuery)] if dataclasses.is_dataclass(SearchQuery) \
        else list(SearchQuery.model_fields)


@pytest.mark.parametrize("value", HOSTILE_INPUTS)
def test_injection_in_every_search_field_is_inert(value, client, db, make_staff, persons):
    login(client, make_staff("supervisor"))
    fields = _search_fields()
    assert {"atena_no", "kana", "name", "address", "birth_date", "vaccine"} <= set(fields)
    with db.transaction() as s:
        before = s.execute(select(func.count()).select_from(Person)).scalar_one()
    for field in fields:
        for url in ("/search", "/api/v1/persons"):
            r = client.get(url, params={field: value})
            assert r.status_code in (200, 400, 422), (field, url, r.status_code)
            if url == "/search":  # HTML: echoed back (and the hostile resident's name shown) only escaped
                assert "<script>alert(1)</script>" not in r.text
            else:  # JSON carries the data as data, never sniffed as HTML
                assert r.headers["content-type"] == "application/json" and r.headers["x-content-type-options"] == "nosniff"
            assert "Traceback" not in r.text and "sqlalchemy" not in r.text.lower()
            if r.status_code == 200 and url.startswith("/api"):
                # An injected condition never widens the result to everyone.
                assert r.json()["total"] <= 1, (field, value, r.json())
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(Person)).scalar_one() == before == 2


def test_export_only_from_registered_terminals(settings, db, make_staff, persons):
    """出力端末の限定: with export_terminals set, another client cannot write personal data to a file."""
    from sqlalchemy import select as sql_select

    from sesshu.audit.models import AuditEntry

    restricted = dataclasses.replace(settings, export_terminals="192.0.2.0/24, 198.51.100.7")
    form = {"purpose": "接種勧奨", "password": "Export-Pass-2026", "password_confirmation": "Export-Pass-2026"}
    with TestClient(create_app(restricted), follow_redirects=False) as c:  # TestClient's client is not an IP
        csrf = login(c, make_staff("supervisor"))
        r = c.post("/search/export", params={"kana": "ヤ"}, data=form | {"csrf_token": csrf})
        assert r.status_code == 403 and "この端末からはファイルに出力できません" in r.text
    with TestClient(create_app(restricted), follow_redirects=False, client=("198.51.100.7", 5000)) as c:
        csrf = login(c, make_staff("supervisor", login_id="super-2"))
        r = c.post("/search/export", params={"kana": "ヤ"}, data=form | {"csrf_token": csrf})
        assert r.status_code == 200 and r.content[:2] == b"PK"
    with db.transaction() as s:
        refused = s.execute(sql_select(AuditEntry.detail).where(AuditEntry.action == "export.terminal_refused")).scalars().all()
        exported = s.execute(sql_select(AuditEntry.actor).where(AuditEntry.action == "person.export")).scalars().all()
    assert len(refused) == 1 and '"client": "testclient"' in refused[0]
    assert exported == ["super-2"]
