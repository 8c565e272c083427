"""Pages of information linkage: the 副本 batches and provisions (/linkage), and a person's
照会 and 情報提供等記録 (/persons/{atena_no}/linkage). Thin over sesshu.linkage.service."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse

from sesshu.domain.errors import InvalidInput
from sesshu.linkage import service as linkage
from sesshu.web.deps import form_data, get_db, get_settings, render, require

router = APIRouter()

RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
AtenaNo = Annotated[str, Path(pattern=r"^[0-9]{1,15}$")]
NOTICES = {
    "prepared": "副本の登録を作成しました。別の職員が内容を確認してください",
    "checked": "確認しました。上長の承認をお待ちください（承認申請の画面）",
    "requested": "判断を申請しました。上長の承認をお待ちください",
}


def _version(form: dict[str, str]) -> int:
    raw = form.get("expected_version", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise InvalidInput("版数が正しくありません。画面を開き直してください")
    return int(raw)


@router.get("/linkage", include_in_schema=False)
def linkage_page(request: Request, session=Depends(require("linkage.view")),
                 notice: Annotated[str, Query(max_length=20)] = ""):
    db = get_db(request)
    return render(request, "linkage.html", {
        "batches": linkage.list_batches(db, actor=session.actor, limit=20),
        "provisions": linkage.list_provisions(db, actor=session.actor, limit=50),
        "inquiries": linkage.list_inquiries(db, actor=session.actor, limit=20),
        "notice": NOTICES.get(notice, ""), "body_id": get_settings(request).resolved_linkage_body_id})


@router.post("/linkage/batches", include_in_schema=False)
def prepare_page(request: Request, form: Annotated[dict, Depends(form_data)],
                 session=Depends(require("linkage.prepare"))):
    request.state.back_url = "/linkage"
    linkage.prepare_batch(get_db(request), actor=session.actor)
    return RedirectResponse("/linkage?notice=prepared", status_code=303)


@router.post("/linkage/batches/{batch_id}/check", include_in_schema=False)
def check_page(request: Request, batch_id: RowId, form: Annotated[dict, Depends(form_data)],
               session=Depends(require("linkage.prepare"))):
    request.state.back_url = "/linkage"
    approval_id = linkage.check_batch(get_db(request), get_settings(request), actor=session.actor, batch_id=batch_id,
                                      expected_version=_version(form))
    return RedirectResponse(f"/approvals/{approval_id}?notice=requested", status_code=303)


@router.post("/linkage/provisions/{provision_id}/decision", include_in_schema=False)
def decision_page(request: Request, provision_id: RowId, form: Annotated[dict, Depends(form_data)],
                  session=Depends(require("linkage.prepare"))):
    request.state.back_url = "/linkage"
    approval_id = linkage.request_manual_decision(get_db(request), get_settings(request), actor=session.actor,
                                                  provision_id=provision_id, decision=form.get("decision", ""),
                                                  reason=form.get("reason", ""))
    return RedirectResponse(f"/approvals/{approval_id}?notice=requested", status_code=303)


@router.get("/persons/{atena_no}/linkage", include_in_schema=False)
def person_linkage_page(request: Request, atena_no: AtenaNo, session=Depends(require("linkage.view")),
                        notice: Annotated[str, Query(max_length=20)] = ""):
    db = get_db(request)
    exchanges = linkage.exchanges_for_person(db, actor=session.actor, atena_no=atena_no)
    inquiries = [q for q in linkage.list_inquiries(db, actor=session.actor, limit=200) if q.atena_no == atena_no]
    return render(request, "linkage_person.html", {
        "atena_no": atena_no, "exchanges": exchanges, "inquiries": inquiries, "notice": NOTICES.get(notice, "")})


@router.post("/persons/{atena_no}/linkage/inquire", include_in_schema=False)
def inquire_page(request: Request, atena_no: AtenaNo, form: Annotated[dict, Depends(form_data)],
                 session=Depends(require("linkage.inquire"))):
    """The clerk files the inquiry's content; a supervisor approves it on /approvals before it is sent."""
    request.state.back_url = f"/persons/{atena_no}/linkage"
    out = linkage.request_inquiry(get_db(request), get_settings(request), actor=session.actor, atena_no=atena_no,
                                  provider=form.get("provider", "").strip(), purpose=form.get("purpose", ""))
    return RedirectResponse(f"/approvals/{out.id}?notice=requested", status_code=303)
