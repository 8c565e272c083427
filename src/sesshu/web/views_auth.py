"""Sign-in (ID + password, then a passkey or — where allowed — a TOTP code), sign-out and the home menu."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse

from sesshu.auth import passkeys
from sesshu.auth import service as auth
from sesshu.auth.service import AuthError
from sesshu.domain.errors import DomainError
from sesshu.web.deps import (
    CurrentSession,
    OptionalSession,
    clear_login_csrf_cookie,
    clear_session_cookie,
    get_db,
    get_settings,
    issue_login_csrf,
    render,
    set_login_csrf_cookie,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)
health_router = APIRouter()


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def json_error(e: DomainError, status_code: int = 400) -> JSONResponse:
    """Errors for the pages' fetch calls, in the API's shape."""
    return JSONResponse({"error": {"code": e.code, "message": e.message}}, status_code=status_code)


def _second_step(request: Request, session) -> str:
    """The sign-in page for the second factor: the passkey once the user has one."""
    factors = auth.second_factors(get_db(request), user_id=session.user_id)
    return "/login/passkey" if factors.passkeys or not factors.totp else "/login/totp"


def _login_page(request: Request, *, message: str = "", login_id: str = "", status_code: int = 200):
    settings = get_settings(request)
    token, cookie = issue_login_csrf(settings)
    response = render(request, "login.html", {"csrf_token": token, "message": message, "login_id": login_id},
                      status_code=status_code)
    set_login_csrf_cookie(response, settings, cookie)
    return response


@router.get("/login")
def login_form(request: Request, session: OptionalSession):
    if session is not None and session.mfa_passed:
        return RedirectResponse("/", status_code=303)
    return _login_page(request)


@router.post("/login")
def login_submit(request: Request, login_id: Annotated[str, Form(max_length=40)] = "",
                 password: Annotated[str, Form(max_length=200)] = ""):
    settings = get_settings(request)
    try:
        session = auth.login_password(get_db(request), login_id=login_id, password=password, client=_client(request))
    except AuthError as e:
        return _login_page(request, message=e.message, login_id=login_id, status_code=400)
    response = RedirectResponse(_second_step(request, session), status_code=303)
    set_session_cookie(response, settings, session.token)
    clear_login_csrf_cookie(response, settings)
    return response


@router.get("/login/totp")
def totp_form(request: Request, session: OptionalSession):
    if session is None:
        return RedirectResponse("/login", status_code=303)
    if session.mfa_passed:
        return RedirectResponse("/", status_code=303)
    factors = auth.second_factors(get_db(request), user_id=session.user_id)
    if not factors.totp:
        return RedirectResponse("/login/passkey", status_code=303)
    return render(request, "totp.html", {"message": "", "passkeys": factors.passkeys}, session=session)


@router.post("/login/totp")
def totp_submit(request: Request, session: OptionalSession, code: Annotated[str, Form(max_length=20)] = ""):
    if session is None:
        return RedirectResponse("/login", status_code=303)
    settings = get_settings(request)
    try:
        full = auth.login_totp(get_db(request), settings, token=session.token, code=code, client=_client(request))
    except AuthError as e:
        factors = auth.second_factors(get_db(request), user_id=session.user_id)
        return render(request, "totp.html", {"message": e.message, "passkeys": factors.passkeys}, session=session,
                      status_code=400)
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, settings, full.token)
    return response


@router.get("/login/passkey")
def passkey_form(request: Request, session: OptionalSession):
    if session is None:
        return RedirectResponse("/login", status_code=303)
    if session.mfa_passed:
        return RedirectResponse("/", status_code=303)
    factors = auth.second_factors(get_db(request), user_id=session.user_id)
    return render(request, "login_passkey.html", {"factors": factors}, session=session)


@router.post("/login/passkey/options")
def passkey_options(request: Request, session: OptionalSession):
    if session is None:
        return json_error(AuthError(passkeys.PASSKEY_FAILED), 401)
    try:
        return JSONResponse(passkeys.login_options(get_db(request), get_settings(request), token=session.token))
    except AuthError as e:
        return json_error(e, 400)


@router.post("/login/passkey/verify")
def passkey_verify(request: Request, session: OptionalSession, credential: Annotated[dict, Body(embed=True)]):
    if session is None:
        return json_error(AuthError(passkeys.PASSKEY_FAILED), 401)
    settings = get_settings(request)
    try:
        full = passkeys.login_passkey(get_db(request), settings, token=session.token, credential=credential,
                                      client=_client(request))
    except AuthError as e:
        return json_error(e, 400)
    response = JSONResponse({"redirect": "/"})
    set_session_cookie(response, settings, full.token)
    return response


@router.post("/logout")
def logout(request: Request, session: CurrentSession):
    settings = get_settings(request)
    auth.logout(get_db(request), token=session.token)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, settings)
    return response


@router.get("/")
def home(request: Request, session: CurrentSession):
    from sesshu.approvals.service import waiting_count
    from sesshu.web.views_dashboard import dashboard_context

    ctx = dashboard_context(request, session)
    ctx["waiting_approvals"] = waiting_count(get_db(request), actor=session.actor)
    return render(request, "home.html", ctx)


@health_router.get("/healthz")
def healthz(request: Request):
    """Liveness and database reachability; never any personal data."""
    try:
        with get_db(request).engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception:
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok"})
