"""Request dependencies: the session from its cookie, one permission per route, CSRF on every unsafe method.

Every route declares what it needs through `authenticated` (any signed-in staff member) or
`require(permission)`; both carry a `sesshu_permission` attribute so a test can walk all routes and
check every role against `sesshu.auth.permissions.ROLES`.
"""
from __future__ import annotations

import hmac
import secrets
import time
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from sesshu.auth import service as auth
from sesshu.auth.permissions import PERMISSIONS, ROLES, has_permission, role_permissions
from sesshu.auth.service import SessionInfo
from sesshu.clock import utcnow
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.keys import load_keyring

SESSION_COOKIE = "sesshu_session"
LOGIN_CSRF_COOKIE = "sesshu_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Before a session exists the login form is protected by a signed double-submit token instead.
PRE_SESSION_CSRF_PATHS = frozenset({"/login"})
LOGIN_CSRF_MAX_AGE = 2 * 60 * 60


class LoginRequired(Exception):
    """No session, or the second factor is still missing: pages redirect to /login, the API answers 401."""


class ReauthRequired(Exception):
    """The session's last proof of both factors is too old for this action: pages go to /reauth and
    come back to `next_url`, the API (and fetch calls asking for JSON) answer 401 E_REAUTH_REQUIRED."""

    def __init__(self, next_url: str):
        super().__init__(next_url)
        self.next_url = next_url

    @property
    def reauth_url(self) -> str:
        return "/reauth?" + urlencode({"next": self.next_url})


class PasswordChangeRequired(Exception):
    """The password is older than password_max_age_days: nothing but the change page until it is changed."""


# Reachable with an expired password: the change page itself and signing out.
PASSWORD_CHANGE_PATH = "/account/password"
PASSWORD_EXPIRED_PATHS = frozenset({PASSWORD_CHANGE_PATH, "/logout"})


class PermissionDenied(Exception):
    def __init__(self, permission: str):
        super().__init__(permission)
        self.permission = permission


class CsrfFailed(Exception):
    pass


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def wants_json(request: Request) -> bool:
    """The API, and the pages' own fetch calls (they ask for JSON)."""
    return is_api(request) or "application/json" in request.headers.get("accept", "")


def safe_next(value: str | None) -> str:
    """A local path to return to after re-authentication; anything else (other hosts, schemes,
    protocol-relative or backslash tricks, control characters) becomes "/": no open redirect."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def load_session(request: Request) -> SessionInfo | None:
    """The live session for this request's cookie, looked up once per request."""
    if not hasattr(request.state, "session"):
        token = request.cookies.get(SESSION_COOKIE, "")
        request.state.session = (auth.current_session(get_db(request), get_settings(request), token=token)
                                 if token else None)
        if token and request.state.session is None:
            # Forged, replayed after sign-out, or timed out: on record, and the cookie is cleared in the answer.
            request.state.session_rejected = True
            auth.record_session_rejected(get_db(request), client=request.client.host if request.client else "",
                                         path=request.url.path)
    return request.state.session


def session_or_none(request: Request) -> SessionInfo | None:
    return load_session(request)


OptionalSession = Annotated[SessionInfo | None, Depends(session_or_none)]


def authenticated(request: Request, session: OptionalSession) -> SessionInfo:
    if session is None or not session.mfa_passed:
        raise LoginRequired()
    if session.password_expired and request.url.path not in PASSWORD_EXPIRED_PATHS:
        raise PasswordChangeRequired()
    return session


authenticated.sesshu_permission = ""  # any signed-in staff member, whatever the role

CurrentSession = Annotated[SessionInfo, Depends(authenticated)]


def require(permission: str):
    """A dependency that lets the request through only when the user's role grants `permission`."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission}")

    def dependency(request: Request, session: CurrentSession) -> SessionInfo:
        if not has_permission(session.role, permission):
            auth.record_access_denied(get_db(request), actor=session.actor, permission=permission,
                                      path=request.url.path, method=request.method)
            raise PermissionDenied(permission)
        return session

    dependency.sesshu_permission = permission
    dependency.__name__ = "require_" + permission.replace(".", "_")
    return dependency


def _return_path(request: Request) -> str:
    """Where to come back to after /reauth: this page for a GET; for a form post or a fetch call, the
    nearest page at or above its address (POST /persons/1001/mynumber/reveal → /persons/1001), where
    the user repeats the action."""
    from starlette.routing import Match

    if request.method == "GET":
        query = f"?{request.url.query}" if request.url.query else ""
        return safe_next(request.url.path + query)
    path = request.url.path.rstrip("/")
    while path:
        scope = {**request.scope, "method": "GET", "path": path}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            return safe_next(path)
        path = path.rsplit("/", 1)[0]
    return "/"


def require_recent_auth(max_age_minutes: int | None = None):
    """A dependency for sensitive actions (My Number reveal, exports, passkey changes…): the user must
    have proved password + second factor within `max_age_minutes` (default: settings.reauth_minutes).
    Use it next to the route's `require(permission)`, after it, so a missing permission stays a 403."""

    def dependency(request: Request, session: CurrentSession) -> SessionInfo:
        limit = max_age_minutes if max_age_minutes is not None else get_settings(request).reauth_minutes
        if session.reauth_at is None or utcnow() - session.reauth_at > timedelta(minutes=limit):
            raise ReauthRequired(_return_path(request))
        return session

    dependency.__name__ = "require_recent_auth"
    return dependency


RecentAuth = Annotated[SessionInfo, Depends(require_recent_auth())]


def route_permission(route) -> str | None:
    """What a route declares: a permission name, "" for any signed-in user, or None for a public route."""
    found: str | None = None

    def walk(dependant) -> None:
        nonlocal found
        for dep in dependant.dependencies:
            declared = getattr(dep.call, "sesshu_permission", None)
            if declared:
                found = declared
            elif declared == "" and found is None:
                found = ""
            walk(dep)

    walk(route.dependant)
    return found


# --- CSRF -------------------------------------------------------------------------------------------

async def form_data(request: Request) -> dict[str, str]:
    """The posted form as plain strings (files are not accepted anywhere)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def submitted_csrf_token(request: Request) -> str:
    if request.method not in UNSAFE_METHODS:
        return ""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def same_origin(request: Request) -> bool:
    """A state-changing request must come from this site's own pages: its Origin (or, where a browser
    sends none, its Referer) names this origin. A request with neither (a script, an old client) is left
    to the token check; "null" (a sandboxed frame, a file:// page) is refused."""
    own = f"{request.url.scheme}://{request.url.netloc}".lower()
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.strip().lower() == own
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}".lower() == own
    return True


def csrf_protect(request: Request, submitted: Annotated[str, Depends(submitted_csrf_token)]) -> None:
    """Installed on the whole app: no unsafe request reaches a route without the right token."""
    if request.method not in UNSAFE_METHODS:
        return
    if not same_origin(request):
        raise CsrfFailed()
    if request.url.path in PRE_SESSION_CSRF_PATHS:
        expected = login_csrf_from_cookie(request)
    else:
        session = load_session(request)
        if session is None:
            raise LoginRequired()
        expected = session.csrf_token
    if not expected or not submitted or not secrets.compare_digest(expected.encode(), submitted.encode()):
        raise CsrfFailed()


def _login_csrf_signature(settings: Settings, nonce: str, issued: str) -> str:
    return load_keyring(settings).keyed_hash(f"{nonce}.{issued}", domain="login_csrf")


def issue_login_csrf(settings: Settings) -> tuple[str, str]:
    """(token for the form, value for the cookie). The cookie is signed so it cannot be planted."""
    nonce, issued = secrets.token_urlsafe(24), str(int(time.time()))
    return nonce, f"{nonce}.{issued}.{_login_csrf_signature(settings, nonce, issued)}"


def login_csrf_from_cookie(request: Request) -> str:
    parts = request.cookies.get(LOGIN_CSRF_COOKIE, "").split(".")
    if len(parts) != 3:
        return ""
    nonce, issued, signature = parts
    if not (issued.isascii() and issued.isdigit()) or time.time() - int(issued) > LOGIN_CSRF_MAX_AGE:
        return ""
    if not hmac.compare_digest(signature, _login_csrf_signature(get_settings(request), nonce, issued)):
        return ""
    return nonce


# --- cookies ----------------------------------------------------------------------------------------

def _cookie_flags(settings: Settings) -> dict[str, Any]:
    return {"httponly": True, "samesite": "strict", "secure": settings.secure_cookies}


def set_session_cookie(response, settings: Settings, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, path="/", **_cookie_flags(settings))


def clear_session_cookie(response, settings: Settings) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", **_cookie_flags(settings))


def set_login_csrf_cookie(response, settings: Settings, value: str) -> None:
    response.set_cookie(LOGIN_CSRF_COOKIE, value, path="/login", max_age=LOGIN_CSRF_MAX_AGE,
                        **_cookie_flags(settings))


def clear_login_csrf_cookie(response, settings: Settings) -> None:
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login", **_cookie_flags(settings))


# --- rendering --------------------------------------------------------------------------------------

def render(request: Request, template: str, context: dict | None = None, *, status_code: int = 200,
           session: SessionInfo | None = None) -> HTMLResponse:
    session = session if session is not None else getattr(request.state, "session", None)
    signed_in = session if session is not None and session.mfa_passed else None
    ctx = {
        "user": signed_in,
        "role_label": ROLES.get(signed_in.role, {}).get("label", "") if signed_in else "",
        "perms": role_permissions(signed_in.role) if signed_in else frozenset(),
        "csrf_token": session.csrf_token if session is not None else "",
        "municipality_name": get_settings(request).municipality_name,
    }
    ctx["menu"] = _menu(request, signed_in) if signed_in else []
    ctx.update(context or {})
    from sesshu.preferences.service import date_style
    from sesshu.web.dates import DATE_STYLE

    # Dates in the user's style (和暦 or 西暦 first): the template is rendered right here.
    token = DATE_STYLE.set(date_style(get_db(request), signed_in.user_id if signed_in else None))
    try:
        return request.app.state.templates.TemplateResponse(request, template, ctx, status_code=status_code)
    finally:
        DATE_STYLE.reset(token)


def _menu(request: Request, signed_in: SessionInfo) -> list:
    """The pages this user may open (sesshu.web.menu), with their assigned 事務 where an item needs one."""
    from sesshu.web.menu import menu_for, needs_tasks

    tasks: frozenset[str] = frozenset()
    if needs_tasks(signed_in.role):
        from sesshu.access.service import scope_of

        with get_db(request).transaction() as s:
            tasks = scope_of(s, signed_in.actor).tasks
    return menu_for(signed_in.role, tasks)


def route_table(app) -> list[tuple[str, str, str | None]]:
    """(method, path, declared permission) for every API route of the app, included routers too."""
    from fastapi.routing import iter_route_contexts

    table = []
    for route in iter_route_contexts(app.routes):
        if not hasattr(route, "dependant"):
            continue  # static files, the OpenAPI schema
        for method in sorted(route.methods or ()):
            table.append((method, route.path, route_permission(route)))
    return table


# --- export terminals -------------------------------------------------------------------------------

class TerminalRefused(Exception):
    """This client is not one of the terminals allowed to write personal data to files."""


def _terminal_allowed(settings: Settings, client: str) -> bool:
    import ipaddress

    allowed = [part.strip() for part in settings.export_terminals.split(",") if part.strip()]
    if not allowed:
        return True
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in allowed)


def require_export_terminal(request: Request, session: CurrentSession) -> None:
    """Files with personal data only from the registered terminals (特定の端末に限定); refusals are on record."""
    client = request.client.host if request.client else ""
    if _terminal_allowed(get_settings(request), client):
        return
    from sesshu.audit import service as audit

    with get_db(request).transaction() as s:
        audit.record(s, session.actor, "export.terminal_refused", purpose="出力を許可されていない端末からの出力の試行",
                     detail={"client": client, "path": request.url.path})
    raise TerminalRefused()
