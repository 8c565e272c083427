"""日次集計 page: the chart and tables for staff who see persons; the CSV only for roles that may export."""
from __future__ import annotations

from datetime import timedelta

from sesshu.clock import today_jst
from tests.web.conftest import add_record, login


def test_counts_page_shows_the_days_and_the_csv_is_for_exporting_roles(client, make_staff, persons, db):
    add_record(db, "1001", vaccine="JE", on=today_jst())
    add_record(db, "1002", vaccine="JE", on=today_jst() - timedelta(days=2))
    login(client, make_staff("clerk"))
    page = client.get("/counts", params={"vaccine": "JE"})
    assert page.status_code == 200 and "日別の接種件数" in page.text and "<svg" in page.text
    assert "接種率" in page.text and "未使用の接種券" in page.text and "報告用CSV" not in page.text
    # staff read the vaccine's name, the code beside it
    assert '<th scope="row">日本脳炎<span class="code">JE</span></th>' in page.text
    assert client.get("/counts", params={"from": "R8.13.1"}).status_code == 400
    home = client.get("/")
    assert "日別の接種件数（直近14日" in home.text and 'href="/counts"' in home.text
    client.cookies.clear()
    csrf = login(client, make_staff("supervisor"))
    day = today_jst().isoformat()
    r = client.post("/counts/daily.csv", data={"csrf_token": csrf, "from": day, "to": day, "vaccine": "JE"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    text = r.content.decode("utf-8-sig")
    assert text.startswith("接種日,接種種別,年齢階級") and f"{day},JE," in text and "山田" not in text
