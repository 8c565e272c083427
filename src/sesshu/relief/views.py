"""Pages of 健康被害救済: the case list and the claim form, one case with its timeline and the next
step, and the monthly payment list. Only staff of the relief 事務 get past the service's check."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse

from sesshu.access import service as access
from sesshu.clock import today_jst
from sesshu.domain.errors import DomainError, InvalidInput
from sesshu.domain.wareki import parse_optional_date
from sesshu.relief import service as relief
from sesshu.web.deps import form_data, get_db, render, require

router = APIRouter(include_in_schema=False)
CaseId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _digits(value: str, label: str) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 9):
        raise InvalidInput(f"{label}は数字で入力してください")
    return int(value)


def _list(request: Request, session, *, v: dict | None = None, error: str = "", status_code: int = 200):
    cases = relief.list_cases(get_db(request), actor=session.actor)
    return render(request, "relief_cases.html", {"cases": cases, "rules": relief.rules(), "v": v or {},
                                                 "error": error}, status_code=status_code)


@router.get("/relief")
def relief_page(request: Request, session=Depends(require("relief.manage"))):
    return _list(request, session)


@router.post("/relief")
def relief_open(request: Request, form: Annotated[dict, Depends(form_data)],
                session=Depends(require("relief.manage"))):
    docs = [d for d in relief.rules()["documents"] if form.get(f"doc_{d}")]
    claimed = [k for k in relief.rules()["benefits"] if form.get(f"claim_{k}")]
    account = {k: form.get(k, "")[:60] for k in ("bank_code", "bank_name", "branch_code", "branch_name",
                                                  "account_type", "account_no", "account_holder_kana")}
    try:
        out = relief.open_case(get_db(request), actor=session.actor, atena_no=form.get("atena_no", "").strip()[:15],
                               record_id=_digits(form.get("record_id", ""), "接種記録番号"),
                               vaccine_class=form.get("vaccine_class", ""), claimant_name=form.get("claimant_name", ""),
                               claimant_relation=form.get("claimant_relation", ""), claimed=claimed,
                               received_on=parse_optional_date(form.get("received_on") or None, "受付日") or today_jst(),
                               documents=docs, account=account)
    except DomainError as e:
        if isinstance(e, access.OutOfScope):  # answered like an unknown number, but on record
            access.record_refusal(get_db(request), actor=session.actor, exc=e, path=request.url.path,
                                  method=request.method)
        return _list(request, session, v=dict(form), error=e.message, status_code=400)
    return RedirectResponse(f"/relief/{out.id}", status_code=303)


@router.get("/relief/payments")
def relief_payments(request: Request, session=Depends(require("relief.manage")),
                    month: Annotated[str, Query(max_length=7)] = ""):
    month = month or f"{today_jst():%Y-%m}"
    rows = relief.month_payments(get_db(request), actor=session.actor, month=month)
    return render(request, "relief_payments.html", {"rows": rows, "month": month,
                                                    "total": sum(r.amount for r in rows)})


@router.get("/relief/{case_id}")
def relief_case(request: Request, case_id: CaseId, session=Depends(require("relief.manage"))):
    request.state.back_url = "/relief"
    c = relief.get_case(get_db(request), actor=session.actor, case_id=case_id)
    return render(request, "relief_case.html", {"c": c, "steps": relief.STEPS, "next": sorted(relief.NEXT.get(c.status, ())),
                                                "rules": relief.rules(), "today": today_jst()})


@router.post("/relief/{case_id}/steps")
def relief_step(request: Request, case_id: CaseId, form: Annotated[dict, Depends(form_data)],
                session=Depends(require("relief.manage"))):
    request.state.back_url = f"/relief/{case_id}"
    step = form.get("step", "")
    detail: dict = {k: form.get(k, "")[:4000] for k in ("minutes", "result", "note", "decision", "reference",
                                                        "benefit_id", "last_month", "reason")}
    if step == "national_decision" and detail["decision"] == "certified":
        detail["benefits"] = [{"kind": k, "amount": form.get(f"amount_{k}", ""), "first_month": form.get(f"first_{k}") or None}
                              for k in relief.rules()["benefits"] if form.get(f"amount_{k}", "").strip()]
    version = _digits(form.get("expected_version", ""), "版数") or 0
    on = parse_optional_date(form.get("on_date") or None, "日付") or today_jst()
    relief.add_step(get_db(request), actor=session.actor, case_id=case_id, expected_version=version, step=step,
                    on_date=on if isinstance(on, date) else today_jst(), detail=detail)
    return RedirectResponse(f"/relief/{case_id}", status_code=303)
