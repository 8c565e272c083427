"""セキュリティ責任者: which staff handle which 事務 (団体内統合宛名のアクセス制御)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse

from sesshu.access import service as access
from sesshu.access.tasks import DEPARTMENTS, TASKS
from sesshu.domain.errors import DomainError
from sesshu.domain.wareki import parse_optional_date
from sesshu.web.deps import form_data, get_db, render, require

router = APIRouter(include_in_schema=False)
NOTICES = {"assigned": "事務の担当を指定しました", "unassigned": "事務の担当を解除しました"}


def _page(request: Request, session, *, error: str = "", notice: str = "", form: dict | None = None,
          status_code: int = 200):
    rows = access.list_assignments(get_db(request), actor=session.actor)
    return render(request, "access_assignments.html", {
        "rows": rows, "tasks": TASKS, "departments": DEPARTMENTS, "error": error,
        "notice": NOTICES.get(notice, ""), "form": form or {}}, status_code=status_code)


@router.get("/admin/assignments")
def assignments_page(request: Request, session=Depends(require("user.manage")),
                     notice: Annotated[str, Query(max_length=20)] = ""):
    return _page(request, session, notice=notice)


@router.post("/admin/assignments")
def assign_submit(request: Request, form: Annotated[dict, Depends(form_data)],
                  session=Depends(require("user.manage"))):
    try:
        valid_until = parse_optional_date(form.get("valid_until", ""), "有効期限")
        access.assign(get_db(request), actor=session.actor, login_id=form.get("login_id", ""),
                      task_code=form.get("task_code", ""), department=form.get("department", ""),
                      valid_until=valid_until)
    except DomainError as e:
        return _page(request, session, error=e.message, form=form, status_code=400)
    return RedirectResponse("/admin/assignments?notice=assigned", status_code=303)


@router.post("/admin/assignments/remove")
def unassign_submit(request: Request, form: Annotated[dict, Depends(form_data)],
                    session=Depends(require("user.manage"))):
    try:
        access.unassign(get_db(request), actor=session.actor, login_id=form.get("login_id", ""),
                        task_code=form.get("task_code", ""))
    except DomainError as e:
        return _page(request, session, error=e.message, status_code=400)
    return RedirectResponse("/admin/assignments?notice=unassigned", status_code=303)
