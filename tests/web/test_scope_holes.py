"""The holes an outside test found, each reproduced and closed through access.scoped:
notice batches (another's files, a supervisor without the 事務, 利用停止), the 予診票 import without a
事務, 住登外 and the other approval kinds outside the approver's 事務, and the relief form."""
from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from sesshu.access import service as access
from sesshu.access.models import StaffAssignment
from sesshu.audit.models import AuditEntry
from sesshu.auth.models import StaffUser
from sesshu.clock import today_jst
from sesshu.disclosure.service import receive, suspend_use
from sesshu.tickets.models import Ticket
from tests.helpers import RECORD_HEADER
from tests.web.conftest import ADMIN, login


def _only(db, login_id: str, task: str | None) -> None:
    with db.transaction() as s:
        uid = s.execute(select(StaffUser.id).where(StaffUser.login_id == login_id)).scalar_one()
        s.execute(StaffAssignment.__table__.delete().where(StaffAssignment.user_id == uid))
    if task:
        access.assign(db, actor=ADMIN, login_id=login_id, task_code=task, department="健康づくり課")


def _signed_in(app, staff):
    client = TestClient(app, follow_redirects=False)
    return client, login(client, staff)


def _notice_form(csrf: str, days: int = 0) -> dict:
    return {"csrf_token": csrf, "vaccine": "JE", "as_of": (today_jst() + timedelta(days=days)).isoformat(),
            "within": "0"}


def _zip_form(csrf: str) -> dict:
    return {"csrf_token": csrf, "purpose": "発送", "password": "correct-horse-42",
            "password_confirmation": "correct-horse-42"}


def _mailing(client, csrf: str, job_url: str) -> str:
    import io

    import pyzipper

    r = client.post(job_url + "/mailing.zip", data=_zip_form(csrf))
    assert r.status_code == 200, r.text
    with pyzipper.AESZipFile(io.BytesIO(r.content)) as z:
        z.setpassword(b"correct-horse-42")
        return z.read(z.namelist()[0]).decode("utf-8-sig")


def test_a_batch_is_its_starters_and_a_supervisor_without_the_task_cannot_start_one(app, db, make_staff, persons):
    owner, owner_csrf = _signed_in(app, make_staff("supervisor", login_id="sv-owner"))
    other, other_csrf = _signed_in(app, make_staff("supervisor", login_id="sv-other"))
    r = owner.post("/notices", data=_notice_form(owner_csrf))
    assert r.status_code == 303
    job_url = r.headers["location"]
    app.state.background_jobs.join(int(job_url.rsplit("/", 1)[1]), timeout=120)
    assert owner.post(job_url + "/mailing.zip", data=_zip_form(owner_csrf)).status_code == 200
    pdf = job_url + "/files/" + f"notices_JE_{today_jst():%Y%m%d}-001.pdf"
    assert owner.get(pdf).status_code == 200
    # Another supervisor, with the 事務: neither the page, nor the files, nor the same selection.
    assert other.get(job_url).status_code == 404
    assert other.get(pdf).status_code == 404
    assert other.post(job_url + "/mailing.zip", data=_zip_form(other_csrf)).status_code == 404
    assert "mailing.csv" not in other.get("/notices").text
    again = other.post("/notices", data=_notice_form(other_csrf))
    assert again.status_code == 400 and "別の職員が作成しています" in again.text
    # Without the vaccination 事務 (relief only): refused, on record, nothing selected.
    _only(db, "sv-other", "kenko_higai_kyusai")
    refused = other.post("/notices", data=_notice_form(other_csrf, days=1))
    assert refused.status_code == 403 and "事務の担当に割り当てられていない" in refused.text
    with db.transaction() as s:
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "access.no_task",
                                                  AuditEntry.actor == "sv-other")).first() is not None
        assert not s.execute(select(AuditEntry).where(AuditEntry.action == "notice.select",
                                                      AuditEntry.actor == "sv-other")).first()
    owner.close()
    other.close()


def test_a_suspended_person_gets_no_notice_and_no_ticket(app, db, make_staff, persons):
    inquiry = receive(db, actor=ADMIN, kind="suspension", atena_no=persons["plain"], channel="counter",
                      requester_name="山田 太郎", requester_relation="self", identity_method="mynumber_card",
                      question="利用停止の請求")
    suspend_use(db, actor=ADMIN, inquiry_id=inquiry.id)
    client, csrf = _signed_in(app, make_staff("supervisor"))
    r = client.post("/notices", data=_notice_form(csrf))
    app.state.background_jobs.join(int(r.headers["location"].rsplit("/", 1)[1]), timeout=120)
    mailing = _mailing(client, csrf, r.headers["location"])
    assert "山田" not in mailing and persons["hostile"] in mailing
    with db.transaction() as s:
        assert s.execute(select(Ticket).where(Ticket.atena_no == persons["plain"])).first() is None
        refused = s.execute(select(AuditEntry.detail).where(AuditEntry.action == "suspension.refused",
                                                            AuditEntry.atena_no == persons["plain"])).scalars().all()
    assert any('"notices.select"' in d for d in refused)
    client.close()


def test_a_clerk_without_a_task_cannot_import_records(app, db, make_staff, persons):
    staff = make_staff("clerk", login_id="no-task-import")
    _only(db, staff.login_id, None)
    client, csrf = _signed_in(app, staff)
    body = (RECORD_HEADER + "\n1001,BCG,,1,,R2.9.1,接種,,,,,,,,,,,,,,\n").encode("cp932")
    r = client.post("/imports/records", data={"csrf_token": csrf}, files={"file": ("rec.csv", body, "text/csv")})
    assert r.status_code == 403
    with db.transaction() as s:
        assert s.execute(select(AuditEntry).where(AuditEntry.action.in_(("records.import", "records.upload")),
                                                  AuditEntry.actor == staff.login_id)).first() is None
    client.close()


def test_a_non_resident_request_is_invisible_to_an_approver_of_another_task(app, db, make_staff, persons):
    clerk, clerk_csrf = _signed_in(app, make_staff("clerk"))
    r = clerk.post("/persons/new", data={"csrf_token": clerk_csrf, "name": "住登外 花子", "name_kana": "ジュウトウガイ ハナコ",
                                         "sex": "F", "birth_date": "2019-02-02", "address": "深谷市仲町1-1",
                                         "reason": "転入前の接種"})
    assert r.status_code == 303, r.text
    approval_url = r.headers["location"].split("?")[0]
    approver = make_staff("supervisor", login_id="sv-relief")
    _only(db, approver.login_id, "kenko_higai_kyusai")
    client, csrf = _signed_in(app, approver)
    assert "2019年生" not in client.get("/approvals").text
    assert client.get(approval_url).status_code == 404
    decided = client.post(approval_url + "/approve", data={"csrf_token": csrf, "expected_version": "1"})
    assert decided.status_code == 404
    assert "ジュウトウガイ" not in client.get("/api/v1/approvals").text
    clerk.close()
    client.close()


def test_the_relief_form_does_not_tell_whether_a_number_exists(app, db, make_staff, persons):
    staff = make_staff("clerk", login_id="kyusai-only")
    _only(db, staff.login_id, "kenko_higai_kyusai")
    client, csrf = _signed_in(app, staff)
    answers = []
    for atena_no in (persons["plain"], "999999"):
        r = client.post("/relief", data={"csrf_token": csrf, "atena_no": atena_no, "vaccine_class": "A",
                                         "claimant_name": "試行 太郎", "claimant_relation": "本人",
                                         "claim_medical_expenses": "1", "doc_claim_form": "1"})
        answers.append((r.status_code, r.text.replace(atena_no, "X")))
    assert answers[0] == answers[1] and answers[0][0] == 400
    assert client.get("/relief").text.count("/relief/") == answers[0][1].count("/relief/")  # no case was opened
    with db.transaction() as s:
        refusals = s.execute(select(AuditEntry.atena_no).where(AuditEntry.action == "access.out_of_scope",
                                                               AuditEntry.actor == staff.login_id)).scalars().all()
    assert refusals == [persons["plain"], "999999"]  # both probes on record, alike
    client.close()
