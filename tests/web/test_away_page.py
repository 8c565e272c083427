"""住所地外接種の届出 page: a 住登外者's 届出 accepted on the web gives the 届出済証 PDF; errors keep the form."""
from __future__ import annotations

from datetime import timedelta

from sesshu.clock import today_jst
from tests.web.conftest import confirmed_non_resident, login


def test_clerk_accepts_a_notice_and_gets_the_receipt(client, make_staff, persons, db, settings):
    atena_no = confirmed_non_resident(db, settings)
    csrf = login(client, make_staff("clerk"))
    assert "/persons/%s/away" % atena_no in client.get(f"/persons/{atena_no}").text
    page = client.get(f"/persons/{atena_no}/away")
    assert page.status_code == 200 and "届出はありません" in page.text and "出産のために里帰り" in page.text
    form = {"csrf_token": csrf, "reason": "maternity", "home_municipality": "横浜市", "vaccine": "COVID",
            "period_from": "R8.12.1", "period_until": (today_jst() + timedelta(days=60)).isoformat(), "channel": "counter"}
    bad = client.post(f"/persons/{atena_no}/away", data={**form, "home_municipality_code": "141004"})
    assert bad.status_code == 400 and "検査数字" in bad.text and 'value="横浜市"' in bad.text
    pdf = client.post(f"/persons/{atena_no}/away", data=form)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and pdf.headers["cache-control"].startswith("no-store")
    listed = client.get(f"/persons/{atena_no}/away").text
    assert "横浜市" in listed and "届出はありません" not in listed


def test_a_resident_has_no_form(client, make_staff, persons):
    login(client, make_staff("clerk"))
    page = client.get("/persons/1001/away")
    assert page.status_code == 200 and "住登外者として登録された方" in page.text and 'name="home_municipality"' not in page.text
