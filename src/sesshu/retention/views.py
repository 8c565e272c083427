"""The 保存期間 page: what is due per category, and the request for a four-eyes erasure."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from sesshu.approvals import service as approvals
from sesshu.approvals.models import STATUSES, ApprovalRequest
from sesshu.clock import today_jst
from sesshu.domain.errors import DomainError
from sesshu.retention import service as retention
from sesshu.web.deps import form_data, get_db, get_settings, render, require

router = APIRouter(include_in_schema=False)


def _page(request: Request, session, *, error: str = "", status_code: int = 200, v: dict | None = None):
    db = get_db(request)
    categories = retention.due(db, actor=session.actor, today=today_jst())
    with db.transaction() as s:
        purges = s.query(ApprovalRequest).filter(ApprovalRequest.kind == retention.APPROVAL_KIND) \
            .order_by(ApprovalRequest.id.desc()).limit(20).all()
    return render(request, "retention.html", {"categories": categories, "purges": purges, "error": error,
                                              "today": today_jst(), "statuses": STATUSES, "v": v or {}},
                  status_code=status_code)


@router.get("/retention")
def retention_page(request: Request, session=Depends(require("retention.manage"))):
    return _page(request, session)


@router.post("/retention/request")
def retention_request(request: Request, form: Annotated[dict, Depends(form_data)],
                      session=Depends(require("retention.manage"))):
    try:
        out = approvals.request_approval(get_db(request), get_settings(request), actor=session.actor,
                                         kind=retention.APPROVAL_KIND, raw={"category": form.get("category", "")},
                                         reason=form.get("reason", ""))
    except DomainError as e:
        return _page(request, session, error=e.message, status_code=400,
                     v={"category": form.get("category", "")[:40], "reason": form.get("reason", "")[:400]})
    return RedirectResponse(f"/approvals/{out.id}?notice=requested", status_code=303)
