"""/rulesets in Chromium at the counter PCs' size: a supervisor uploads the covid-2021 replay, reads the
check and preview, writes the reason and files the activation request; a bad file shows its line numbers."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from sesshu.auth.service import create_user
from sesshu.domain.schedule import PANDEMIC_DIR
from tests.browser.test_daily_work import PASSWORD, SETUP, TASKS, _totp, desk, server  # noqa: F401 — fixtures


@pytest.mark.usefixtures("db")
def test_a_supervisor_proposes_a_campaign_file_from_the_browser(server, desk, db, settings, tmp_path, shot):  # noqa: F811
    page, base = desk, server
    boss = create_user(db, settings, actor=SETUP, login_id="kumagaya-boss", display_name="熊谷 上長",
                       role="supervisor", password=PASSWORD, tasks=TASKS)
    _totp(page, base, "kumagaya-boss", boss.totp_secret)
    page.goto(base + "/approvals")
    page.get_by_role("link", name="接種ルール・実施計画の適用を申請する").click()
    expect(page).to_have_url(base + "/rulesets")

    bad = tmp_path / "bad.yaml"
    bad.write_text((PANDEMIC_DIR / "covid-2021.yaml").read_text(encoding="utf-8").replace("days: 18}", "dayz: 18}"),
                   encoding="utf-8")
    page.get_by_label("ルールファイル（YAML）").set_input_files(str(bad))
    page.get_by_role("button", name="検証する").click()
    expect(page.get_by_text("ファイルの誤り（1 件）")).to_be_visible()
    expect(page.get_by_text("dayz")).to_be_visible()
    shot(page, "01-bad-file")

    page.get_by_label("ルールファイル（YAML）").set_input_files(str(PANDEMIC_DIR / "covid-2021.yaml"))
    page.get_by_role("button", name="検証する").click()
    expect(page.get_by_role("heading", name="検証OK: 新型コロナウイルス感染症 特例臨時接種（2021年 初回接種の再現）")).to_be_visible()
    expect(page.get_by_text("campaign covid-2021 第1版")).to_be_visible()
    page.get_by_label("申請理由（通知名・決定日など）").fill("厚生労働大臣の指示（2021年2月 再現）")
    shot(page, "02-preview")
    page.get_by_role("button", name="適用を申請する").click()
    expect(page.get_by_text("申請しました。別の上長が")).to_be_visible()
    expect(page.get_by_role("cell", name="承認待ち")).to_be_visible()
    shot(page, "03-proposed")
