"""Pages and API of four-eyes approvals: requests, the approver's list, approve / reject / withdraw,
the 住登外者 registration form and the request to move a record to another person."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from sesshu.approvals import service as approvals
from sesshu.approvals.kinds import DuplicateSuspected
from sesshu.approvals.schemas import ApprovalDetail, ApprovalOut
from sesshu.domain.errors import DomainError, InvalidInput, NotFound
from sesshu.registry.models import SEXES
from sesshu.web.deps import form_data, get_db, get_settings, render, require

router = APIRouter()

ApprovalId = Annotated[int, Path(ge=1, le=2**31 - 1)]
NOTICES = {
    "requested": "申請しました。別の承認者（上長）の承認をお待ちください",
    "approved": "承認し、内容を反映しました",
    "rejected": "却下しました",
    "withdrawn": "申請を取り下げました",
}
NON_RESIDENT_FIELDS = ("name", "name_kana", "sex", "birth_date", "postal_code", "address", "phone", "my_number")


def _version(form: dict[str, str]) -> int:
    raw = form.get("expected_version", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):  # "²".isdigit() is true, int("²") fails
        raise InvalidInput("版数が正しくありません。画面を開き直してください")
    return int(raw)


# --- pages ------------------------------------------------------------------------------------------

@router.get("/approvals", include_in_schema=False)
def approvals_page(request: Request, session=Depends(require("approval.request"))):
    data = approvals.overview(get_db(request), actor=session.actor)
    return render(request, "approvals.html", {"to_decide": data.to_decide, "mine": data.mine,
                                              "may_decide": approvals.may_decide(session.actor)})


@router.get("/approvals/{approval_id}", include_in_schema=False)
def approval_page(request: Request, approval_id: ApprovalId, session=Depends(require("approval.request")),
                  notice: Annotated[str, Query(max_length=20)] = ""):
    request.state.back_url = "/approvals"
    return _approval_page(request, session, approval_id, notice=NOTICES.get(notice, ""))


def _approval_page(request: Request, session, approval_id: int, *, notice: str = "", error: str = "",
                   v: dict | None = None, status_code: int = 200):
    detail = approvals.get_approval(get_db(request), get_settings(request), actor=session.actor,
                                    approval_id=approval_id)
    return render(request, "approval.html", {"d": detail, "a": detail.approval, "notice": notice, "error": error,
                                             "v": v or {}}, status_code=status_code)


def _decided(request: Request, session, approval_id: int, action: str, form: dict, call):
    request.state.back_url = f"/approvals/{approval_id}"
    try:
        out = call()
    except approvals.ApprovalFailed:
        # The request is now closed as 処理不能; its page shows why.
        return RedirectResponse(f"/approvals/{approval_id}", status_code=303)
    except InvalidInput as e:  # e.g. a rejection without its reason: on the same page, the comment kept
        try:
            return _approval_page(request, session, approval_id, error=e.message, status_code=400,
                                  v={"action": action, "comment": form.get("comment", "")[:400]})
        except NotFound:  # a missing request, or one outside the user's 事務 (alike): the input error alone
            raise e from None
    return RedirectResponse(f"/approvals/{approval_id}?notice={out.status}", status_code=303)


@router.post("/approvals/{approval_id}/approve", include_in_schema=False)
def approve_page(request: Request, approval_id: ApprovalId, form: Annotated[dict, Depends(form_data)],
                 session=Depends(require("approval.decide"))):
    return _decided(request, session, approval_id, "approve", form, lambda: approvals.approve(
        get_db(request), get_settings(request), actor=session.actor, approval_id=approval_id,
        expected_version=_version(form), comment=form.get("comment", "")))


@router.post("/approvals/{approval_id}/reject", include_in_schema=False)
def reject_page(request: Request, approval_id: ApprovalId, form: Annotated[dict, Depends(form_data)],
                session=Depends(require("approval.decide"))):
    return _decided(request, session, approval_id, "reject", form, lambda: approvals.reject(
        get_db(request), get_settings(request), actor=session.actor, approval_id=approval_id,
        expected_version=_version(form), comment=form.get("comment", "")))


@router.post("/approvals/{approval_id}/withdraw", include_in_schema=False)
def withdraw_page(request: Request, approval_id: ApprovalId, form: Annotated[dict, Depends(form_data)],
                  session=Depends(require("approval.request"))):
    return _decided(request, session, approval_id, "withdraw", form, lambda: approvals.withdraw(
        get_db(request), actor=session.actor, approval_id=approval_id, expected_version=_version(form)))


@router.get("/persons/new", include_in_schema=False)
def non_resident_form(request: Request, session=Depends(require("approval.request"))):
    return render(request, "nonresident_form.html", {"v": {}, "error": "", "duplicates": (), "SEXES": SEXES})


@router.post("/persons/new", include_in_schema=False)
def non_resident_request(request: Request, form: Annotated[dict, Depends(form_data)],
                         session=Depends(require("approval.request"))):
    raw = {name: form.get(name, "")[:200] for name in NON_RESIDENT_FIELDS}
    raw["acknowledged"] = form.get("acknowledged", "").split(",") if form.get("distinct_confirmed") else []
    try:
        out = approvals.request_approval(get_db(request), get_settings(request), actor=session.actor,
                                         kind="non_resident_registration", raw=raw, reason=form.get("reason", ""))
    except DomainError as e:
        duplicates = e.atena_nos if isinstance(e, DuplicateSuspected) else ()
        # The form comes back filled in, except the 個人番号: it is typed again, never echoed.
        values = {k: v for k, v in raw.items() if k != "my_number"} | {"reason": form.get("reason", "")[:400]}
        return render(request, "nonresident_form.html", {"v": values, "error": e.message, "duplicates": duplicates,
                                                         "SEXES": SEXES}, status_code=400)
    return RedirectResponse(f"/approvals/{out.id}?notice=requested", status_code=303)


@router.post("/records/{record_id}/reassign", include_in_schema=False)
def reassign_request(request: Request, record_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                     form: Annotated[dict, Depends(form_data)], session=Depends(require("record.correct"))):
    atena_no = form.get("atena_no", "")
    request.state.back_url = f"/persons/{atena_no}#record-{record_id}" if atena_no.isdigit() else "/search"
    raw = {"record_id": record_id, "expected_version": form.get("expected_version", ""),
           "to_atena_no": form.get("to_atena_no", "")}
    out = approvals.request_approval(get_db(request), get_settings(request), actor=session.actor,
                                     kind="record_reassign", raw=raw, reason=form.get("reason", ""))
    return RedirectResponse(f"/approvals/{out.id}?notice=requested", status_code=303)


# --- JSON API ---------------------------------------------------------------------------------------

class DecisionIn(BaseModel):
    expected_version: int = Field(ge=1, description="画面で確認した申請の版数")
    comment: str = Field("", max_length=400, description="コメント（却下では必須）")


class WithdrawIn(BaseModel):
    expected_version: int = Field(ge=1)


@router.get("/api/v1/approvals", response_model=list[ApprovalOut], summary="承認申請の一覧", tags=["v1"])
def api_list(request: Request, session=Depends(require("approval.request")),
             status: Annotated[str, Query(max_length=12)] = ""):
    return approvals.list_approvals(get_db(request), actor=session.actor, status=status or None)


@router.get("/api/v1/approvals/{approval_id}", response_model=ApprovalDetail, summary="承認申請の内容", tags=["v1"])
def api_detail(request: Request, approval_id: ApprovalId, session=Depends(require("approval.request"))):
    return approvals.get_approval(get_db(request), get_settings(request), actor=session.actor,
                                  approval_id=approval_id)


@router.post("/api/v1/approvals/{approval_id}/approve", response_model=ApprovalOut, summary="承認", tags=["v1"])
def api_approve(request: Request, approval_id: ApprovalId, body: DecisionIn,
                session=Depends(require("approval.decide"))):
    return approvals.approve(get_db(request), get_settings(request), actor=session.actor, approval_id=approval_id,
                             expected_version=body.expected_version, comment=body.comment)


@router.post("/api/v1/approvals/{approval_id}/reject", response_model=ApprovalOut, summary="却下", tags=["v1"])
def api_reject(request: Request, approval_id: ApprovalId, body: DecisionIn,
               session=Depends(require("approval.decide"))):
    return approvals.reject(get_db(request), get_settings(request), actor=session.actor, approval_id=approval_id,
                            expected_version=body.expected_version, comment=body.comment)


@router.post("/api/v1/approvals/{approval_id}/withdraw", response_model=ApprovalOut, summary="申請の取下げ",
             tags=["v1"])
def api_withdraw(request: Request, approval_id: ApprovalId, body: WithdrawIn,
                 session=Depends(require("approval.request"))):
    return approvals.withdraw(get_db(request), actor=session.actor, approval_id=approval_id,
                              expected_version=body.expected_version)
