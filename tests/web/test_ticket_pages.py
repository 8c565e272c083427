"""Pages for 接種券, certificates and notice batches: a clerk issues and reissues, a supervisor runs a batch."""
from __future__ import annotations

import hashlib
import io
import json
from datetime import date, timedelta

import pyzipper
from fastapi.testclient import TestClient
from sqlalchemy import select

from sesshu.actor import Actor
from sesshu.audit.models import AuditEntry
from sesshu.clock import today_jst, utcnow
from sesshu.fhir.shc import describe, verify_cards
from sesshu.jobs import continue_job
from sesshu.jobs.models import BatchJob
from sesshu.tickets.notices import NoticeJob, open_notices
from sesshu.web.app import create_app
from tests.pdfcheck import qr_codes
from tests.web.conftest import add_record, login


def _actor(db, staff) -> Actor:
    """The signed-in supervisor as the services see them (their 事務 scope the batch)."""
    from sesshu.auth.models import StaffUser

    with db.transaction() as s:
        user_id = s.execute(select(StaffUser.id).where(StaffUser.login_id == staff.login_id)).scalar_one()
    return Actor(login_id=staff.login_id, kind="user", role=staff.role, user_id=user_id)


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


def _web_out(settings):
    return settings.var_dir / "notices" / f"JE_{today_jst():%Y%m%d}_0"  # where the form's batch of today goes


def _finished(client, location: str) -> str:
    """The job page once the server's background thread is done with the batch."""
    job_id = int(location.rsplit("/", 1)[1])
    client.app.state.background_jobs.join(job_id, timeout=120)
    return client.get(location).text


def test_supervisor_runs_a_batch_and_downloads_its_files(client, make_staff, persons, db):
    csrf = _csrf(client, make_staff("supervisor"))
    assert "個別通知" in client.get("/").text
    r = client.post("/notices", data={"csrf_token": csrf, "vaccine": "JE", "as_of": today_jst().isoformat(),
                                      "within": "0"})
    assert r.status_code == 303
    job = _finished(client, r.headers["location"])
    assert 'id="job-status">完了' in job and "mailing.csv" in job and 'value="100"' in job
    assert "2 / 2" in job
    # The mailing list never leaves as a plain file: only the encrypted ZIP, with purpose and password.
    assert client.get(r.headers["location"] + "/files/mailing.csv").status_code == 404
    z = client.post(r.headers["location"] + "/mailing.zip", data={
        "csrf_token": csrf, "purpose": "発送", "password": "correct-horse-42", "password_confirmation": "correct-horse-42"})
    assert z.status_code == 200 and z.headers["content-type"] == "application/zip"
    with pyzipper.AESZipFile(io.BytesIO(z.content)) as archive:
        archive.setpassword(b"correct-horse-42")
        csv_bytes = archive.read(archive.namelist()[0])
    assert csv_bytes.decode("utf-8-sig").count("\r\n") == 3  # header + the two residents
    pdf_name = next(part.split('"')[0] for part in job.split('/files/')[1:] if part.endswith(".pdf") or ".pdf" in part)
    pdf = client.get(r.headers["location"] + "/files/" + pdf_name).content
    assert pdf.startswith(b"%PDF")
    assert client.get(r.headers["location"] + "/files/..%2F..%2Fsesshu.db").status_code == 404
    with db.transaction() as s:
        entries = {e.action: json.loads(e.detail) for e in s.execute(
            select(AuditEntry).where(AuditEntry.action.in_(("print", "export")), AuditEntry.actor == "supervisor-1")
            .order_by(AuditEntry.seq)).scalars()}
    with db.transaction() as s:
        mailing = json.loads(s.execute(select(AuditEntry.detail).where(
            AuditEntry.action == "notices.mailing_export")).scalar_one())
    assert mailing["file"] == f"mailing_{r.headers['location'].rsplit('/', 1)[1]}.zip" and mailing["rows"] == 2
    assert mailing["sha256"] == hashlib.sha256(z.content).hexdigest() and mailing["format"] == "zip-aes256"
    assert (entries["print"]["file"], entries["print"]["rows"], entries["print"]["channel"]) == (pdf_name, 2, "download")
    assert entries["print"]["sha256"] == hashlib.sha256(pdf).hexdigest()


def test_the_batch_runs_out_of_the_request_and_a_stopped_run_is_resumed(client, make_staff, persons, db, settings):
    staff = make_staff("supervisor")
    csrf = _csrf(client, staff)
    actor = _actor(db, staff)
    # A batch of two files whose server stopped after the first (what a restart leaves behind).
    opened = open_notices(db, settings, actor=actor, vaccine="JE", as_of=today_jst(), within_days=0,
                          out_dir=_web_out(settings), per_file=1)
    continue_job(db, NoticeJob(settings), actor=actor, job_id=opened.job_id, max_chunks=1)
    with db.transaction() as s:  # ... ten minutes ago (a batch that moved lately may be running in another worker)
        s.get(BatchJob, opened.job_id).updated_at = utcnow() - timedelta(minutes=10)
    url = f"/notices/jobs/{opened.job_id}"
    page = client.get(url).text  # progress comes from the job tables, whichever process ran it
    assert 'id="job-status">中断' in page and "1 / 2" in page and 'value="50"' in page and "/resume" in page
    # A fresh server process takes it up on start, as its OS account, on record.
    with TestClient(create_app(settings)) as restarted:
        restarted.app.state.background_jobs.join(opened.job_id, timeout=120)
    assert 'id="job-status">完了' in client.get(url).text
    with db.transaction() as s:
        resume = s.execute(select(AuditEntry).where(AuditEntry.action == "job.resume")).scalar_one()
    assert resume.actor_kind == "os" and json.loads(resume.detail)["job_id"] == opened.job_id
    # Starting the same selection again from the form finds the finished job: nothing runs, nothing doubles.
    r = client.post("/notices", data={"csrf_token": csrf, "vaccine": "JE", "as_of": today_jst().isoformat(),
                                      "within": "0"})
    assert r.status_code == 303
    assert not client.app.state.background_jobs.running(int(r.headers["location"].rsplit("/", 1)[1]))


def test_a_stopped_batch_continues_from_its_page(client, make_staff, persons, db, settings):
    staff = make_staff("supervisor")
    csrf = _csrf(client, staff)
    actor = _actor(db, staff)
    opened = open_notices(db, settings, actor=actor, vaccine="JE", as_of=today_jst(), within_days=0,
                          out_dir=_web_out(settings), per_file=1)
    r = client.post(f"/notices/jobs/{opened.job_id}/resume", data={"csrf_token": csrf})
    assert r.status_code == 303
    assert 'id="job-status">完了' in _finished(client, r.headers["location"])
    assert client.post(f"/notices/jobs/{opened.job_id}/resume", data={"csrf_token": ""}).status_code in (400, 403)


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
