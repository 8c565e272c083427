"""A clerk signs in with password and TOTP, finds a child by kana and opens the history."""
from __future__ import annotations

import time

import pyotp
from playwright.sync_api import expect

from sesshu.actor import Actor
from sesshu.auth.service import create_user
from sesshu.ledger.models import Institution
from sesshu.ledger.service import import_records
from sesshu.registry.service import import_registry
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, my_number, write

SETUP = Actor(login_id="setup", kind="os", role="operator")
PASSWORD = "kumagaya-Sesshu-2026"


def _city(db, settings, tmp_path):
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          f"1001,{my_number('12345678901')},山田 太郎,ヤマダ タロウ,男,2023-04-10,360-0001,熊谷市本町1-1,,,,,,,\n"
          "1002,,<script>alert(1)</script>,ヤマダ ハナコ,女,2012-04-01,,熊谷市宮町2-2,,,,,,,\n", "cp932")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=SETUP)
    with db.transaction() as s:
        s.add(Institution(code="C001", name="熊谷こどもクリニック"))
    write(tmp_path / "rec.csv", RECORD_HEADER + "\n"
          "1001,HIB,初回,1,定期A類,R5.6.9,接種,C001,,,,,,AB123,0.5,R5.7,,,,,\n"
          "1001,PCV,初回,1,定期A類,R5.6.9,接種,C001,,,,,,PC777,0.5,R5.7,,,,,\n")
    import_records(db, settings, path=tmp_path / "rec.csv", actor=SETUP)
    return create_user(db, settings, actor=SETUP, login_id="kumagaya-clerk", display_name="熊谷 花子",
                       role="clerk", password=PASSWORD, tasks=(("yobo_sesshu", "健康づくり課"),)).totp_secret


def _sign_in(page, base, secret):
    page.goto(base + "/login")
    page.get_by_label("職員ID").fill("kumagaya-clerk")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="次へ").click()
    page.get_by_label("確認コード").fill(pyotp.TOTP(secret).at(time.time()))
    page.get_by_role("button", name="ログイン").click()


def test_clerk_finds_child_by_kana_and_sees_history(live_server, page, db, settings, tmp_path):
    secret = _city(db, settings, tmp_path)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _sign_in(page, live_server, secret)
    page.goto(live_server + "/search")
    page.get_by_label("カナ").fill("やまだ")
    page.get_by_role("button", name="検索").click()
    expect(page.get_by_role("cell", name="山田　太郎")).to_be_visible()
    # The hostile name from the registry is shown as text, never run.
    expect(page.get_by_text("<script>alert(1)</script>")).to_be_visible()
    page.get_by_role("link", name="1001").click()
    expect(page.get_by_text("熊谷市本町1-1").first).to_be_visible()
    expect(page.get_by_role("cell", name="AB123")).to_be_visible()
    body = page.content()
    number = my_number("12345678901")
    assert "********" + number[-4:] in body and number not in body
    assert dialogs == []


def test_wrong_password_shows_the_same_message_as_unknown_id(live_server, page, db, settings, tmp_path):
    _city(db, settings, tmp_path)
    messages = []
    for login_id in ("kumagaya-clerk", "nobody"):
        page.goto(live_server + "/login")
        page.get_by_label("職員ID").fill(login_id)
        page.get_by_label("パスワード").fill("wrong-password-123")
        page.get_by_role("button", name="次へ").click()
        messages.append(page.locator(".error, .alert, [role=alert]").first.inner_text())
    assert messages[0] == messages[1] and "正しくありません" in messages[0]
