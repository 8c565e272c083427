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


def test_clerk_withdraws_a_notice_with_a_reason_and_its_receipt_shows_void(client, make_staff, persons, db, settings):
    atena_no = confirmed_non_resident(db, settings)
    csrf = login(client, make_staff("clerk"))
    form = {"csrf_token": csrf, "reason": "student", "home_municipality": "横浜市", "vaccine": "COVID",
            "period_from": today_jst().isoformat(), "period_until": (today_jst() + timedelta(days=60)).isoformat()}
    assert client.post(f"/persons/{atena_no}/away", data=form).status_code == 200
    page = client.get(f"/persons/{atena_no}/away").text
    notice_no = page.split(f"/persons/{atena_no}/away/")[1].split("/close")[0]
    assert "有効" in page and "取下げ・終了を記録する" in page
    url = f"/persons/{atena_no}/away/{notice_no}/close"
    empty = client.post(url, data={"csrf_token": csrf, "kind": "withdrawn", "reason": ""})
    assert empty.status_code == 400 and "取下げの理由を入力してください" in empty.text
    done = client.post(url, data={"csrf_token": csrf, "kind": "withdrawn", "reason": "住所地で接種するため"})
    assert done.status_code == 200 and "届出済証は以後無効です" in done.text
    assert "取下げ（無効）" in done.text and "取下げの理由: 住所地で接種するため" in done.text
    assert "取下げ・終了を記録する" not in done.text  # nothing left to close
    again = client.post(url, data={"csrf_token": csrf, "kind": "ended", "reason": "x"})
    assert again.status_code == 409 and "既に取下げ（無効）です" in again.text
    assert client.post(f"/persons/{atena_no}/away/999999999999/close",
                       data={"csrf_token": csrf, "kind": "withdrawn", "reason": "x"}).status_code == 404
