"""Real Chromium with its virtual platform authenticator (CDP WebAuthn domain): a clerk registers a
passkey, signs out and signs in with password + passkey; an authenticator that does not verify the
user (no fingerprint/face/PIN) is refused. WebAuthn needs a secure context and an RP ID that is a
host name, so the page is opened as http://localhost:<port>, not 127.0.0.1."""
from __future__ import annotations

import dataclasses
import json
import time

import pyotp
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from sesshu.actor import Actor
from sesshu.audit.models import AuditEntry
from sesshu.auth.service import create_user
from sesshu.web.app import create_app
from tests.helpers import free_port, running_server

SETUP = Actor(login_id="setup", kind="os", role="operator")
PASSWORD = "kumagaya-Sesshu-2026"


@pytest.fixture
def localhost_server(settings, db):
    port = free_port()
    origin = f"http://localhost:{port}"
    app = create_app(dataclasses.replace(settings, webauthn_rp_id="localhost", webauthn_origin=origin))
    with running_server(app, port=port):
        yield origin


def _authenticator(page, *, verified: bool):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": verified, "automaticPresenceSimulation": True}})
    return cdp, added["authenticatorId"]


def _password_step(page, base):
    page.goto(base + "/login")
    page.get_by_label("職員ID").fill("passkey-clerk")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="次へ").click()


def _sign_in_with_totp_and_register(page, base, secret):
    _password_step(page, base)
    page.get_by_label("確認コード").fill(pyotp.TOTP(secret).at(time.time()))
    page.get_by_role("button", name="ログイン").click()
    page.goto(base + "/account/passkeys")
    page.get_by_label("名前（どの端末か分かるように）").fill("窓口PC")
    page.get_by_role("button", name="パスキーを登録する").click()


def test_register_passkey_then_sign_in_with_password_and_passkey(localhost_server, page, db, settings):
    base = localhost_server
    secret = create_user(db, settings, actor=SETUP, login_id="passkey-clerk", display_name="熊谷 次郎",
                         role="clerk", password=PASSWORD).totp_secret
    _authenticator(page, verified=True)
    _sign_in_with_totp_and_register(page, base, secret)
    expect(page.get_by_text("パスキーを登録しました")).to_be_visible()
    expect(page.get_by_role("cell", name="窓口PC")).to_be_visible()

    page.get_by_role("button", name="ログアウト").click()
    _password_step(page, base)
    expect(page).to_have_url(base + "/login/passkey")
    page.get_by_role("button", name="パスキーで認証する").click()
    expect(page.get_by_text("熊谷 次郎")).to_be_visible()
    expect(page).to_have_url(base + "/")


def test_authenticator_without_user_verification_is_refused(localhost_server, page, db, settings):
    base = localhost_server
    secret = create_user(db, settings, actor=SETUP, login_id="passkey-clerk", display_name="熊谷 次郎",
                         role="clerk", password=PASSWORD).totp_secret
    cdp, authenticator = _authenticator(page, verified=False)
    _sign_in_with_totp_and_register(page, base, secret)
    expect(page.locator("[data-passkey-messages] [role=alert]")).to_be_visible()
    expect(page.get_by_text("まだ登録されていません")).to_be_visible()

    # Registered with the fingerprint accepted; later the fingerprint is not recognised.
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": True})
    page.get_by_role("button", name="パスキーを登録する").click()
    expect(page.get_by_text("パスキーを登録しました")).to_be_visible()
    page.get_by_role("button", name="ログアウト").click()
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": False})
    _password_step(page, base)
    page.get_by_role("button", name="パスキーで認証する").click()
    expect(page.locator("[data-passkey-messages] [role=alert]")).to_contain_text("本人確認")
    expect(page).to_have_url(base + "/login/passkey")
    page.goto(base + "/")
    expect(page).to_have_url(base + "/login")
    # Chromium itself refuses a ceremony that requires user verification it cannot give, so nothing
    # reaches the server; the server-side refusal of an answer without the UV flag is in
    # tests/web/test_passkeys.py.
    with db.transaction() as s:
        logins = [json.loads(e.detail) for e in s.execute(
            select(AuditEntry).where(AuditEntry.action == "auth.login").order_by(AuditEntry.seq)).scalars()]
    assert [entry["factor"] for entry in logins] == ["totp"], logins
