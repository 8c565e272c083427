"""Pages of 委託料の支払い for the billing staff: months, a month's figures and returns, downloads,
copay-exemption decisions, and the requests (close reopen, manual exemption) that need an approval."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from sesshu.approvals import service as approvals
from sesshu.billing import outputs
from sesshu.billing.claims import reconcile
from sesshu.billing.imports import UPLOAD_KINDS, import_upload
from sesshu.billing.models import MONTH_STATUSES
from sesshu.billing.service import close_month, list_months, month_overview, run_month
from sesshu.billing.subsidy import decide_by_matching, decisions
from sesshu.domain.errors import DomainError, InvalidInput
from sesshu.domain.wareki import parse_optional_date
from sesshu.web.deps import form_data, get_db, get_settings, render, require

router = APIRouter(include_in_schema=False)

Month = Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
InstitutionCode = Annotated[str, Path(pattern=r"^[0-9A-Za-z]{1,20}$")]
ImportKind = Annotated[str, Path(pattern=r"^(tax|claims|accounts)$")]
IMPORT_COLUMNS = {"tax": "年度, 宛名番号, 世帯番号, 課税区分（課税/非課税）, 生活保護（有/無）",
                  "claims": "請求月, 医療機関コード, 接種種別, 件数, 金額",
                  "accounts": "医療機関コード, 銀行コード, 銀行名, 支店コード, 支店名, 預金種目（普通/当座/貯蓄）, 口座番号, 口座名義カナ"}
BILLING_KINDS = ("billing_month_reopen", "subsidy_override")
NOTICES = {"run": "計算しました。", "closed": "締めました。", "reopen": "締めの解除を申請しました（承認後に解除されます）。",
           "decided": "突合して判定しました。", "override": "手動の判定を申請しました（承認後に反映されます）。"}


def _my_requests(request: Request, session) -> list:
    rows = approvals.list_approvals(get_db(request), actor=session.actor, limit=50)
    return [a for a in rows if a.kind in BILLING_KINDS]


@router.get("/billing")
def billing_home(request: Request, session=Depends(require("billing.view")),
                 notice: Annotated[str, Query(max_length=20)] = ""):
    months = list_months(get_db(request), actor=session.actor)
    return render(request, "billing_months.html", {"months": months, "statuses": MONTH_STATUSES,
                                                  "notice": NOTICES.get(notice, ""),
                                                  "requests": _my_requests(request, session)})


@router.post("/billing/run")
def billing_run(request: Request, form: Annotated[dict, Depends(form_data)], session=Depends(require("billing.run"))):
    request.state.back_url = "/billing"
    month = form.get("month", "").strip()
    transfer_date = parse_optional_date(form.get("transfer_date", ""), "振込指定日")
    if transfer_date is None:
        raise InvalidInput("振込指定日を入力してください")
    result = run_month(get_db(request), actor=session.actor, month=month, transfer_date=transfer_date)
    return RedirectResponse(f"/billing/{result.month}?notice=run", status_code=303)


@router.get("/billing/subsidies")
def subsidy_page(request: Request, session=Depends(require("billing.view")),
                 notice: Annotated[str, Query(max_length=20)] = ""):
    rows = decisions(get_db(request), actor=session.actor)
    return render(request, "billing_subsidies.html", {"rows": rows, "notice": NOTICES.get(notice, "")})


@router.post("/billing/subsidies")
def subsidy_decide(request: Request, form: Annotated[dict, Depends(form_data)], session=Depends(require("billing.run"))):
    request.state.back_url = "/billing/subsidies"
    decide_by_matching(get_db(request), actor=session.actor, atena_no=form.get("atena_no", ""),
                       fiscal_year=form.get("fiscal_year", ""))
    return RedirectResponse("/billing/subsidies?notice=decided", status_code=303)


@router.post("/billing/subsidies/override")
def subsidy_override(request: Request, form: Annotated[dict, Depends(form_data)],
                     session=Depends(require("billing.run"))):
    request.state.back_url = "/billing/subsidies"
    approvals.request_approval(get_db(request), get_settings(request), actor=session.actor, kind="subsidy_override",
                               raw={"atena_no": form.get("atena_no", ""), "fiscal_year": form.get("fiscal_year", ""),
                                    "outcome": form.get("outcome", "")}, reason=form.get("reason", ""))
    return RedirectResponse("/billing/subsidies?notice=override", status_code=303)


def _imports_page(request: Request, *, result=None, kind: str = "", error: str = "", status_code: int = 200):
    return render(request, "billing_imports.html", {
        "kinds": {k: label for k, (label, _fn) in UPLOAD_KINDS.items()}, "columns": IMPORT_COLUMNS,
        "result": result, "kind": kind, "error": error}, status_code=status_code)


@router.get("/billing/imports")
def billing_imports(request: Request, session=Depends(require("billing.run"))):
    return _imports_page(request)


@router.post("/billing/imports/{kind}")
async def billing_import_upload(request: Request, kind: ImportKind, session=Depends(require("billing.run"))):
    """One file, whole or not at all, through the import the command runs (audited there)."""
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _imports_page(request, kind=kind, error="取り込むCSVファイルを選んでください", status_code=400)
    try:
        result = await run_in_threadpool(import_upload, get_db(request), get_settings(request), actor=session.actor,
                                         kind=kind, file_name=upload.filename, stream=upload.file)
    except DomainError as e:
        return _imports_page(request, kind=kind, error=e.message, status_code=400)
    finally:
        await upload.close()
    return _imports_page(request, result=result, kind=kind, status_code=422 if result.refused else 200)


@router.get("/billing/{month}")
def billing_month(request: Request, month: Month, session=Depends(require("billing.view")),
                  notice: Annotated[str, Query(max_length=20)] = "",
                  page: Annotated[int, Query(ge=1, le=100000)] = 1):
    request.state.back_url = "/billing"
    db = get_db(request)
    overview = month_overview(db, actor=session.actor, month=month)
    done = overview.job_status == "done"
    returns, total = (outputs.view_returns(db, actor=session.actor, month=month, page=page,
                                           per_page=outputs.RETURNS_PER_PAGE) if done else ([], 0))
    differences = reconcile(db, actor=session.actor, month=month) if done else []
    pages = max(1, -(-total // outputs.RETURNS_PER_PAGE))
    return render(request, "billing_month.html", {"o": overview, "returns": returns, "differences": differences,
                                                 "returns_total": total, "page": min(page, pages), "pages": pages,
                                                 "statuses": MONTH_STATUSES, "notice": NOTICES.get(notice, "")})


@router.post("/billing/{month}/close")
def billing_close(request: Request, month: Month, session=Depends(require("billing.run"))):
    request.state.back_url = f"/billing/{month}"
    close_month(get_db(request), actor=session.actor, month=month)
    return RedirectResponse(f"/billing/{month}?notice=closed", status_code=303)


@router.post("/billing/{month}/reopen")
def billing_reopen(request: Request, month: Month, form: Annotated[dict, Depends(form_data)],
                   session=Depends(require("billing.run"))):
    request.state.back_url = f"/billing/{month}"
    approvals.request_approval(get_db(request), get_settings(request), actor=session.actor, kind="billing_month_reopen",
                               raw={"month": month}, reason=form.get("reason", ""))
    return RedirectResponse(f"/billing/{month}?notice=reopen", status_code=303)


def _file(out: outputs.Output, media_type: str) -> Response:
    return Response(out.content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{out.name}"'})


@router.get("/billing/{month}/statements/{code}.pdf")
def billing_statement(request: Request, month: Month, code: InstitutionCode, session=Depends(require("billing.view"))):
    request.state.back_url = f"/billing/{month}"
    out = outputs.print_statement(get_db(request), actor=session.actor, month=month, institution_code=code,
                                  municipality=get_settings(request).municipality_name)
    return _file(out, "application/pdf")


@router.get("/billing/{month}/returns.pdf")
def billing_returns_pdf(request: Request, month: Month, session=Depends(require("billing.view"))):
    request.state.back_url = f"/billing/{month}"
    out = outputs.print_returns(get_db(request), actor=session.actor, month=month,
                                municipality=get_settings(request).municipality_name)
    return _file(out, "application/pdf")


@router.get("/billing/{month}/summary.csv")
def billing_summary(request: Request, month: Month, session=Depends(require("billing.view"))):
    request.state.back_url = f"/billing/{month}"
    return _file(outputs.download_summary(get_db(request), actor=session.actor, month=month), "text/csv; charset=utf-8")


@router.get("/billing/{month}/zengin.txt")
def billing_zengin(request: Request, month: Month, session=Depends(require("billing.run"))):
    request.state.back_url = f"/billing/{month}"
    return _file(outputs.download_zengin(get_db(request), actor=session.actor, month=month), "application/octet-stream")
