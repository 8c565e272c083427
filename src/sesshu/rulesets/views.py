"""/rulesets: a supervisor uploads a rule file (特措法 campaign, amendment, city settings), reads the check and
preview, and files the activation request with a reason — the same service as `sesshu campaign check|propose`.
A second supervisor decides on /approvals."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from sesshu.domain.errors import DomainError
from sesshu.domain.schedule.upload import sha256_of
from sesshu.rulesets.service import MAX_FILE, RuleFileInvalid, list_rule_sets, preview, propose
from sesshu.web.deps import form_data, get_db, get_settings, render, require

router = APIRouter(include_in_schema=False)


def _page(request: Request, session, *, status_code: int = 200, **ctx):
    rows = list_rule_sets(get_db(request), actor=session.actor)
    return render(request, "rulesets.html", {"rows": rows, "error": "", "problems": [], "p": None, "text": "",
                                             "reason": "", "notice": "", **ctx}, status_code=status_code)


@router.get("/rulesets")
def rulesets_home(request: Request, session=Depends(require("rule_set.propose"))):
    return _page(request, session, notice="申請しました。別の上長が「承認申請」で承認すると適用されます。"
                 if request.query_params.get("notice") == "proposed" else "")


@router.post("/rulesets/check")
async def rulesets_check(request: Request, session=Depends(require("rule_set.propose"))):
    """Validate and preview the uploaded file; nothing changes (the look at verdicts is audited)."""
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(request, session, error="ルールファイル（YAML）を選んでください", status_code=400)
    try:
        raw = await upload.read(MAX_FILE + 1)  # the service refuses a larger file with its message
    finally:
        await upload.close()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _page(request, session, error="ルールファイルは UTF-8 で保存してください", status_code=400)
    return await run_in_threadpool(_checked, request, session, text, str(form.get("reason", "")))


def _checked(request: Request, session, text: str, reason: str, *, error: str = "", status_code: int = 200):
    # The text goes back in the form to be proposed: line ends as a browser posts them (LF), so the
    # SHA-256 shown here is the one of the version stored.
    text = text.replace("\r\n", "\n")
    try:
        p = preview(get_db(request), actor=session.actor, raw=text)
    except RuleFileInvalid as e:
        return _page(request, session, error="ルールファイルに誤りがあります。何も変更していません。",
                     problems=[str(x) for x in e.problems], status_code=422)
    except DomainError as e:
        return _page(request, session, error=e.message, status_code=400)
    return _page(request, session, p=p, d=p.as_dict(), text=text, reason=reason, error=error, status_code=status_code)


@router.post("/rulesets/propose")
def rulesets_propose(request: Request, form: Annotated[dict, Depends(form_data)],
                     session=Depends(require("rule_set.propose"))):
    """File the activation request for the text that was checked (its SHA-256 must be the one shown)."""
    text, reason = form.get("text", "").replace("\r\n", "\n"), form.get("reason", "").strip()
    if sha256_of(text) != form.get("sha256", ""):  # not the text that was checked and shown: check again
        return _checked(request, session, text, reason, error="確認した内容と申請する内容が一致しません。表示された内容を確認してください",
                        status_code=409)
    if not reason:
        return _checked(request, session, text, reason, error="申請理由（通知名・決定日など）を入力してください",
                        status_code=400)
    try:
        propose(get_db(request), get_settings(request), actor=session.actor, raw=text, reason=reason)
    except RuleFileInvalid as e:
        return _page(request, session, error="ルールファイルに誤りがあります。何も変更していません。",
                     problems=[str(x) for x in e.problems], status_code=422)
    except DomainError as e:
        return _checked(request, session, text, reason, error=e.message, status_code=400)
    return RedirectResponse("/rulesets?notice=proposed", status_code=303)
