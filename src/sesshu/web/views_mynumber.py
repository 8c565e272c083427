"""Pages of the My Number layer: showing the full number (reason required) and 個人番号確認.

The full number only ever travels in the body of a POST response (never in a URL, never cached).
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from sesshu.domain.errors import InvalidInput
from sesshu.mynumber.service import (
    CHECKS,
    DOCUMENTS,
    ITEMS,
    NUMBER_CHECKS,
    REVEAL_PURPOSES,
    Presented,
    reveal_my_number,
    verification_context,
    verify_my_number,
)
from sesshu.web.deps import form_data, get_db, get_settings, render, require, require_recent_auth

router = APIRouter(include_in_schema=False)

AtenaNo = Annotated[str, Path(pattern=r"^[0-9]{1,15}$")]
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}


def _checked(form: dict[str, str], name: str) -> bool:
    return form.get(name) in ("1", "on")


# Both reveal routes also need a recent re-authentication (password + second factor), after the
# permission check so a missing permission stays a 403.
@router.get("/persons/{atena_no}/mynumber/reveal")
def reveal_form(request: Request, atena_no: AtenaNo, session=Depends(require("person.reveal_my_number")),
                _recent=Depends(require_recent_auth())):
    request.state.back_url = f"/persons/{atena_no}"
    return _render_reveal(request, atena_no)


def _reveal_ctx(atena_no: str, **extra) -> dict:
    return {"atena_no": atena_no, "purposes": REVEAL_PURPOSES, "revealed": None, "error": "",
            "form": {}, **extra}


def _render_reveal(request: Request, atena_no: str, status_code: int = 200, **extra):
    response = render(request, "mynumber_reveal.html", _reveal_ctx(atena_no, **extra), status_code=status_code)
    response.headers.update(NO_STORE)
    return response


@router.post("/persons/{atena_no}/mynumber/reveal")
def reveal(request: Request, atena_no: AtenaNo, form: Annotated[dict, Depends(form_data)],
           session=Depends(require("person.reveal_my_number")), _recent=Depends(require_recent_auth())):
    request.state.back_url = f"/persons/{atena_no}"
    try:
        revealed = reveal_my_number(get_db(request), get_settings(request), actor=session.actor, atena_no=atena_no,
                                    purpose_code=form.get("purpose", ""), reason=form.get("reason", ""))
    except InvalidInput as e:
        return _render_reveal(request, atena_no, 400, error=e.message,
                              form={"purpose": form.get("purpose", ""), "reason": form.get("reason", "")})
    return _render_reveal(request, atena_no, revealed=revealed)


@router.get("/persons/{atena_no}/mynumber/verify")
def verify_form(request: Request, atena_no: AtenaNo, session=Depends(require("person.verify_my_number"))):
    request.state.back_url = f"/persons/{atena_no}"
    return _render_verify(request, atena_no, session)


def _render_verify(request: Request, atena_no: str, session, status_code: int = 200, **extra):
    context = verification_context(get_db(request), actor=session.actor, atena_no=atena_no)
    response = render(request, "mynumber_verify.html", {
        "p": context.person, "recent": context.recent, "documents": DOCUMENTS, "items": ITEMS, "checks": CHECKS,
        "number_checks": NUMBER_CHECKS, "result": None, "error": "", "form": {}, **extra,
    }, status_code=status_code)
    response.headers.update(NO_STORE)
    return response


@router.post("/persons/{atena_no}/mynumber/verify")
def verify(request: Request, atena_no: AtenaNo, form: Annotated[dict, Depends(form_data)],
           session=Depends(require("person.verify_my_number"))):
    request.state.back_url = f"/persons/{atena_no}"
    presented = Presented(
        number=form.get("number", ""), document=form.get("document", ""),
        identity_document=form.get("identity_document", ""),
        name=form.get("name", ""), name_confirmed=_checked(form, "name_confirmed"),
        birth_date=form.get("birth_date", ""), birth_date_confirmed=_checked(form, "birth_date_confirmed"),
        sex=form.get("sex", ""), sex_confirmed=_checked(form, "sex_confirmed"),
        address=form.get("address", ""), address_confirmed=_checked(form, "address_confirmed"))
    try:
        result = verify_my_number(get_db(request), get_settings(request), actor=session.actor, atena_no=atena_no,
                                  presented=presented)
    except InvalidInput as e:
        # What was typed comes back, except the number itself.
        kept = {k: v for k, v in form.items() if k not in ("number", "csrf_token")}
        return _render_verify(request, atena_no, session, 400, error=e.message, form=kept)
    return _render_verify(request, atena_no, session, result=result)
