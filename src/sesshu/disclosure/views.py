"""Pages of 問合せ・開示・訂正・利用停止請求: the list with deadlines, the 受付票 form, one 受付票 with its
answer, the disclosure package, the correction and the suspension."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response

from sesshu.disclosure import service as disclosure
from sesshu.disclosure.package import disclosure_package
from sesshu.domain.errors import DomainError, InvalidInput
from sesshu.domain.wareki import parse_optional_date
from sesshu.ledger.service import person_records
from sesshu.web.deps import form_data, get_db, get_settings, render, require
from sesshu.web.forms import CORRECTABLE_FIELDS, FIELD_LABELS, kept, parse_changes

router = APIRouter(include_in_schema=False)
InquiryId = Annotated[int, Path(ge=1, le=2**31 - 1)]
FIELDS = ("kind", "atena_no", "channel", "requester_name", "requester_relation", "identity_method", "question",
          "received_on", "covers_my_number")


def _version(form: dict) -> int:
    raw = form.get("expected_version", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise InvalidInput("版数が正しくありません。画面を開き直してください")
    return int(raw)


def _list(request: Request, session, *, v: dict | None = None, error: str = "", status_code: int = 200):
    rows = disclosure.list_inquiries(get_db(request), actor=session.actor, status=None)
    return render(request, "inquiries.html", {"rows": rows, "rules": disclosure.rules(), "v": v or {}, "error": error},
                  status_code=status_code)


@router.get("/inquiries")
def inquiries_page(request: Request, session=Depends(require("disclosure.manage"))):
    return _list(request, session)


@router.post("/inquiries")
def inquiry_receive(request: Request, form: Annotated[dict, Depends(form_data)],
                    session=Depends(require("disclosure.manage"))):
    v = {k: form.get(k, "")[:2000] for k in FIELDS}
    try:
        out = disclosure.receive(get_db(request), actor=session.actor, kind=v["kind"], atena_no=v["atena_no"],
                                 channel=v["channel"], requester_name=v["requester_name"],
                                 requester_relation=v["requester_relation"], identity_method=v["identity_method"],
                                 question=v["question"], covers_my_number=bool(form.get("covers_my_number")),
                                 received_on=parse_optional_date(v["received_on"] or None, "受付日"))
    except DomainError as e:
        return _list(request, session, v=v, error=e.message, status_code=400)
    return RedirectResponse(f"/inquiries/{out.id}", status_code=303)


def _inquiry_page(request: Request, session, inquiry_id: int, *, v: dict | None = None, error: str = "",
                  status_code: int = 200):
    request.state.back_url = "/inquiries"
    db = get_db(request)
    i = disclosure.get_inquiry(db, actor=session.actor, inquiry_id=inquiry_id)
    records, names = [], request.app.state.vaccines
    if i.kind == "correction" and i.status == "open":
        with db.transaction() as s:
            records = person_records(s, i.atena_no)
    return render(request, "inquiry.html", {
        "i": i, "records": records, "vaccine_names": names, "v": v or {}, "error": error,
        "fields": [(name, FIELD_LABELS[name]) for name in CORRECTABLE_FIELDS],
        "corrected": len([x for x in i.result_ref.split(",") if x.startswith("record:")])}, status_code=status_code)


@router.get("/inquiries/{inquiry_id}")
def inquiry_page(request: Request, inquiry_id: InquiryId, session=Depends(require("disclosure.manage"))):
    return _inquiry_page(request, session, inquiry_id)


def _back(inquiry_id: int) -> RedirectResponse:
    return RedirectResponse(f"/inquiries/{inquiry_id}", status_code=303)


@router.post("/inquiries/{inquiry_id}/answer")
def inquiry_answer(request: Request, inquiry_id: InquiryId, form: Annotated[dict, Depends(form_data)],
                   session=Depends(require("disclosure.manage"))):
    request.state.back_url = f"/inquiries/{inquiry_id}"
    disclosure.answer(get_db(request), actor=session.actor, inquiry_id=inquiry_id, expected_version=_version(form),
                      text=form.get("answer", ""))
    return _back(inquiry_id)


@router.post("/inquiries/{inquiry_id}/suspend")
def inquiry_suspend(request: Request, inquiry_id: InquiryId, session=Depends(require("disclosure.manage"))):
    request.state.back_url = f"/inquiries/{inquiry_id}"
    disclosure.suspend_use(get_db(request), actor=session.actor, inquiry_id=inquiry_id)
    return _back(inquiry_id)


@router.post("/inquiries/{inquiry_id}/correct")
def inquiry_correct(request: Request, inquiry_id: InquiryId, form: Annotated[dict, Depends(form_data)],
                    session=Depends(require("record.correct"))):
    """The correction a 訂正請求 asks for, through the ledger's own parsing (和暦, full-width, codes checked)
    and correction flow. An error is shown on the same page with what was typed."""
    request.state.back_url = f"/inquiries/{inquiry_id}"
    raw_id, _, raw_version = form.get("record", "").partition(":")
    field, value = form.get("field", ""), form.get("value", "")[:1000]
    try:
        if not all(x.isascii() and x.isdigit() and len(x) <= 9 for x in (raw_id, raw_version)):
            raise InvalidInput("訂正する接種記録を選んでください")
        if field not in CORRECTABLE_FIELDS:
            raise InvalidInput("訂正する項目を選んでください")
        disclosure.correct_by_request(get_db(request), get_settings(request), actor=session.actor,
                                      inquiry_id=inquiry_id, record_id=int(raw_id), expected_version=int(raw_version),
                                      changes=parse_changes({field: value}))
    except DomainError as e:
        return _inquiry_page(request, session, inquiry_id, v=kept(form, 1000), error=e.message, status_code=400)
    return _back(inquiry_id)


@router.get("/inquiries/{inquiry_id}/package.pdf")
def inquiry_package(request: Request, inquiry_id: InquiryId, session=Depends(require("disclosure.manage"))):
    request.state.back_url = f"/inquiries/{inquiry_id}"
    pdf = disclosure_package(get_db(request), get_settings(request), actor=session.actor, inquiry_id=inquiry_id)
    return Response(pdf.content, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="disclosure_{inquiry_id}.pdf"'})
