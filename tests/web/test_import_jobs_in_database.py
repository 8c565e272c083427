"""Web imports keep their state in batch_job: seen after a restart, an interrupted one said so,
and the rejects leave sesshu without personal data or as an encrypted ZIP only."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pyzipper
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sesshu.audit.models import AuditEntry
from sesshu.clock import utcnow
from sesshu.imports import uploads
from sesshu.jobs.models import BatchJob
from sesshu.ledger.models import VaccinationRecord
from sesshu.web.app import create_app
from tests.helpers import RECORD_HEADER
from tests.web.conftest import login
from tests.web.test_import_page import BAD_DATE, GOOD, NOBODY, _upload, _wait

TICKET_BAD = "1001,MR,1期,1,定期A類,R3.4.10,接種,,,,,,,,,,,,,ZZ-9,\n"
PASSWORD = "correct-horse-42"


def _import_with_rejects(client, csrf) -> str:
    job_url = _upload(client, csrf, RECORD_HEADER + "\n" + GOOD + BAD_DATE + NOBODY).headers["location"]
    assert _wait(client, job_url)["status"] == "done"
    return job_url


def test_the_job_and_its_rejects_survive_a_server_restart(settings, db, make_staff, persons):
    staff = make_staff("clerk")
    first = create_app(settings)
    with TestClient(first, follow_redirects=False) as client:
        job_url = _import_with_rejects(client, login(client, staff))
    first.state.db.dispose()

    restarted = create_app(settings)
    with TestClient(restarted, follow_redirects=False) as client:
        login(client, staff)
        status = client.get(job_url + "/status").json()
        assert status["status"] == "done" and status["summary"]["rejected"] == 2
        page = client.get(job_url)
        # The refused rows are on the page: line number and reason.
        assert page.status_code == 200 and 'id="rejects-table"' in page.text
        assert "宛名番号の方が住民記録にありません" in page.text and "I_NO_PERSON" in page.text
        assert "予診票_202104.csv" in client.get("/imports").text
        assert client.get(job_url + "/rejects").status_code == 200
    restarted.state.db.dispose()


def test_the_plain_rejects_csv_has_no_personal_data(client, db, make_staff, persons):
    csrf = login(client, make_staff("clerk"))
    job_url = _import_with_rejects(client, csrf)
    text = client.get(job_url + "/rejects").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["行番号", "区分", "理由", "エラーコード"]
    assert rows[1:] == [["3", "エラー", "接種年月日を日付として読めません", "I_DATE"],
                        ["4", "エラー", "宛名番号の方が住民記録にありません", "I_NO_PERSON"]]
    assert "9999" not in text and "R3.13.40" not in text
    with db.transaction() as s:
        detail = json.loads(s.execute(select(AuditEntry.detail).where(
            AuditEntry.action == "records.rejects_download")).scalar_one())
    assert detail["rows"] == 2 and detail["personal_data"] is False


def test_the_full_rejected_rows_leave_only_as_an_encrypted_zip(client, db, make_staff, persons):
    csrf = login(client, make_staff("supervisor"))
    job_url = _import_with_rejects(client, csrf)
    refused = client.post(job_url + "/rejects.zip", data={"csrf_token": csrf, "purpose": "取込エラーの修正",
                                                        "password": "short", "password_confirmation": "short"})
    assert refused.status_code == 400 and "12文字以上" in refused.text
    r = client.post(job_url + "/rejects.zip", data={"csrf_token": csrf, "purpose": "取込エラーの修正",
                                                  "password": PASSWORD, "password_confirmation": PASSWORD})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with pyzipper.AESZipFile(io.BytesIO(r.content)) as z:
        z.setpassword(PASSWORD.encode())
        (name,) = z.namelist()
        rows = list(csv.reader(io.StringIO(z.read(name).decode("utf-8-sig"))))
    assert rows[0][:4] == ["行番号", "区分", "理由", "エラーコード"] and rows[0][4] == "宛名番号"
    assert rows[2][0] == "4" and rows[2][4] == "9999" and "9999" in rows[2][2]
    with db.transaction() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "records.rejects_export")).scalar_one()
    assert entry.purpose == "取込エラーの修正" and json.loads(entry.detail)["format"] == "zip-aes256"


def test_a_clerk_without_the_export_permission_cannot_export_the_full_rows(client, make_staff, persons):
    csrf = login(client, make_staff("clerk"))
    job_url = _import_with_rejects(client, csrf)
    assert "暗号化ZIPで出力" not in client.get(job_url).text
    r = client.post(job_url + "/rejects.zip", data={"csrf_token": csrf, "purpose": "目的",
                                                  "password": PASSWORD, "password_confirmation": PASSWORD})
    assert r.status_code == 403


def _dead_process() -> dict:
    """The server identity of a process that has exited (as after a kill -9 or a restart)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    me = uploads._this_process()
    return {"host": me["host"], "pid": int(proc.stdout), "token": "gone"}


def _user_id(db, login_id: str) -> int:
    from sesshu.auth.models import StaffUser

    with db.transaction() as s:
        return s.execute(select(StaffUser.id).where(StaffUser.login_id == login_id)).scalar_one()


def _orphan(db, settings, staff, status: str, result: dict | None = None) -> str:
    job_id = "orphan" + status
    work = uploads.upload_dir(settings) / job_id
    work.mkdir(mode=0o700)
    (work / "予診票.csv").write_text(RECORD_HEADER + "\n" + GOOD, encoding="utf-8")
    now = utcnow()
    params = {"file": "予診票.csv", "bytes": 100, "sha256": "0" * 64, "user_id": _user_id(db, staff.login_id),
              "server": _dead_process()}
    with db.transaction() as s:
        s.add(BatchJob(kind=uploads.KIND, job_key=job_id, params=json.dumps(params), status=status, chunk_size=1000,
                       total_units=1, done_units=0, created_by=staff.login_id, created_at=now, updated_at=now,
                       result=json.dumps(result or {})))
    return job_id


def test_an_import_whose_server_died_is_reported_rolled_back(client, db, settings, make_staff, persons):
    staff = make_staff("clerk")
    login(client, staff)
    job_id = _orphan(db, settings, staff, "importing")
    status = client.get(f"/imports/jobs/{job_id}/status").json()
    assert status["status"] == "failed" and status["finished"]
    assert status["message"] == uploads.INTERRUPTED_MESSAGE
    assert not (uploads.upload_dir(settings) / job_id).exists()
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(VaccinationRecord)).scalar_one() == 0
        assert s.execute(select(BatchJob.finished_at).where(BatchJob.job_key == job_id)).scalar_one() is not None


def test_a_judgement_cut_short_by_a_restart_leaves_the_import_done(client, db, settings, make_staff, persons):
    staff = make_staff("clerk")
    login(client, staff)
    summary = {"batch_id": 1, "file": "予診票.csv", "encoding": "utf-8", "read": 1, "accepted": 1, "rejected": 0,
               "duplicates": 0, "unchanged": 0}
    job_id = _orphan(db, settings, staff, "evaluating", {"summary": summary})
    page = client.get(f"/imports/jobs/{job_id}")
    assert page.status_code == 200 and "完了" in page.text and "sesshu record evaluate" in page.text


def test_a_running_import_of_this_server_is_left_alone(db, settings, make_staff, persons):
    staff = make_staff("clerk")
    job_id = _orphan(db, settings, staff, "importing")
    with db.transaction() as s:
        row = s.execute(select(BatchJob).where(BatchJob.job_key == job_id)).scalar_one()
        row.params = json.dumps({**json.loads(row.params), "server": uploads._this_process()})
    from sesshu.actor import Actor

    actor = Actor(login_id=staff.login_id, kind="user", role="clerk", user_id=_user_id(db, staff.login_id))
    assert uploads.ImportJobs().get(db, job_id, actor, settings).status == "importing"
