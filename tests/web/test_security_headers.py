"""Security headers, no inline script anywhere, nothing loaded from outside, health check without data."""
from __future__ import annotations

import re
from pathlib import Path

import sesshu.web
from tests.web.conftest import login

CSP = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
WEB = Path(sesshu.web.__file__).parent


def test_pages_carry_security_headers_and_are_not_cached(client, make_staff, persons):
    login(client, make_staff("clerk"))
    for url in ("/login", "/", "/search?kana=ヤ", f"/persons/{persons['plain']}", "/api/v1/persons?kana=ヤ", "/nowhere"):
        r = client.get(url)
        assert r.headers["content-security-policy"] == CSP, url
        assert r.headers["x-content-type-options"] == "nosniff"
        # same-origin, not no-referrer: under no-referrer Chromium sends "Origin: null" with every form
        # POST, which the Origin check refuses (no sign-in at all); no URL leaves for another site either way.
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["cache-control"] == "no-store", url


def test_stylesheet_is_served_by_the_app(client):
    r = client.get("/static/app.css")
    assert r.status_code == 200 and "text/css" in r.headers["content-type"]
    assert "no-store" not in r.headers.get("cache-control", "")


def test_templates_have_no_inline_script_handlers_or_external_urls():
    for path in list((WEB / "templates").glob("*.html")) + [WEB / "static" / "app.css"]:
        text = path.read_text(encoding="utf-8")
        # Scripts only as files served by sesshu, never inline (the CSP would block them anyway).
        scripts = re.findall(r"<script[^>]*>.*?</script>|<script[^>]*>", text, re.S)
        assert all(re.fullmatch(r'<script src="/static/[\w-]+\.js"( defer)?></script>', t) for t in scripts), path.name
        assert not re.search(r"\son[a-z]+\s*=", text), path.name
        assert " style=" not in text, path.name
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path.name


def test_unknown_page_is_a_japanese_404(client, make_staff):
    login(client, make_staff("clerk"))
    r = client.get("/no/such/page")
    assert r.status_code == 404 and "見つかりません" in r.text


def test_healthz_needs_no_login_and_shows_no_data(client, persons):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
