"""Pages: a person's 接種券 (issue for a 転入者, reissue), certificates on a 照会申請, and notice batches.

Every PDF goes straight back as the POST's answer (never stored by the web server, never cached); the
services have logged the print. A notice batch is planned in the request and printed by a background
thread of the server (sesshu.jobs.background); its page shows the progress from the job tables and, when
done, the files under var/notices/… — each download is on record as a print (PDF) or an export (mailing.csv).
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path as FsPath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response

from sesshu.access.service import NoTask
from sesshu.actor import os_actor
from sesshu.certificates.service import CertificateRequest, issue_certificate, person_certificates, request_data
from sesshu.clock import today_jst, utcnow
from sesshu.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from sesshu.domain.schedule.display import is_open
from sesshu.domain.wareki import parse_optional_date
from sesshu.exports.service import check_password, export_csv, log_print
from sesshu.jobs import job_status, list_jobs
from sesshu.jobs.background import BackgroundJobs
from sesshu.ledger.service import person_history
from sesshu.tickets.catalog import lines
from sesshu.tickets.notices import (
    DOCUMENT,
    KIND,
    PURPOSE,
    continue_notices,
    interrupted_background_runs,
    mailing_name,
    open_notices,
)
from sesshu.tickets.service import issue_for_move_in, person_tickets, reissue, rules_on
from sesshu.web.deps import form_data, get_db, get_settings, render, require, require_export_terminal

router = APIRouter(include_in_schema=False)

AtenaNo = Annotated[str, Path(pattern=r"^[0-9]{1,15}$")]
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}
REISSUE_REASONS = ("紛失", "汚損")
# A batch whose job row moved this recently counts as being printed (a chunk commits or writes its PDF at
# least this often), even when another server worker runs it.
ACTIVE_WITHIN = timedelta(minutes=2)


def _pdf(content: bytes, filename: str) -> Response:
    return Response(content=content, media_type="application/pdf", headers={
        **NO_STORE, "Content-Disposition": f"inline; filename=\"ticket.pdf\"; filename*=UTF-8''{quote(filename)}"})


def _lines(db):
    """The lines a ticket can be issued for today, the active campaigns' included."""
    with db.transaction() as s:
        return lines(rules_on(s))


def _page(request: Request, session, atena_no: str, *, error: str = "", status_code: int = 200, form=None):
    db, settings = get_db(request), get_settings(request)
    history = person_history(db, settings, actor=session.actor, atena_no=atena_no, purpose="接種券・証明書の確認")
    tickets = person_tickets(db, settings, actor=session.actor, atena_no=atena_no)
    certificates = person_certificates(db, actor=session.actor, atena_no=atena_no)
    response = render(request, "tickets.html", {
        "p": history.person, "tickets": tickets, "certificates": certificates, "lines": _lines(db),
        # Only what this person's age and sex make possible now or within a year (no 高齢者インフルエンザ for a baby).
        "open_lines": [e for e in history.eligibility if is_open(e, history.as_of)],
        "reissue_reasons": REISSUE_REASONS, "requests": request_data(), "error": error, "form": form or {},
    }, status_code=status_code)
    response.headers.update(NO_STORE)
    return response


@router.get("/persons/{atena_no}/tickets")
def tickets_page(request: Request, atena_no: AtenaNo, session=Depends(require("person.view"))):
    request.state.back_url = f"/persons/{atena_no}"
    return _page(request, session, atena_no)


def _refused(request, session, atena_no, e: DomainError, form):
    # The person page again with the reason; a person who does not exist or is out of scope makes
    # person_history raise the same error again, answered (and recorded) by the app's handlers.
    return _page(request, session, atena_no, error=e.message, status_code=400 if isinstance(e, InvalidInput) else 409,
                 form=form)


@router.post("/persons/{atena_no}/tickets/issue")
def issue_page(request: Request, atena_no: AtenaNo, form: Annotated[dict, Depends(form_data)],
               session=Depends(require("ticket.issue"))):
    request.state.back_url = f"/persons/{atena_no}/tickets"
    try:
        issued = issue_for_move_in(get_db(request), get_settings(request), actor=session.actor, atena_no=atena_no,
                                   vaccine=form.get("vaccine", ""),
                                   history_confirmed=form.get("history_confirmed") in ("1", "on"))
    except DomainError as e:
        return _refused(request, session, atena_no, e, form)
    return _pdf(issued.pdf.content, f"接種券_{atena_no}_{issued.ticket_no}.pdf")


@router.post("/persons/{atena_no}/tickets/reissue")
def reissue_page(request: Request, atena_no: AtenaNo, form: Annotated[dict, Depends(form_data)],
                 session=Depends(require("ticket.issue"))):
    request.state.back_url = f"/persons/{atena_no}/tickets"
    try:
        issued = reissue(get_db(request), get_settings(request), actor=session.actor, atena_no=atena_no,
                         vaccine=form.get("vaccine", ""), reason=form.get("reason", ""))
    except DomainError as e:
        return _refused(request, session, atena_no, e, form)
    return _pdf(issued.pdf.content, f"接種券_再発行_{atena_no}_{issued.ticket_no}.pdf")


@router.post("/persons/{atena_no}/certificate")
def certificate_page(request: Request, atena_no: AtenaNo, form: Annotated[dict, Depends(form_data)],
                     session=Depends(require("certificate.issue"))):
    request.state.back_url = f"/persons/{atena_no}/tickets"
    try:
        issued = issue_certificate(get_db(request), get_settings(request), actor=session.actor, atena_no=atena_no,
                                   request=CertificateRequest(
                                       requested_by=form.get("requested_by", ""),
                                       relationship=form.get("relationship", ""),
                                       identity_method=form.get("identity_method", ""),
                                       kind=form.get("kind", "history"), vaccine=form.get("vaccine") or None),
                                   shc=form.get("shc") in ("1", "on"))
    except DomainError as e:
        return _refused(request, session, atena_no, e, form)
    return _pdf(issued.pdf.content, f"証明書_{issued.issue_no}.pdf")


# --- notice batches ----------------------------------------------------------------------------------------
def background(app) -> BackgroundJobs:
    return app.state.background_jobs


def _start(app, job_id: int, actor, *, resumed: bool) -> bool:
    db, settings = app.state.db, app.state.settings
    return background(app).start(job_id, lambda: continue_notices(db, settings, actor=actor, job_id=job_id,
                                                                  resumed=resumed))


def resume_notice_batches(app) -> list[int]:
    """At server start: the batches a stopped server left running are taken up again (as the server's
    OS account, on record as job.resume)."""
    jobs = interrupted_background_runs(app.state.db)
    for job_id in jobs:
        _start(app, job_id, os_actor(), resumed=True)
    return jobs


def _owns(job: dict, actor) -> bool:
    """A batch's files are its starter's: another staff member's batch is answered like a missing one."""
    return actor.kind == "os" or job["created_by"] == actor.label


def _notices_page(request: Request, actor, *, error: str = "", form=None, status_code: int = 200):
    runs = background(request.app)
    jobs = [j | {"running": _running(runs, j)} for j in list_jobs(get_db(request), kind=KIND, limit=200)
            if _owns(j, actor)][:30]
    return render(request, "notices.html", {"jobs": jobs, "lines": _lines(get_db(request)), "error": error,
                                            "form": form or {},
                                            "today": today_jst()}, status_code=status_code)


@router.get("/notices")
def notices_page(request: Request, session=Depends(require("notice.run"))):
    return _notices_page(request, session.actor)


@router.post("/notices")
def notices_run(request: Request, form: Annotated[dict, Depends(form_data)], session=Depends(require("notice.run"))):
    settings = get_settings(request)
    try:
        as_of = parse_optional_date(form.get("as_of", ""), "基準日") or today_jst()
        raw = form.get("within", "0").strip() or "0"
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 3):
            raise InvalidInput("期間は0〜999日で指定してください")
        within = int(raw)
        vaccine = form.get("vaccine", "")
        out = settings.var_dir / "notices" / f"{vaccine.upper()}_{as_of:%Y%m%d}_{within}"
        opened = open_notices(get_db(request), settings, actor=session.actor, vaccine=vaccine, as_of=as_of,
                              within_days=within, out_dir=out)
        if not _owns(job_status(get_db(request), opened.job_id), session.actor):
            raise Conflict(f"同じ条件の個別通知（処理番号 {opened.job_id}）は別の職員が作成しています。"
                           "その職員に依頼してください")
    except NoTask:
        raise  # the app answers 403 and puts the refusal on record
    except DomainError as e:
        return _notices_page(request, session.actor, error=e.message, form=form, status_code=400)
    if opened.status != "done":
        # An earlier start of this selection that stopped (not running here) is taken up again.
        _start(request.app, opened.job_id, session.actor, resumed=opened.resumed)
    return RedirectResponse(f"/notices/jobs/{opened.job_id}", status_code=303)


def _running(runs: BackgroundJobs, job: dict) -> bool:
    """Being printed: by a thread of this process, or by another server worker (the job moved lately)."""
    if job["status"] == "done":
        return False
    quiet = utcnow() - datetime.fromisoformat(job["updated_at"])
    return runs.running(job["id"]) or quiet < ACTIVE_WITHIN


def _job(request: Request, job_id: int, actor) -> dict:
    try:
        job = job_status(get_db(request), job_id)
    except NotFound:
        job = {"kind": None}
    if job["kind"] != KIND or not _owns(job, actor):
        raise NotFound(f"個別通知の処理（{job_id}）はありません")
    runs = background(request.app)
    total = job["total_units"]
    return job | {"running": _running(runs, job), "error": runs.error(job_id),
                  "percent": 100 if job["status"] == "done" else (job["done_units"] * 100 // total if total else 0)}


@router.get("/notices/jobs/{job_id}")
def notice_job_page(request: Request, job_id: int, session=Depends(require("notice.run"))):
    request.state.back_url = "/notices"
    return render(request, "notice_job.html", {"job": _job(request, job_id, session.actor)})


@router.post("/notices/jobs/{job_id}/resume")
def notice_job_resume(request: Request, job_id: int, session=Depends(require("notice.run"))):
    job = _job(request, job_id, session.actor)
    if job["status"] != "done":  # also when it looks busy elsewhere: the job row's lock shares the chunks
        _start(request.app, job_id, session.actor, resumed=True)
    return RedirectResponse(f"/notices/jobs/{job_id}", status_code=303)


def _persons_in(job: dict, name: str) -> int:
    """Persons in the job's n-th PDF: every file holds chunk_size persons (one chunk), the last the rest."""
    index = sorted(f["name"] for f in job["result"]["files"]).index(name)
    return max(0, min(job["chunk_size"], job["total_units"] - index * job["chunk_size"]))


@router.get("/notices/jobs/{job_id}/files/{name}")
def notice_file(request: Request, job_id: int, name: Annotated[str, Path(max_length=120)],
                session=Depends(require("notice.run"))):
    """A PDF of the batch, for its starter to print (logged as a print). The mailing list is not here:
    it leaves only as the encrypted ZIP (notice_mailing_export)."""
    request.state.back_url = f"/notices/jobs/{job_id}"
    job = _job(request, job_id, session.actor)
    names = {f["name"]: f["sha256"] for f in job["result"].get("files", [])}
    if name not in names:  # only the job's own PDFs, by exact name: no path ever comes from the URL
        raise NotFound("指定のファイルはありません")
    content = _read(job, name)
    detail = {"job_id": job_id, "file": name, "channel": "download", "vaccine": job["params"]["vaccine"],
              "as_of": job["params"]["as_of"]}
    with get_db(request).transaction() as s:
        persons = _persons_in(job, name)
        log_print(s, session.actor, document=DOCUMENT, purpose=PURPOSE, rows=persons,
                  sha256=hashlib.sha256(content).hexdigest(), detail=detail | {"pages": 2 * persons})
    return Response(content=content, media_type="application/pdf", headers={
        **NO_STORE, "Content-Disposition": f"attachment; filename=\"{name}\""})


def _read(job: dict, name: str) -> bytes:
    path = FsPath(job["result"]["out_dir"]) / name
    if not path.is_file():
        raise NotFound("ファイルが出力先にありません（移動・削除された可能性があります）")
    return path.read_bytes()


@router.post("/notices/jobs/{job_id}/mailing.zip")
def notice_mailing_export(request: Request, job_id: int, form: Annotated[dict, Depends(form_data)],
                          session=Depends(require("person.export")), _terminal=Depends(require_export_terminal)):
    """The mailing list (names, addresses, 宛名番号, ticket numbers): only as the audited AES ZIP, only to
    an export terminal, only for the batch's starter holding person.export."""
    request.state.back_url = f"/notices/jobs/{job_id}"
    job = _job(request, job_id, session.actor)
    if not job["result"].get("mailing_csv"):
        raise NotFound("発送一覧はまだ作成されていません")
    try:
        check_password(form.get("password", "")[:200], form.get("password_confirmation", "")[:200])
        with get_db(request).transaction() as s:
            exported = export_csv(s, session.actor, action="notices.mailing_export",
                                  csv_text=_read(job, mailing_name(job["params"])).decode("utf-8-sig"),
                                  rows=job["result"].get("persons", 0),
                                  purpose=form.get("purpose", "")[:200], password=form.get("password", "")[:200],
                                  stem=f"mailing_{job_id}", detail={"job_id": job_id,
                                                                    "vaccine": job["params"]["vaccine"]})
    except InvalidInput as e:
        return render(request, "notice_job.html", {"job": job, "error": e.message}, status_code=400)
    return Response(content=exported.content, media_type=exported.media_type, headers={
        **NO_STORE, "Content-Disposition": f"attachment; filename=\"{exported.filename}\""})
