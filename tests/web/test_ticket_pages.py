"""Pages for 接種券, certificates and notice batches: a clerk issues and reissues, a supervisor runs a batch."""
from __future__ import annotations

from datetime import date

from sesshu.clock import today_jst
from sesshu.fhir.shc import describe, verify_cards
from tests.pdfcheck import qr_codes
from tests.web.conftest import add_record, login


def _csrf(client, staff):
    return login(client, staff)


def test_clerk_issues_then_reissues_a_ticket_from_the_person_page(client, make_staff, persons):
    csrf = _csrf(client, make_staff("clerk"))
    page = client.get("/persons/1001")
    assert "/persons/1001/tickets" in page.text
    page = client.get("/persons/1001/tickets")
    assert page.status_code == 200 and "発行した接種券はありません" in page.text and 'value="JE"' in page.text
    refused = client.post("/persons/1001/tickets/issue", data={"csrf_token": csrf, "vaccine": "JE"})
    assert refused.status_code == 400 and "転入前の接種歴" in refused.text
    pdf = client.post("/persons/1001/tickets/issue", data={"csrf_token": csrf, "vaccine": "JE", "history_confirmed": "1"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and pdf.headers["cache-control"].startswith("no-store")
    again = client.post("/persons/1001/tickets/issue", data={"csrf_token": csrf, "vaccine": "JE", "history_confirmed": "1"})
    assert again.status_code == 409 and "発行済み" in again.text
    client.post("/persons/1001/tickets/reissue", data={"csrf_token": csrf, "vaccine": "JE", "reason": "紛失"})
    page = client.get("/persons/1001/tickets").text
    assert page.count("発行済（未使用）") == 1 and "無効" in page and "（紛失）" in page


def test_clerk_issues_a_certificate_and_cannot_run_batches(client, make_staff, persons):
    csrf = _csrf(client, make_staff("clerk"))
    pdf = client.post("/persons/1001/certificate", data={"csrf_token": csrf, "requested_by": "山田 花子",
                                                         "relationship": "親権者（法定代理人）",
                                                         "identity_method": "マイナンバーカード", "kind": "history"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "山田 花子（親権者（法定代理人）・マイナンバーカード）" in client.get("/persons/1001/tickets").text
    assert client.get("/notices").status_code == 403


def test_supervisor_runs_a_batch_and_downloads_its_files(client, make_staff, persons):
    csrf = _csrf(client, make_staff("supervisor"))
    assert "個別通知" in client.get("/").text
    r = client.post("/notices", data={"csrf_token": csrf, "vaccine": "JE", "as_of": today_jst().isoformat(),
                                      "within": "0"})
    assert r.status_code == 303
    job = client.get(r.headers["location"]).text
    assert "完了" in job and "mailing.csv" in job
    csv_text = client.get(r.headers["location"] + "/files/mailing.csv").content.decode("utf-8-sig")
    assert csv_text.count("\r\n") == 3  # header + the two residents
    pdf_name = next(part.split('"')[0] for part in job.split('/files/')[1:] if part.endswith(".pdf") or ".pdf" in part)
    assert client.get(r.headers["location"] + "/files/" + pdf_name).content.startswith(b"%PDF")
    assert client.get(r.headers["location"] + "/files/..%2F..%2Fsesshu.db").status_code == 404


def test_certificate_form_prints_the_smart_health_card_when_ticked(client, make_staff, persons, db, settings, tmp_path):
    add_record(db, "1001", vaccine="MR", on=date(2021, 4, 10))
    csrf = _csrf(client, make_staff("clerk"))
    assert 'name="shc"' in client.get("/persons/1001/tickets").text
    pdf = client.post("/persons/1001/certificate", data={"csrf_token": csrf, "requested_by": "山田 花子",
                                                         "relationship": "親権者（法定代理人）",
                                                         "identity_method": "マイナンバーカード", "kind": "history",
                                                         "shc": "1"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    path = tmp_path / "cert.pdf"
    path.write_bytes(pdf.content)
    [text] = qr_codes(path, tmp_path, 2)
    [card] = verify_cards(settings, text)
    assert [i["date"] for i in describe(card)["immunizations"]] == ["2021-04-10"]
