"""The staff member's own account (passkeys, password), re-authentication for sensitive actions, and
the security officer's account pages (TOTP fallback, account lifecycle, periodic review)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse

from sesshu.auth import accounts, passkeys
from sesshu.auth import service as auth
from sesshu.auth.permissions import ROLES
from sesshu.auth.service import AuthError, SessionInfo
from sesshu.clock import today_jst
from sesshu.domain.errors import DomainError, InvalidInput
from sesshu.domain.wareki import parse_optional_date
from sesshu.web.deps import (
    PASSWORD_CHANGE_PATH,
    CurrentSession,
    form_data,
    get_db,
    get_settings,
    render,
    require,
    require_recent_auth,
    safe_next,
)
from sesshu.web.views_auth import _client, json_error

router = APIRouter(include_in_schema=False)

RecentSession = Annotated[SessionInfo, Depends(require_recent_auth())]
UserManager = Annotated[SessionInfo, Depends(require("user.manage"))]


# --- passkeys ---------------------------------------------------------------------------------------

def _passkeys_page(request: Request, session: SessionInfo, *, message: str = "", notice: str = "",
                   status_code: int = 200):
    db = get_db(request)
    return render(request, "passkeys.html", {
        "passkeys": passkeys.list_passkeys(db, user_id=session.user_id),
        "factors": auth.second_factors(db, user_id=session.user_id),
        "message": message, "notice": notice}, status_code=status_code)


@router.get("/account/passkeys")
def passkeys_page(request: Request, session: CurrentSession, done: str = ""):
    notice = {"registered": "パスキーを登録しました。次回から、ログインの2段階目でこの端末の生体認証を使います。",
              "removed": "パスキーを削除しました。"}.get(done, "")
    return _passkeys_page(request, session, notice=notice)


@router.post("/account/passkeys/options")
def passkeys_options(request: Request, session: RecentSession):
    try:
        return JSONResponse(passkeys.registration_options(get_db(request), get_settings(request),
                                                          token=session.token))
    except DomainError as e:
        return json_error(e, 400)


@router.post("/account/passkeys/verify")
def passkeys_verify(request: Request, session: RecentSession, credential: Annotated[dict, Body()],
                    label: Annotated[str, Body(max_length=200)] = ""):
    try:
        passkeys.register_passkey(get_db(request), get_settings(request), token=session.token, credential=credential,
                                  label=label, client=_client(request))
    except DomainError as e:
        return json_error(e, 409 if e.code == "E_CONFLICT" else 400)
    return JSONResponse({"redirect": "/account/passkeys?done=registered"})


@router.post("/account/passkeys/{passkey_id}/delete")
def passkeys_delete(request: Request, passkey_id: int, session: RecentSession):
    try:
        passkeys.remove_passkey(get_db(request), token=session.token, passkey_id=passkey_id, client=_client(request))
    except DomainError as e:
        status = {"E_NOT_FOUND": 404, "E_CONFLICT": 409}.get(e.code, 400)
        return _passkeys_page(request, session, message=e.message, status_code=status)
    return RedirectResponse("/account/passkeys?done=removed", status_code=303)


# --- password ---------------------------------------------------------------------------------------

@router.get(PASSWORD_CHANGE_PATH)
def password_page(request: Request, session: CurrentSession, done: str = ""):
    return render(request, "password_change.html", {
        "message": "", "expired": session.password_expired,
        "notice": "パスワードを変更しました。" if done else ""})


@router.post(PASSWORD_CHANGE_PATH)
def password_submit(request: Request, session: CurrentSession,
                    current: Annotated[str, Form(max_length=200)] = "", new: Annotated[str, Form(max_length=200)] = "",
                    confirm: Annotated[str, Form(max_length=200)] = ""):
    try:
        if new != confirm:
            raise AuthError("新しいパスワードと確認用の入力が一致しません")
        auth.change_password(get_db(request), get_settings(request), token=session.token, current=current, new=new,
                             client=_client(request))
    except DomainError as e:
        return render(request, "password_change.html", {"message": e.message, "expired": session.password_expired,
                                                        "notice": ""}, status_code=400)
    return RedirectResponse(PASSWORD_CHANGE_PATH + "?done=1", status_code=303)


# --- re-authentication ------------------------------------------------------------------------------

def _reauth_page(request: Request, session: SessionInfo, next_url: str, *, message: str = "",
                 status_code: int = 200):
    factors = auth.second_factors(get_db(request), user_id=session.user_id)
    return render(request, "reauth.html", {"next": next_url, "factors": factors, "message": message},
                  status_code=status_code)


@router.get("/reauth")
def reauth_page(request: Request, session: CurrentSession, next: Annotated[str, Query(max_length=2000)] = "/"):
    return _reauth_page(request, session, safe_next(next))


@router.post("/reauth")
def reauth_totp(request: Request, session: CurrentSession, password: Annotated[str, Form(max_length=200)] = "",
                code: Annotated[str, Form(max_length=20)] = "", next: Annotated[str, Form(max_length=2000)] = "/"):
    target = safe_next(next)
    try:
        auth.reauth_with_totp(get_db(request), get_settings(request), token=session.token, password=password,
                              code=code, client=_client(request))
    except AuthError as e:
        return _reauth_page(request, session, target, message=e.message, status_code=400)
    return RedirectResponse(target, status_code=303)


@router.post("/reauth/passkey/options")
def reauth_passkey_options(request: Request, session: CurrentSession):
    try:
        return JSONResponse(passkeys.reauth_options(get_db(request), get_settings(request), token=session.token))
    except AuthError as e:
        return json_error(e, 400)


@router.post("/reauth/passkey/verify")
def reauth_passkey_verify(request: Request, session: CurrentSession, credential: Annotated[dict, Body()],
                          password: Annotated[str, Body(max_length=200)] = "",
                          next: Annotated[str, Body(max_length=2000)] = "/"):
    try:
        passkeys.reauth_with_passkey(get_db(request), get_settings(request), token=session.token, password=password,
                                     credential=credential, client=_client(request))
    except AuthError as e:
        return json_error(e, 400)
    return JSONResponse({"redirect": safe_next(next)})


# --- security officer -------------------------------------------------------------------------------

_DONE = {"deactivated": "アカウントを停止しました。ログイン中のセッションも終了しました。",
         "reactivated": "アカウントを再び有効にしました。",
         "valid_until": "有効期限を変更しました。",
         "role": "役割を変更しました。ログイン中のセッションは終了し、次回のログインから新しい役割になります。"}


def _accounts_page(request: Request, session: SessionInfo, *, message: str = "", notice: str = "",
                   status_code: int = 200, issued=None, new: dict | None = None):
    rows = accounts.list_accounts(get_db(request), actor=session.actor)
    response = render(request, "admin_accounts.html", {
        "rows": rows, "message": message, "notice": notice, "roles": ROLES, "today": today_jst(),
        "self_login": session.login_id, "issued": issued, "new": new or {}, "TASKS": ACCOUNT_TASKS},
        status_code=status_code)
    if issued is not None:  # a one-time password on the page: never kept by the browser
        response.headers["Cache-Control"] = "no-store"
    return response


ACCOUNT_TASKS = {"": "（なし：個人の情報を扱わない）", "yobo_sesshu": "予防接種の事務",
                 "kenko_higai_kyusai": "健康被害救済の事務"}


@router.post("/admin/accounts/new")
def admin_create(request: Request, session: UserManager, _recent: RecentSession,
                 form: Annotated[dict, Depends(form_data)]):
    """A new account with a one-time password and its TOTP secret, shown once (audited as user.create)."""
    new = {k: str(form.get(k, ""))[:100] for k in ("login_id", "display_name", "role", "valid_until", "task",
                                                   "department")}
    try:
        if new["task"] not in ACCOUNT_TASKS:
            raise InvalidInput("担当する事務の指定が正しくありません")
        tasks = ((new["task"], new["department"].strip() or "健康づくり課"),) if new["task"] else ()
        issued = accounts.create_account(get_db(request), get_settings(request), actor=session.actor,
                                         login_id=new["login_id"], display_name=new["display_name"],
                                         role=new["role"], valid_until=parse_optional_date(new["valid_until"], "有効期限"),
                                         tasks=tasks)
    except DomainError as e:
        status = {"E_CONFLICT": 409}.get(e.code, 400)
        return _accounts_page(request, session, message=e.message, status_code=status, new=new)
    return _accounts_page(request, session, notice=f"{issued.login_id} を登録しました。", issued=issued)


@router.post("/admin/accounts/{login_id}/password-reset")
def admin_password_reset(request: Request, login_id: str, session: UserManager, _recent: RecentSession,
                         reason: Annotated[str, Form(max_length=400)] = ""):
    try:
        issued = accounts.reset_password(get_db(request), actor=session.actor, login_id=login_id, reason=reason)
    except DomainError as e:
        return _refused(request, session, e)
    return _accounts_page(request, session, notice=f"{login_id} のパスワードを再設定しました。", issued=issued)


def _refused(request: Request, session: SessionInfo, e: DomainError):
    status = {"E_NOT_FOUND": 404, "E_CONFLICT": 409, "E_FORBIDDEN": 403}.get(e.code, 400)
    return _accounts_page(request, session, message=e.message, status_code=status)


@router.get("/admin/accounts")
def admin_accounts(request: Request, session: UserManager, done: str = ""):
    notice = _DONE.get(done, "設定を変更しました。" if done else "")
    return _accounts_page(request, session, notice=notice)


@router.post("/admin/accounts/{login_id}/totp-fallback")
def admin_totp_fallback(request: Request, login_id: str, session: UserManager,
                        _recent: RecentSession, allowed: Annotated[str, Form()] = "",
                        reason: Annotated[str, Form(max_length=400)] = ""):
    db = get_db(request)
    try:
        if allowed not in ("1", "0"):
            raise AuthError("許可・停止のどちらかを選んでください")
        accounts.set_totp_fallback(db, actor=session.actor, login_id=login_id, allowed=allowed == "1",
                                   reason=reason)
    except DomainError as e:
        return _refused(request, session, e)
    return RedirectResponse("/admin/accounts?done=1", status_code=303)


# Account lifecycle (退職・休職・異動): each change needs a recent re-authentication and a reason.

@router.post("/admin/accounts/{login_id}/deactivate")
def admin_deactivate(request: Request, login_id: str, session: UserManager, _recent: RecentSession,
                     reason: Annotated[str, Form(max_length=400)] = ""):
    try:
        accounts.deactivate_account(get_db(request), actor=session.actor, login_id=login_id, reason=reason)
    except DomainError as e:
        return _refused(request, session, e)
    return RedirectResponse("/admin/accounts?done=deactivated", status_code=303)


@router.post("/admin/accounts/{login_id}/reactivate")
def admin_reactivate(request: Request, login_id: str, session: UserManager, _recent: RecentSession,
                     reason: Annotated[str, Form(max_length=400)] = ""):
    try:
        accounts.reactivate_account(get_db(request), actor=session.actor, login_id=login_id, reason=reason,
                                    today=today_jst())
    except DomainError as e:
        return _refused(request, session, e)
    return RedirectResponse("/admin/accounts?done=reactivated", status_code=303)


@router.post("/admin/accounts/{login_id}/valid-until")
def admin_valid_until(request: Request, login_id: str, session: UserManager, _recent: RecentSession,
                      valid_until: Annotated[str, Form(max_length=40)] = "",
                      reason: Annotated[str, Form(max_length=400)] = ""):
    """An empty date means no end date."""
    try:
        until = parse_optional_date(valid_until, "有効期限")
        accounts.set_valid_until(get_db(request), actor=session.actor, login_id=login_id, valid_until=until,
                                 reason=reason, today=today_jst())
    except DomainError as e:
        return _refused(request, session, e)
    return RedirectResponse("/admin/accounts?done=valid_until", status_code=303)


@router.post("/admin/accounts/{login_id}/role")
def admin_role(request: Request, login_id: str, session: UserManager, _recent: RecentSession,
               role: Annotated[str, Form(max_length=40)] = "", reason: Annotated[str, Form(max_length=400)] = ""):
    try:
        accounts.set_role(get_db(request), actor=session.actor, login_id=login_id, role=role, reason=reason)
    except DomainError as e:
        return _refused(request, session, e)
    return RedirectResponse("/admin/accounts?done=role", status_code=303)


@router.get("/admin/accounts/review")
def admin_review(request: Request, session: UserManager,
                 unused_days: Annotated[int, Query(ge=1, le=accounts.MAX_UNUSED_DAYS)] = accounts.DEFAULT_UNUSED_DAYS):
    review = accounts.review_accounts(get_db(request), actor=session.actor, unused_days=unused_days,
                                      today=today_jst())
    return render(request, "admin_review.html", {"review": review})
