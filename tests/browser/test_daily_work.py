"""A day at the 健康づくり課 in real Chromium at 1366×768: passkey sign-in, search as you type, the
person page, entering a valid and an invalid 予診票, importing a file with errors and downloading
its rejects, a supervisor approving a request, the security officer reading the audit log.
Every page is saved as a screenshot (tests/browser/conftest.py: SHOTS)."""
from __future__ import annotations

import csv
import re
import dataclasses
import io
import time

import pyotp
import pytest
from playwright.sync_api import expect

from sesshu.actor import Actor
from sesshu.approvals.service import request_approval
from sesshu.auth.service import create_user
from sesshu.ledger.models import Institution
from sesshu.ledger.service import import_records
from sesshu.registry.service import import_registry
from sesshu.web.app import create_app
from tests.browser.conftest import CHROMIUM  # noqa: F401 — same browser as the other tests
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, free_port, my_number, running_server, write

SETUP = Actor(login_id="setup", kind="os", role="operator")
PASSWORD = "kumagaya-Sesshu-2026"
TASKS = (("yobo_sesshu", "健康づくり課"),)


@pytest.fixture
def server(settings, db):
    port = free_port()
    origin = f"http://localhost:{port}"  # WebAuthn needs a host name
    app = create_app(dataclasses.replace(settings, webauthn_rp_id="localhost", webauthn_origin=origin))
    with running_server(app, port=port):
        yield origin


@pytest.fixture
def desk(browser):
    """A 1366×768 screen, the size of the counter PCs."""
    context = browser.new_context(locale="ja-JP", viewport={"width": 1366, "height": 768}, accept_downloads=True)
    pg = context.new_page()
    yield pg
    context.close()


def _city(db, settings, tmp_path) -> dict:
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          f"1001,{my_number('12345678901')},山田　太郎,ヤマダ　タロウ,男,2023-04-10,360-0001,熊谷市本町1-1,,8001,子,山田　一郎,住民,,\n"
          "1003,,山田　一郎,ヤマダ　イチロウ,男,1990-01-20,360-0001,熊谷市本町1-1,,8001,世帯主,山田　一郎,住民,,\n"
          "1002,,<script>alert(1)</script>,ヤマダ　ハナコ,女,2012-04-01,,熊谷市宮町2-2,,8002,世帯主,,住民,,\n", "cp932")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=SETUP)
    with db.transaction() as s:
        s.add(Institution(code="C001", name="熊谷こどもクリニック"))
    write(tmp_path / "rec.csv", RECORD_HEADER + "\n"
          "1001,HIB,初回,1,定期A類,R5.6.9,接種,C001,,,,,,AB123,0.5,R5.7,,,,,\n"
          "1001,PCV,初回,1,定期A類,R5.6.9,接種,C001,,,,,,PC777,0.5,R5.7,,,,,\n")
    import_records(db, settings, path=tmp_path / "rec.csv", actor=SETUP)
    clerk = create_user(db, settings, actor=SETUP, login_id="kumagaya-clerk", display_name="熊谷 花子", role="clerk",
                        password=PASSWORD, tasks=TASKS)
    boss = create_user(db, settings, actor=SETUP, login_id="kumagaya-boss", display_name="熊谷 上長",
                       role="supervisor", password=PASSWORD, tasks=TASKS)
    security = create_user(db, settings, actor=SETUP, login_id="kumagaya-sec", display_name="熊谷 監査",
                           role="security_officer", password=PASSWORD)
    request_approval(db, settings, actor=Actor(login_id="kumagaya-clerk", kind="user", role="clerk",
                                               user_id=_uid(db, "kumagaya-clerk")),
                     kind="non_resident_registration", reason="県外の里帰り出産の方の接種",
                     raw={"name": "里帰　さくら", "name_kana": "サトガエリ　サクラ", "sex": "F",
                          "birth_date": "2023-05-05", "address": "東京都千代田区1-1"})
    return {"clerk": clerk.totp_secret, "boss": boss.totp_secret, "security": security.totp_secret}


def _uid(db, login_id):
    from sqlalchemy import select

    from sesshu.auth.models import StaffUser

    with db.transaction() as s:
        return s.execute(select(StaffUser.id).where(StaffUser.login_id == login_id)).scalar_one()


def _password(page, base, login_id):
    page.goto(base + "/login")
    page.get_by_label("職員ID").fill(login_id)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="次へ").click()


def _totp(page, base, login_id, secret):
    _password(page, base, login_id)
    page.get_by_label("確認コード").fill(pyotp.TOTP(secret).at(time.time()))
    page.get_by_role("button", name="ログイン").click()
    expect(page).to_have_url(base + "/")


def _logout(page):
    page.get_by_role("button", name="ログアウト").click()


def test_a_day_at_the_counter(server, desk, db, settings, tmp_path, shot):
    page, base = desk, server
    secrets = _city(db, settings, tmp_path)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})

    # Sign in once with TOTP, register a passkey, and from then on sign in with password + passkey.
    _totp(page, base, "kumagaya-clerk", secrets["clerk"])
    page.goto(base + "/account/passkeys")
    page.get_by_label("名前（どの端末か分かるように）").fill("窓口PC")
    page.get_by_role("button", name="パスキーを登録する").click()
    expect(page.get_by_text("パスキーを登録しました")).to_be_visible()
    _logout(page)
    _password(page, base, "kumagaya-clerk")
    expect(page).to_have_url(base + "/login/passkey")
    shot(page, "01-login-passkey")
    page.get_by_role("button", name="パスキーで認証する").click()
    expect(page).to_have_url(base + "/")
    expect(page.get_by_text("業務の状況")).to_be_visible()
    shot(page, "02-home-dashboard")

    # Search as you type: no button press, the count and the rows appear.
    page.goto(base + "/search")
    page.get_by_label("カナ（前方一致）").press_sequentially("やまだ", delay=30)
    expect(page.locator("#result-count")).to_have_text("3件")
    expect(page).to_have_url(base + "/search?kana=%E3%82%84%E3%81%BE%E3%81%A0")
    expect(page.get_by_text("<script>alert(1)</script>")).to_be_visible()  # shown as text, never run
    shot(page, "03-search")
    page.get_by_role("link", name="1001").click()
    expect(page.get_by_role("heading", name="世帯")).to_be_visible()
    expect(page.locator("section.household").get_by_text("山田　一郎")).to_be_visible()
    expect(page.locator("svg.timeline")).to_be_visible()
    shot(page, "04-person")

    # A valid dose: HIB 2回目 on R5.8.3 (56 days after the first), typed in 和暦 with full-width digits.
    page.get_by_role("link", name="この方の予診票を入力").click()
    expect(page.get_by_label("宛名番号（必須）")).to_have_value("1001")
    expect(page.get_by_label("接種年月日（必須）")).to_be_focused()
    page.get_by_label("接種年月日（必須）").fill("Ｒ５．８．３")
    page.get_by_label("接種種別（必須・名前またはコード）").fill("hib")
    page.get_by_label("回数").fill("2")
    page.get_by_label("接種医療機関コード").fill("C001")
    page.get_by_label("Lot No").fill("AB124")
    expect(page.locator("#entry-verdict")).to_contain_text("定期接種として有効")
    expect(page.locator("#entry-verdict")).to_contain_text("山田　太郎")
    shot(page, "05-entry-valid-verdict")
    page.get_by_label("Lot No").press("Enter")
    expect(page.locator("[data-saved]")).to_contain_text("保存しました")
    # The next form: empty 宛名番号 with the focus on it, the clinic carried over.
    expect(page.get_by_label("宛名番号（必須）")).to_be_focused()
    expect(page.get_by_label("宛名番号（必須）")).to_have_value("")
    expect(page.get_by_label("接種医療機関コード")).to_have_value("C001")
    shot(page, "06-entry-saved-next-form")

    # An invalid dose: HIB again a week after the second — the engine's code and reason show while typing.
    page.get_by_label("宛名番号（必須）").fill("1001")
    page.get_by_label("接種年月日（必須）").fill("令和5年8月10日")
    page.get_by_label("接種種別（必須・名前またはコード）").fill("HIB")
    expect(page.locator("#entry-verdict")).to_contain_text("無効")
    expect(page.locator("#entry-verdict ul.codes code").first).to_have_text(re.compile(r"^E_[A-Z_]+$"))
    shot(page, "07-entry-invalid-verdict")
    # A mistyped date first: the message names the field and nothing typed is lost.
    page.get_by_label("接種年月日（必須）").fill("R5.13.10")
    page.get_by_label("Lot No").fill("HB125")
    page.get_by_label("Lot No").press("Enter")
    expect(page.locator("main .msg.error").first).to_contain_text("接種年月日")
    expect(page.get_by_label("Lot No")).to_have_value("HB125")
    expect(page.get_by_label("接種種別（必須・名前またはコード）")).to_have_value("HIB")
    expect(page.get_by_label("接種年月日（必須）")).to_be_focused()  # back at the field to fix
    shot(page, "08-entry-validation-error")
    page.get_by_label("接種年月日（必須）").fill("2023-08-10")
    page.get_by_label("接種年月日（必須）").press("Enter")
    # Enter does not store an invalid dose: the reasons come back with a separate button (issue 22 item 4).
    expect(page.locator("#confirm-invalid")).to_contain_text("まだ保存していません")
    expect(page.get_by_label("Lot No")).to_have_value("HB125")
    shot(page, "08b-entry-confirm-invalid")
    page.get_by_role("button", name="無効の接種として登録する").click()
    expect(page.locator("[data-saved]")).to_contain_text("無効の接種として保存しました")
    expect(page.locator("[data-saved] .badge.warn")).to_have_text(re.compile(r"E_[A-Z_]+"))

    # Import a file with errors, watch it finish, download the rejects.
    page.get_by_role("navigation", name="メニュー").get_by_role("link", name="取込").click()
    bad = tmp_path / "予診票_202309.csv"
    write(bad, RECORD_HEADER + "\n"
          "1001,PCV,初回,2,定期A類,R5.8.3,接種,C001,,,,,,PC778,0.5,R5.8,,,,,\n"
          "1001,BCG,,1,定期A類,R5.13.1,接種,C001,,,,,,,,,,,,,\n"
          "9999,MR,1期,1,定期A類,R5.8.3,接種,,,,,,,,,,,,,,\n", "cp932")
    shot(page, "09-import-form")
    page.get_by_label("予診票のCSVファイル（CP932・UTF-8、100MBまで）").set_input_files(str(bad))
    page.get_by_role("button", name="取込を開始").click()
    expect(page.locator("#job-status")).to_have_text("完了", timeout=20000)
    expect(page.locator("#job-summary [data-key=rejected]")).to_have_text("2")
    # The refused rows on screen (line, reason, code), without their personal data.
    expect(page.locator("#rejects-table")).to_contain_text("宛名番号の方が住民記録にありません")
    expect(page.locator("#rejects-table tbody tr")).to_have_count(2)
    shot(page, "10-import-done")
    with page.expect_download() as info:
        page.get_by_role("link", name="取り込めなかった行をダウンロード（CSV：行番号・理由付き）").click()
    rows = list(csv.reader(io.StringIO(open(info.value.path(), encoding="utf-8-sig").read())))
    assert [r[0] for r in rows[1:]] == ["3", "4"] and "住民記録にありません" in rows[2][2]
    page.goto(base + "/")
    shot(page, "11-home-after-work")
    _logout(page)

    # The supervisor approves the clerk's request.
    _totp(page, base, "kumagaya-boss", secrets["boss"])
    page.goto(base + "/approvals")
    shot(page, "12-approvals")
    page.locator("table a").first.click()
    page.get_by_role("button", name="承認する").click()
    expect(page.get_by_text("承認")).not_to_have_count(0)
    shot(page, "13-approved")
    _logout(page)

    # The security officer reads what happened to 1001 today.
    _totp(page, base, "kumagaya-sec", secrets["security"])
    page.goto(base + "/audit/entries?atena_no=1001")
    expect(page.locator("main")).to_contain_text("予診票の手入力（登録）")  # by its Japanese name (issue 22)
    shot(page, "14-audit-log")
    assert dialogs == []
