"""Probe findings that only show over real HTTP: header bytes the test client would re-encode."""
from __future__ import annotations

import json

import httpx
from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from tests.web.conftest import PASSWORD, csrf_token


def test_a_tampered_login_form_cookie_is_a_refusal_on_record_not_a_crash(live_server, make_staff, db, backend):
    staff = make_staff("clerk")
    with httpx.Client(base_url=live_server, follow_redirects=False, timeout=30) as c:
        page = c.get("/login")
        c.cookies.clear()
        # "²" passes str.isdigit() but not int(); on the wire a header is bytes (latin-1).
        cookie = "sesshu_login_csrf=nonce.\u00b2.signature".encode("latin-1")
        r = c.post("/login", data={"login_id": staff.login_id, "password": PASSWORD,
                                   "csrf_token": csrf_token(page.text)}, headers=[(b"cookie", cookie)])
    assert r.status_code == 403 and "sesshu_session" not in r.headers.get("set-cookie", "")
    with db.transaction() as s:
        paths = [json.loads(d)["path"] for d in s.execute(select(AuditEntry.detail)
                                                          .where(AuditEntry.action == "auth.csrf_failed")).scalars()]
    assert paths == ["/login"]
