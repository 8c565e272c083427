"""Per-user date style: 和暦 first by default, 西暦 first once chosen — for this user only."""
from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.conftest import login


def _birth_line(html: str) -> str:
    start = html.index("<dt>生年月日</dt>")
    return html[start:start + 200]


def test_dates_follow_each_users_setting(app, client, make_staff, persons):
    csrf = login(client, make_staff("clerk"))
    first = _birth_line(client.get("/persons/1001").text)
    assert first.index("令和2年4月1日") < first.index("2020-04-01")  # default: 和暦 first
    r = client.post("/account/settings", data={"csrf_token": csrf, "date_style": "western"})
    assert r.status_code == 303
    assert "設定を保存しました" in client.get(r.headers["location"]).text
    after = _birth_line(client.get("/persons/1001").text)
    assert after.index("2020-04-01") < after.index("令和2年4月1日")
    with TestClient(app, follow_redirects=False) as other:
        login(other, make_staff("supervisor"))
        line = _birth_line(other.get("/persons/1001").text)
        assert line.index("令和2年4月1日") < line.index("2020-04-01")


def test_an_unknown_style_is_refused_in_japanese(client, make_staff):
    csrf = login(client, make_staff("clerk"))
    r = client.post("/account/settings", data={"csrf_token": csrf, "date_style": "klingon"})
    assert r.status_code == 400 and "日付の表示方法を選んでください" in r.text
