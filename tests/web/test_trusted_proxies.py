"""X-Forwarded-For is believed only from the configured reverse proxies (real uvicorn, real HTTP)."""
from __future__ import annotations

import dataclasses

import httpx
from fastapi import Request

from sesshu.web.app import create_app
from sesshu.web.server import server_options
from tests.helpers import running_server


def _seen(settings) -> tuple[dict, httpx.Headers]:
    app = create_app(settings)

    @app.get("/_probe_client")
    def probe_client(request: Request):  # test-only route: what the app believes about the connection
        return {"client": request.client.host, "scheme": request.url.scheme}

    with running_server(app, **server_options(settings)) as port:
        r = httpx.get(f"http://127.0.0.1:{port}/_probe_client",
                      headers={"X-Forwarded-For": "10.1.2.3", "X-Forwarded-Proto": "https"})
    assert r.status_code == 200, (r.status_code, r.text[:300])
    return r.json(), r.headers


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(settings, db):
    seen, headers = _seen(settings)
    assert seen == {"client": "127.0.0.1", "scheme": "http"}
    assert "strict-transport-security" not in headers


def test_forwarded_headers_of_a_trusted_proxy_give_the_real_client_and_scheme(settings, db):
    seen, headers = _seen(dataclasses.replace(settings, trusted_proxies="127.0.0.1"))
    assert seen == {"client": "10.1.2.3", "scheme": "https"}
    assert headers["strict-transport-security"].startswith("max-age=")


def test_a_proxy_not_on_the_list_is_not_believed(settings, db):
    seen, _ = _seen(dataclasses.replace(settings, trusted_proxies="192.0.2.10"))
    assert seen["client"] == "127.0.0.1"
