"""A supervisor records a 妊娠届 on the person page in real Chromium at 1366×768 (和暦 typed), and the
page shows the RSウイルス 母子免疫 window and the dose turning 定期. Screenshots in SHOTS."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from sesshu.auth.service import create_user
from sesshu.clock import today_jst
from sesshu.domain.wareki import to_wareki
from sesshu.registry.service import import_registry
from sesshu.web.app import create_app
from tests.browser.conftest import CHROMIUM  # noqa: F401 — same browser as the other tests
from tests.browser.test_daily_work import PASSWORD, SETUP, TASKS, _totp
from tests.helpers import REGISTRY_HEADER, free_port, running_server, write
from tests.web.conftest import add_record


@pytest.fixture
def server(settings, db):
    port = free_port()
    app = create_app(dataclasses.replace(settings, webauthn_rp_id="localhost", webauthn_origin=f"http://localhost:{port}"))
    with running_server(app, port=port):
        yield f"http://localhost:{port}"


def test_supervisor_records_a_pregnancy_on_the_person_page(browser, server, db, settings, tmp_path, shot):
    today = today_jst()
    edd = today + timedelta(days=60)
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          "5001,,妊婦　花子,ニンプ　ハナコ,女,1995-06-01,360-0001,熊谷市本町1-1,,8101,世帯主,,住民,,\n", "cp932")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=SETUP)
    rid = add_record(db, "5001", vaccine="RSV_MATERNAL", on=today - timedelta(days=1))
    boss = create_user(db, settings, actor=SETUP, login_id="kumagaya-boss", display_name="熊谷 上長",
                       role="supervisor", password=PASSWORD, tasks=TASKS)
    context = browser.new_context(locale="ja-JP", viewport={"width": 1366, "height": 768})
    page = context.new_page()
    _totp(page, server, "kumagaya-boss", boss.totp_secret)
    page.goto(server + "/persons/5001#pregnancies")
    expect(page.locator(f"#record-{rid} .badge")).to_contain_text("任意")
    page.locator("summary", has_text="妊娠届を登録する").click()
    page.get_by_label("出産予定日（必須）").fill(to_wareki(edd).translate(str.maketrans("0123456789", "０１２３４５６７８９")))
    page.get_by_role("button", name="妊娠届を登録する").click()
    expect(page.locator(".msg, .notice").first).to_contain_text("妊娠届を登録し")
    section = page.locator("#pregnancies")
    expect(section).to_contain_text(to_wareki(edd - timedelta(days=84)) + "〜" + to_wareki(edd - timedelta(days=22)))
    expect(section).to_contain_text("接種期間中")
    expect(page.locator(f"#record-{rid} .badge")).to_contain_text("定期")
    section.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "viewport.png"))
    shot(page, "registered")
    import shutil
    shutil.copy(tmp_path / "viewport.png", "/tmp/i20_person_pregnancy.png")
    context.close()
