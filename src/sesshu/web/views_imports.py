"""Pages: upload a 予診票 CSV, follow the import's progress, download the rows that were refused."""
from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from sesshu.domain.errors import InvalidInput
from sesshu.ledger.rows import RECORD_COLUMN_HELP, RECORD_HEADERS, RECORD_REQUIRED, SAMPLE_ROWS
from sesshu.imports.uploads import MAX_UPLOAD_BYTES, SHOWN_REJECTS, ImportJobs, recent_batches
from sesshu.web.deps import get_db, get_settings, render, require, require_export_terminal

router = APIRouter(include_in_schema=False)
UPLOAD_PATH = "/imports/records"
BILLING_UPLOAD_PREFIX = "/billing/imports/"  # 地方税関係情報, clinics' claims, bank accounts (sesshu.billing.views)
JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,40}$")]
KINDS = {"records": "予診票", "registry": "住基", "institutions": "医療機関", "doctors": "医師", "venues": "実施場所",
         "manufacturers": "ワクチン会社"}


def jobs(request: Request) -> ImportJobs:
    """The job state is in the database; this object only starts the import threads."""
    if not hasattr(request.app.state, "import_jobs"):
        request.app.state.import_jobs = ImportJobs()
    return request.app.state.import_jobs


def _attachment(filename: str, ascii_name: str) -> dict:
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"}


class UploadLimit:
    """Refuses an upload larger than MAX_UPLOAD_BYTES before it is read (Content-Length), and stops
    one that turns out larger while streaming. Only the upload routes accept a file at all."""

    def __init__(self, app, max_bytes: int = MAX_UPLOAD_BYTES + 64 * 1024):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not (
                scope["path"] == UPLOAD_PATH or scope["path"].startswith(BILLING_UPLOAD_PREFIX)):
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await _too_large(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise InvalidInput("ファイルが大きすぎます")
            return message

        return await self.app(scope, limited, send)


async def _too_large(scope, receive, send):
    mb = MAX_UPLOAD_BYTES // (1024 * 1024)
    page = (f'<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>ファイルが大きすぎます</title>'
            f'<link rel="stylesheet" href="/static/app.css"></head><body><main><section class="card narrow">'
            f'<h1>取り込めませんでした</h1><p class="msg error" role="alert">ファイルが大きすぎます（{mb}MBまで）。'
            f'分割して取り込んでください</p><p><a href="/imports">取込の画面に戻る</a></p></section></main></body></html>')
    await HTMLResponse(page, status_code=413)(scope, receive, send)


def _page(request: Request, session, *, error: str = "", status_code: int = 200):
    return render(request, "imports.html", {
        "columns": [(h, h in RECORD_REQUIRED, RECORD_COLUMN_HELP.get(h, "")) for h in RECORD_HEADERS],
        "error": error,
        "jobs": [j.as_dict() for j in jobs(request).mine(get_db(request), get_settings(request), session.actor)],
        "batches": recent_batches(get_db(request)), "KINDS": KINDS, "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
    }, status_code=status_code)


@router.get("/imports/sample.csv")
def sample_file(request: Request, session=Depends(require("record.import"))):
    """The 予診票 CSV layout with two made-up rows (no personal data), in CP932 as clinics send it."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(RECORD_HEADERS)
    w.writerows(SAMPLE_ROWS)
    return Response(content=buf.getvalue().encode("cp932"), media_type="text/csv; charset=shift_jis",
                    headers=_attachment("予診票_見本.csv", "sample.csv"))


@router.get("/imports")
def imports_page(request: Request, session=Depends(require("record.import"))):
    return _page(request, session)


@router.post(UPLOAD_PATH)
async def upload_records(request: Request, session=Depends(require("record.import"))):
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(request, session, error="取り込む予診票のCSVファイルを選んでください", status_code=400)
    try:
        job = jobs(request).start(get_db(request), get_settings(request), actor=session.actor,
                                  file_name=upload.filename, stream=upload.file)
    except InvalidInput as e:
        return _page(request, session, error=e.message, status_code=400)
    finally:
        await upload.close()
    return RedirectResponse(f"/imports/jobs/{job.id}", status_code=303)


def _job_page(request: Request, job_id: str, session, *, error: str = "", status_code: int = 200):
    request.state.back_url = "/imports"
    db, settings = get_db(request), get_settings(request)
    job = jobs(request).get(db, job_id, session.actor, settings)
    return render(request, "import_job.html", {
        "job": job.as_dict(), "rejects": jobs(request).shown_rejects(db, settings, job_id, session.actor),
        "shown_limit": SHOWN_REJECTS, "error": error}, status_code=status_code)


@router.get("/imports/jobs/{job_id}")
def job_page(request: Request, job_id: JobId, session=Depends(require("record.import"))):
    return _job_page(request, job_id, session)


@router.get("/imports/jobs/{job_id}/status")
def job_status(request: Request, job_id: JobId, session=Depends(require("record.import"))):
    return JSONResponse(jobs(request).get(get_db(request), job_id, session.actor, get_settings(request)).as_dict())


@router.get("/imports/jobs/{job_id}/rejects")
def job_rejects(request: Request, job_id: JobId, session=Depends(require("record.import"))):
    """Line, 区分, reason and code only: no personal data, so a plain CSV."""
    request.state.back_url = f"/imports/jobs/{job_id}"
    filename, content = jobs(request).rejects(get_db(request), get_settings(request), job_id, session.actor)
    return Response(content=content, media_type="text/csv; charset=utf-8", headers=_attachment(filename, "rejects.csv"))


@router.post("/imports/jobs/{job_id}/rejects.zip")
def job_rejects_export(request: Request, job_id: JobId,
                       purpose: Annotated[str, Form(max_length=100)] = "",
                       password: Annotated[str, Form(max_length=200)] = "",
                       password_confirmation: Annotated[str, Form(max_length=200)] = "",
                       session=Depends(require("person.export")), _terminal=Depends(require_export_terminal)):
    """The full refused rows (personal data): only as the encrypted ZIP of sesshu.exports."""
    request.state.back_url = f"/imports/jobs/{job_id}"
    try:
        exported = jobs(request).export_rejects(get_db(request), get_settings(request), job_id, session.actor,
                                                purpose=purpose, password=password,
                                                password_confirmation=password_confirmation)
    except InvalidInput as e:
        return _job_page(request, job_id, session, error=e.message, status_code=400)
    return Response(content=exported.content, media_type=exported.media_type,
                    headers=_attachment(exported.filename, "rejects.zip"))
