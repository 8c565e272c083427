"""III-6 in real Chromium at 1366×768: a clerk files a 情報照会 on the person's linkage page, nothing is
sent; a supervisor reads what is asked in plain Japanese on /approvals and approves it; the inquiry is
then 承認済み・送信待ち for the linkage daemon. Screenshots: tests/browser/conftest.py SHOTS."""
from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from sesshu.auth.service import create_user
from sesshu.linkage.models import LinkageExchange, LinkageInquiry
from sesshu.registry.service import import_registry
from tests.browser.test_daily_work import PASSWORD, _logout, desk  # noqa: F401 — fixtures
from tests.browser.test_relief_and_requests import SETUP, _login
from tests.helpers import REGISTRY_HEADER, write


def test_an_inquiry_is_sent_only_after_a_supervisor_approves_it(live_server, desk, db, settings, tmp_path, shot):
    page, base = desk, live_server  # 127.0.0.1: the Origin check compares it with the Host
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          "3001,,転入　花子,テンニュウ　ハナコ,女,2024-04-10,360-0001,熊谷市本町1-1,,9001,子,転入　一郎,住民,,\n", "cp932")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=SETUP)
    secrets = {login_id: create_user(db, settings, actor=SETUP, login_id=login_id, display_name=name, role=role,
                                     password=PASSWORD, tasks=(("yobo_sesshu", "健康づくり課"),)).totp_secret
               for login_id, name, role in (("renkei-tanto", "連携 担当", "clerk"), ("renkei-boss", "連携 上長",
                                                                                     "supervisor"))}

    _login(page, base, "renkei-tanto", secrets["renkei-tanto"])
    page.goto(base + "/persons/3001/linkage")
    page.get_by_label("照会先の団体コード（6桁）").fill("１１２０８９")
    shot(page, "1-inquiry-form")
    page.get_by_role("button", name="照会を申請する").click()
    expect(page.get_by_text("情報照会（中間サーバー）").first).to_be_visible()
    shot(page, "1b-requested")
    with db.transaction() as s:
        assert s.execute(select(LinkageInquiry.id)).first() is None
        assert s.execute(select(LinkageExchange.id)).first() is None
    _logout(page)

    _login(page, base, "renkei-boss", secrets["renkei-boss"])
    page.goto(base + "/approvals")
    expect(page.get_by_text("情報照会（宛名番号 3001 → 団体 112089）")).to_be_visible()
    page.goto(base + "/approvals/1")
    shot(page, "2-approval-detail")
    for text in ("宛名番号 3001（転入　花子）", "団体コード 112089（転出元の地方公共団体）",
                 "番号法第19条第8号・別表第二 115の2の項（別表第二省令 第59条の2）",
                 "転入者の接種履歴の確認（接種スケジュールの判定）"):
        expect(page.get_by_text(text, exact=False).first).to_be_visible()
    page.get_by_role("button", name="承認する").click()
    expect(page.get_by_text("承認し、内容を反映しました")).to_be_visible()
    page.goto(base + "/persons/3001/linkage")
    expect(page.get_by_text("承認済み・送信待ち")).to_be_visible()
    shot(page, "3-approved-waiting-to-send")
    with db.transaction() as s:
        assert s.execute(select(LinkageInquiry.status)).scalars().all() == ["approved"]
