"""Page: the signed-in user's screen settings (how dates are shown)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse

from sesshu.preferences.service import DATE_STYLES, date_style, set_date_style
from sesshu.web.deps import CurrentSession, form_data, get_db, render

router = APIRouter(include_in_schema=False)


@router.get("/account/settings")
def settings_page(request: Request, session: CurrentSession,
                  saved: Annotated[str, Query(max_length=2)] = ""):
    return render(request, "account_settings.html", {
        "styles": DATE_STYLES, "current": date_style(get_db(request), session.user_id),
        "notice": "設定を保存しました" if saved else ""})


@router.post("/account/settings")
def settings_save(request: Request, form: Annotated[dict, Depends(form_data)], session: CurrentSession):
    request.state.back_url = "/account/settings"
    set_date_style(get_db(request), actor=session.actor, style=form.get("date_style", ""))
    return RedirectResponse("/account/settings?saved=1", status_code=303)
