"""The web application: pages for staff and a JSON API, over the same services as the CLI."""
from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.datastructures import MutableHeaders
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.access.service import NoTask, OutOfScope
from sesshu.config import Settings, load_settings
from sesshu.db import make_database
from sesshu.domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from sesshu.domain.wareki import to_wareki
from sesshu.jobs.background import BackgroundJobs
from sesshu.ledger.reference import CATEGORIES, SCREENING_RESULTS, load_vaccine_data
from sesshu.registry.models import REGISTRY_STATUSES
from sesshu.web import views_access, views_account, views_api, views_auth, views_persons
from sesshu.web import views_approvals
from sesshu.web import views_mynumber
from sesshu.web import views_audit
from sesshu.pregnancy import views as pregnancy_views
from sesshu.web import views_conditions
from sesshu.tickets import views as tickets_views
from sesshu.billing import views as billing_views
from sesshu.web import dates, views_entry
from sesshu.web import views_imports
from sesshu.web import views_preferences
from sesshu.web import views_dashboard
from sesshu.linkage import views as linkage_views
from sesshu.retention import views as retention_views
from sesshu.disclosure import views as disclosure_views
from sesshu.relief import views as relief_views
from sesshu.venue import views as venue_views
from sesshu.counts import views as counts_views
from sesshu.away import views as away_views
from sesshu.fhir import views as fhir_views
from sesshu.ledger import views as ledger_views
from sesshu.web.deps import CsrfFailed, LoginRequired, PermissionDenied, csrf_protect, is_api, render
from sesshu.web.deps import TerminalRefused
from sesshu.web.deps import PASSWORD_CHANGE_PATH, PasswordChangeRequired, ReauthRequired, clear_session_cookie, wants_json
from sesshu.web.forms import FIELD_LABELS

WEB_DIR = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                                "base-uri 'none'; object-src 'none'"),
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: with it Chromium sends "Origin: null" on the site's own form POSTs and the Origin
    # check (deps.same_origin) refuses them. same-origin still sends no URL (宛名番号 in paths) elsewhere.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
# Only behind TLS: a browser that saw it over HTTPS refuses plain HTTP to this host for a year.
HSTS = "max-age=31536000; includeSubDomains"
DOMAIN_STATUS = ((InvalidInput, 400), (Forbidden, 403), (NotFound, 404), (Conflict, 409))
HTTP_MESSAGES = {
    404: "お探しのページは見つかりませんでした",
    405: "この操作はできません",
}


class SecurityHeaders:
    """Headers on every response; personal data must never sit in a browser or proxy cache."""

    def __init__(self, app, behind_tls: bool = False):
        self.app = app
        self.behind_tls = behind_tls

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        cacheable = scope["path"].startswith("/static/")

        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if self.behind_tls or scope.get("scheme") == "https":
                    headers["Strict-Transport-Security"] = HSTS
                if not cacheable:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # An unexpected error: a plain Japanese answer with these headers (never the exception text,
            # which may hold personal data); re-raised so the server still logs it.
            if not started:
                await _internal_error(scope)(scope, receive, send_with_headers)
            raise


INTERNAL_ERROR = "システムエラーが発生しました。画面を開き直してもう一度操作してください。続く場合はシステム管理者に連絡してください"


def _internal_error(scope) -> Response:
    if scope["path"].startswith("/api/"):
        return JSONResponse({"error": {"code": "E_INTERNAL", "message": INTERNAL_ERROR}}, status_code=500)
    page = (f'<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>エラー</title>'
            f'<link rel="stylesheet" href="/static/app.css"></head><body><main><section class="card narrow">'
            f'<h1>処理できませんでした</h1><p class="msg error" role="alert">{INTERNAL_ERROR}</p>'
            f'<p><a href="/">メニューに戻る</a></p></section></main></body></html>')
    return HTMLResponse(page, status_code=500)


def _templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(WEB_DIR / "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["wareki"] = lambda d: to_wareki(d) if isinstance(d, date) else ""
    env.filters["jdate_text"] = dates.jdate_text
    env.filters["jst"] = dates.jst
    env.globals["jst"] = dates.jst
    env.globals.update(date_pair=dates.date_pair, range_pair=dates.range_pair)
    env.globals.update(CATEGORIES=CATEGORIES, SCREENING_RESULTS=SCREENING_RESULTS,
                       REGISTRY_STATUSES=REGISTRY_STATUSES, FIELD_LABELS=FIELD_LABELS)
    return Jinja2Templates(env=env)


def _error_response(request: Request, status: int, message: str, code: str):
    if is_api(request):
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
    return render(request, "error.html", {"status": status, "message": message,
                                          "back_url": getattr(request.state, "back_url", None)},
                  status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError):
        status = next((code for kind, code in DOMAIN_STATUS if isinstance(exc, kind)), 400)
        if isinstance(exc, Conflict) and exc.current and is_api(request):  # the newer values, for the client
            return JSONResponse({"error": {"code": exc.code, "message": exc.message, "current": exc.current}},
                                status_code=status)
        return _error_response(request, status, exc.message, exc.code)

    @app.exception_handler(OutOfScope)
    @app.exception_handler(NoTask)
    async def out_of_scope(request: Request, exc: DomainError):
        # Refused reads of persons outside the user's 事務 are on record; the answer is the same as
        # for a person who does not exist.
        session = getattr(request.state, "session", None)
        if session is not None:
            access.record_refusal(request.app.state.db, actor=session.actor, exc=exc, path=request.url.path,
                                  method=request.method)
        status = 404 if isinstance(exc, OutOfScope) else 403
        return _error_response(request, status, exc.message, exc.code)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired):
        if is_api(request):
            response = JSONResponse({"error": {"code": "E_LOGIN_REQUIRED", "message": "ログインしてください"}},
                                    status_code=401)
        else:
            response = RedirectResponse("/login", status_code=303)
        if getattr(request.state, "session_rejected", False):
            clear_session_cookie(response, request.app.state.settings)
        return response

    @app.exception_handler(ReauthRequired)
    async def reauth_required(request: Request, exc: ReauthRequired):
        if wants_json(request):
            return JSONResponse({"error": {"code": "E_REAUTH_REQUIRED", "reauth_url": exc.reauth_url,
                                           "message": "この操作の前に、もう一度本人確認をしてください"}}, status_code=401)
        return RedirectResponse(exc.reauth_url, status_code=303)

    @app.exception_handler(PasswordChangeRequired)
    async def password_change_required(request: Request, exc: PasswordChangeRequired):
        if is_api(request):
            return JSONResponse({"error": {"code": "E_PASSWORD_EXPIRED",
                                           "message": "パスワードの有効期間が過ぎています。画面から変更してください"}},
                                status_code=403)
        return RedirectResponse(PASSWORD_CHANGE_PATH, status_code=303)

    @app.exception_handler(PermissionDenied)
    async def permission_denied(request: Request, exc: PermissionDenied):
        return _error_response(request, 403, "この操作を行う権限がありません", "E_FORBIDDEN")

    @app.exception_handler(TerminalRefused)
    async def terminal_refused(request: Request, exc: TerminalRefused):
        return _error_response(request, 403, "この端末からはファイルに出力できません。出力を許可された端末で操作してください",
                               "E_TERMINAL")

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed):
        session = getattr(request.state, "session", None)
        client = request.client.host if request.client else ""
        actor = session.actor if session is not None else Actor(login_id="(未ログイン)", kind="user", role="")
        with request.app.state.db.transaction() as s:
            audit.record(s, actor, "auth.csrf_failed", purpose="不正な送信の拒否",
                         detail={"path": request.url.path, "method": request.method, "client": client})
        return _error_response(request, 403, "不正な送信です。画面を開き直してからもう一度操作してください", "E_CSRF")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        if is_api(request):
            return JSONResponse({"error": {"code": "E_INVALID_INPUT", "message": "入力内容が正しくありません",
                                           "detail": jsonable_errors(exc)}}, status_code=422)
        return _error_response(request, 400, "入力内容が正しくありません", "E_INVALID_INPUT")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = HTTP_MESSAGES.get(exc.status_code, "要求を処理できませんでした")
        return _error_response(request, exc.status_code, message, f"E_HTTP_{exc.status_code}")


def jsonable_errors(exc: RequestValidationError) -> list[dict]:
    # Only where and what kind: the rejected input itself may be personal data.
    return [{"loc": list(e.get("loc", ())), "type": e.get("type", "")} for e in exc.errors()]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    db = make_database(settings)

    @asynccontextmanager
    async def lifespan(app_: FastAPI):
        # Notice batches a stopped server left half done continue in the background (kill-safe jobs).
        await run_in_threadpool(tickets_views.resume_notice_batches, app_)
        yield
        db.dispose()

    app = FastAPI(
        title="sesshu 予防接種台帳 API", version="1", lifespan=lifespan,
        # The interactive docs pull scripts from a CDN, which the CSP forbids. The schema is served to
        # signed-in staff only, at /api/v1/openapi.json (views_api): it maps the whole attack surface.
        docs_url=None, redoc_url=None, openapi_url=None,
        dependencies=[Depends(csrf_protect)],
    )
    app.state.settings = settings
    app.state.db = db
    app.state.background_jobs = BackgroundJobs()  # notice batches printed out of the request
    app.state.templates = _templates()
    app.state.vaccines = {v["code"]: v["name"] for v in load_vaccine_data()}
    # secure_cookies is set when sesshu runs behind the city's TLS terminator.
    app.add_middleware(views_imports.UploadLimit)
    app.add_middleware(SecurityHeaders, behind_tls=settings.secure_cookies)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    _install_error_handlers(app)
    app.include_router(views_auth.router)
    app.include_router(views_auth.health_router)
    app.include_router(views_account.router)
    app.include_router(views_approvals.router)  # before views_persons: /persons/new is not a 宛名番号
    app.include_router(views_persons.router)
    app.include_router(views_conditions.router)
    app.include_router(pregnancy_views.router)
    app.include_router(views_access.router)
    app.include_router(views_mynumber.router)
    app.include_router(views_audit.router)
    app.include_router(tickets_views.router)
    app.include_router(billing_views.router)
    app.include_router(ledger_views.router)
    app.include_router(views_entry.router)  # before views_persons: /records/new is not a record id
    app.include_router(views_imports.router)
    app.include_router(views_preferences.router)
    app.include_router(views_dashboard.router)
    app.include_router(linkage_views.router)
    app.include_router(retention_views.router)
    app.include_router(disclosure_views.router)
    app.include_router(relief_views.router)
    app.include_router(venue_views.router)
    app.include_router(counts_views.router)
    app.include_router(away_views.router)
    app.include_router(views_api.router)
    app.include_router(fhir_views.router)
    app.include_router(fhir_views.public_router)  # /.well-known/jwks.json, no session
    return app
