"""Pages of 健康被害救済: the case list and the claim form, one case with its timeline and the next
step, the correction of a recorded decision (sent for approval), and the monthly payment list with its
全銀 file. Only staff of the relief 事務 get past the service's check.

Every form keeps what was typed after an error and shows the error on the same page; Enter in a one-line
field does not submit (static/forms.js): a claim, a decision and a transfer file cannot be taken back."""
from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from sesshu.access import service as access
from sesshu.approvals import service as approvals
from sesshu.clock import today_jst
from sesshu.domain.errors import DomainError, InvalidInput
from sesshu.domain.text import clean
from sesshu.domain.wareki import parse_optional_date
from sesshu.relief import law
from sesshu.relief import service as relief
from sesshu.web.deps import form_data, get_db, get_settings, render, require, require_export_terminal
from sesshu.web.forms import kept

router = APIRouter(include_in_schema=False)
CaseId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ACCOUNT_FIELDS = ("bank_code", "bank_name", "branch_code", "branch_name", "account_type", "account_no",
                  "account_holder_kana")


def _digits(value: str, problem: str) -> int | None:
    value = clean(value or "").replace(" ", "")
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 9):
        raise InvalidInput(problem)
    return int(value)


def _list(request: Request, session, *, v: dict | None = None, error: str = "", status_code: int = 200):
    v = v or {}
    db = get_db(request)
    cases = relief.list_cases(db, actor=session.actor)
    records, record_error = [], ""
    if v.get("atena_no"):
        try:
            records = relief.claim_records(db, actor=session.actor, atena_no=v["atena_no"])
        except DomainError as e:
            if isinstance(e, access.OutOfScope):  # answered like an unknown number, but on record
                access.record_refusal(db, actor=session.actor, exc=e, path=request.url.path, method=request.method)
            record_error = e.message
    return render(request, "relief_cases.html", {"cases": cases, "rules": relief.rules(), "v": v, "error": error,
                                                 "records": records, "record_error": record_error},
                  status_code=status_code)


@router.get("/relief")
def relief_page(request: Request, session=Depends(require("relief.manage")),
                atena_no: Annotated[str, Query(max_length=20)] = ""):
    return _list(request, session, v={"atena_no": atena_no} if atena_no else None)


@router.post("/relief")
def relief_open(request: Request, form: Annotated[dict, Depends(form_data)],
                session=Depends(require("relief.manage"))):
    v = kept(form, 200)
    if form.get("action") == "records":  # 「接種記録を表示」: the same form again, with the person's records
        return _list(request, session, v=v)
    docs = [d for d in relief.rules()["documents"] if form.get(f"doc_{d}")]
    claimed = [k for k in relief.rules()["benefits"] if form.get(f"claim_{k}")]
    account = {k: form.get(k, "")[:60] for k in ACCOUNT_FIELDS}
    try:
        out = relief.open_case(get_db(request), actor=session.actor, atena_no=form.get("atena_no", "")[:20],
                               record_id=_digits(form.get("record_id", ""), "対象の接種記録を選び直してください"),
                               claimant_name=form.get("claimant_name", ""),
                               claimant_relation=form.get("claimant_relation", ""), claimed=claimed,
                               received_on=parse_optional_date(form.get("received_on") or None, "受付日") or today_jst(),
                               documents=docs, account=account)
    except DomainError as e:
        if isinstance(e, access.OutOfScope):  # answered like an unknown number, but on record
            access.record_refusal(get_db(request), actor=session.actor, exc=e, path=request.url.path,
                                  method=request.method)
        return _list(request, session, v=v, error=e.message, status_code=400)
    return RedirectResponse(f"/relief/{out.id}", status_code=303)


def _month_text(raw: str) -> str:
    from sesshu.domain.wareki import DateParseError, parse_month

    try:
        return parse_month(raw) if raw.strip() else f"{today_jst():%Y-%m}"
    except DateParseError as e:
        raise InvalidInput(f"支払月: {e}") from None


def _payments_page(request: Request, session, month_raw: str, *, error: str = "", status_code: int = 200,
                   v: dict | None = None):
    try:
        month = _month_text(month_raw)
    except InvalidInput as e:
        month, error, status_code = f"{today_jst():%Y-%m}", e.message, 400
    rows = relief.month_payments(get_db(request), actor=session.actor, month=month)
    return render(request, "relief_payments.html", {
        "rows": rows, "month": month, "total": sum(r.amount for r in rows), "nets": relief.case_totals(rows),
        "error": error, "v": v or {}},
        status_code=status_code)


@router.get("/relief/payments")
def relief_payments(request: Request, session=Depends(require("relief.manage")),
                    month: Annotated[str, Query(max_length=20)] = ""):
    return _payments_page(request, session, month)


@router.post("/relief/payments/zengin")
def relief_zengin(request: Request, form: Annotated[dict, Depends(form_data)],
                  session=Depends(require("person.export")), _terminal=Depends(require_export_terminal)):
    """The month's 全銀 file as the audited export: an AES-256 ZIP with the password typed here."""
    month_raw = form.get("month", "")[:20]
    v = {k: form.get(k, "")[:100] for k in ("transfer_date", "purpose")}
    try:
        month = _month_text(month_raw)
        transfer = parse_optional_date(form.get("transfer_date") or None, "振込指定日")
        if transfer is None:
            raise InvalidInput("振込指定日を入力してください")
        if form.get("password", "") != form.get("password_confirmation", ""):
            raise InvalidInput("パスワードと確認用のパスワードが一致しません")
        packed, name, _ = relief.zengin_for_month(get_db(request), actor=session.actor, month=month,
                                                  transfer_date=transfer, password=form.get("password", ""),
                                                  purpose=form.get("purpose", ""))
    except DomainError as e:
        return _payments_page(request, session, month_raw, error=e.message, status_code=400, v=v)
    filename = f"救済給付_全銀_{month.replace('-', '')}.zip"
    return Response(packed, media_type="application/zip",
                    headers={"Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(filename)}"})


def _case_page(request: Request, session, case_id: int, *, v: dict | None = None, error: str = "",
               correction: dict | None = None, correction_error: str = "", status_code: int = 200):
    request.state.back_url = "/relief"
    c = relief.get_case(get_db(request), actor=session.actor, case_id=case_id)
    open_pensions = [b for b in c.benefits if b.periodic and not b.cancelled]
    return render(request, "relief_case.html", {
        "c": c, "steps": relief.STEPS, "next": sorted(relief.NEXT.get(c.status, ())), "rules": relief.rules(),
        "today": today_jst(), "v": v or {}, "error": error, "correction": correction or {},
        "correction_error": correction_error, "open_pensions": open_pensions, "death_kinds": law.DEATH_BENEFITS,
        **_amount_hints(c)},
        status_code=status_code)


def _amount_hints(c) -> dict:
    """The legal maximum of each benefit as the decision form shows it: for a decision made now (a pension
    from next month, a death benefit at the date of death) and the 医療手当 amounts of this month."""
    if c.person_birth_date is None:
        return {"maxima": {}, "allowance_hint": ""}
    person = law.Person(birth_date=c.person_birth_date, died_on=c.person_died_on)
    nxt = relief._next_month(today_jst())
    return {"maxima": {k: law.maximum(k, c.vaccine_class, law.amount_date(k, nxt, person))
                       for k in relief.rules()["benefits"]},
            "allowance_hint": law.allowance_hint(c.vaccine_class, today_jst().replace(day=1))}


@router.get("/relief/{case_id}")
def relief_case(request: Request, case_id: CaseId, session=Depends(require("relief.manage"))):
    return _case_page(request, session, case_id)


@router.post("/relief/{case_id}/steps")
def relief_step(request: Request, case_id: CaseId, form: Annotated[dict, Depends(form_data)],
                session=Depends(require("relief.manage"))):
    step = form.get("step", "")
    detail: dict = {k: form.get(k, "")[:4000] for k in ("minutes", "result", "note", "decision", "reference",
                                                        "benefit_id", "last_month", "reason")}
    if step == "national_decision" and detail["decision"] == "certified":
        detail["benefits"] = [{"kind": k, "amount": form.get(f"amount_{k}", ""), "first_month": form.get(f"first_{k}") or None,
                               **({"outpatient_days": form.get("outpatient_days", "")[:10],
                                   "inpatient_days": form.get("inpatient_days", "")[:10]} if k == law.ALLOWANCE else {})}
                              for k in relief.rules()["benefits"] if form.get(f"amount_{k}", "").strip()]
    if step == "additional_claim":
        detail["benefits"] = [k for k in relief.rules()["benefits"] if form.get(f"add_{k}")]
    try:
        version = _digits(form.get("expected_version", ""), "版数が正しくありません。画面を開き直してください") or 0
        on = parse_optional_date(form.get("on_date") or None, "日付") or today_jst()
        relief.add_step(get_db(request), actor=session.actor, case_id=case_id, expected_version=version, step=step,
                        on_date=on, detail=detail)
    except DomainError as e:
        return _case_page(request, session, case_id, v=kept(form), error=e.message, status_code=400)
    return RedirectResponse(f"/relief/{case_id}", status_code=303)


@router.post("/relief/{case_id}/correction")
def relief_correction(request: Request, case_id: CaseId, form: Annotated[dict, Depends(form_data)],
                      session=Depends(require("relief.manage"))):
    """A correction of a recorded decision is not made here: it is requested, and another staff member
    approves it (承認申請). The approval carries it out and lists the 過誤調整."""
    raw = {"case_id": case_id, "benefit_id": form.get("benefit_id", ""), "amount": form.get("amount", "")[:20],
           "first_month": form.get("first_month", "")[:20], "cancel": form.get("cancel", ""),
           "outpatient_days": form.get("outpatient_days", "")[:10], "inpatient_days": form.get("inpatient_days", "")[:10]}
    try:
        req = approvals.request_approval(get_db(request), get_settings(request), actor=session.actor,
                                         kind="relief_decision_correction", raw=raw, reason=form.get("reason", ""))
    except DomainError as e:
        return _case_page(request, session, case_id, correction=kept(form), correction_error=e.message,
                          status_code=400)
    return RedirectResponse(f"/approvals/{req.id}", status_code=303)
