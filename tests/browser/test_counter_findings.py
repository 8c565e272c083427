"""Issue 22 in real Chromium at 1366×768: what a new clerk met in a day at the counter, fixed.
Every step is saved as a screenshot (tests/browser/conftest.py: SHOTS) and was looked at."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_daily_work import _city, _totp, desk, server  # noqa: F401 — fixtures
from tests.helpers import RECORD_HEADER, write


def test_import_summary_and_record_list(server, desk, db, settings, tmp_path, shot):  # noqa: F811
    page, base = desk, server
    secrets = _city(db, settings, tmp_path)
    _totp(page, base, "kumagaya-clerk", secrets["clerk"])
    page.goto(base + "/imports")
    f = tmp_path / "予診票_202311.csv"
    write(f, RECORD_HEADER + "\n"
          "1001,PCV,初回,2,,R5.8.3,接種,C001,,,,,,PC778,0.5,R5.8,,,,,\n"       # blank 接種区分: 定期A類
          "1001,PCV,初回,3,,R5.8.10,接種,C001,,,,,,PC778,0.5,R5.8,,,,,\n"      # a week later: invalid
          "1001,VAR,,1,任意,R5.8.3,接種,C001,,,,,,VV001,0.5,R5.8,,,,,\n"       # 任意: not billable
          "1001,BCG,,1,定期A類,R5.13.1,接種,C001,,,,,,,,,,,,,\n", "cp932")
    page.get_by_label("予診票のCSVファイル（CP932・UTF-8、100MBまで）").set_input_files(str(f))
    page.get_by_role("button", name="取込を開始").click()
    expect(page.locator("#job-status")).to_have_text("完了", timeout=20000)
    expect(page.locator("[data-verdict=invalid]")).to_have_text("1件")
    expect(page.locator("[data-verdict=not_billable]")).to_have_text("1件")
    expect(page.locator("#verdict-codes")).to_contain_text("E_INTERVAL_TOO_SHORT")
    shot(page, "01-import-summary")
    page.locator("[data-verdict=invalid] a").click()
    expect(page.locator("#records-table tbody tr")).to_have_count(1)
    expect(page.locator("#records-table")).to_contain_text("接種間隔が不足しています")
    expect(page.locator("#records-table")).to_contain_text("定期A類")
    shot(page, "02-record-list-invalid")
    # A lot recall: by Lot No and vaccine chosen by its Japanese name.
    page.goto(base + "/records")
    page.get_by_label("Lot No（完全一致）").fill("PC778")
    page.get_by_label("接種種別").select_option(label="小児の肺炎球菌")
    page.get_by_label("請求月").fill("R5.8")
    page.get_by_role("button", name="表示").click()
    expect(page.locator("#result-count")).to_have_text("2件")
    shot(page, "03-record-list-lot")


def test_person_history_fits_the_screen_and_marks_an_invalid_dose(server, desk, db, settings, tmp_path, shot):  # noqa: F811
    from sesshu.ledger.service import evaluate_pending, import_records
    from tests.browser.test_daily_work import SETUP
    page, base = desk, server
    secrets = _city(db, settings, tmp_path)
    write(tmp_path / "more.csv", RECORD_HEADER + "\n"
          "1001,HIB,初回,2,定期A類,R5.6.16,接種,C001,,,,,,AB124,0.5,R5.7,,,,,"
          "発熱のため保護者と相談のうえ接種。次回は医師の判断で間隔を確認すること（①保護者同意済み）\n"
          "1001,PCV,初回,2,定期A類,R5.8.9,接種,C001,,,,,,PC778,0.5,R5.8,,,,,\n", "cp932")
    import_records(db, settings, path=tmp_path / "more.csv", actor=SETUP)
    evaluate_pending(db, actor=SETUP)
    _totp(page, base, "kumagaya-clerk", secrets["clerk"])
    page.goto(base + "/persons/1001")
    table = page.locator("#history-table")
    expect(table).to_be_visible()
    box = page.locator("#history-table").evaluate(
        "t => ({table: t.scrollWidth, wrap: t.parentElement.clientWidth})")
    assert box["table"] <= box["wrap"] <= 1240, box  # no horizontal scrolling in the 1,230 px box
    invalid = page.locator("tr.verdict-row-invalid")
    expect(invalid).to_have_count(1)
    expect(invalid.locator(".c-verdict")).to_contain_text("無効")
    expect(invalid.locator(".c-codes")).to_contain_text("E_INTERVAL_TOO_SHORT")
    assert invalid.locator(".c-verdict").bounding_box()["x"] < 1366
    assert invalid.locator(".c-codes").bounding_box()["x"] + 100 < 1366
    invalid.scroll_into_view_if_needed()
    shot(page, "01-person-history")
    # The rarer fields: one click on 詳細 opens that record's details (the list is folded, the page short).
    invalid.get_by_role("link", name="詳細").click()
    expect(page.locator("details.record[open] dl.facts")).to_have_count(1)
    expect(page.locator("details.record[open] dl.facts")).to_contain_text("AB124")
    shot(page, "02-person-record-detail")


def test_audit_viewer_speaks_japanese(server, desk, db, settings, tmp_path, shot):  # noqa: F811
    page, base = desk, server
    secrets = _city(db, settings, tmp_path)
    _totp(page, base, "kumagaya-clerk", secrets["clerk"])
    page.goto(base + "/persons/1001")
    page.get_by_role("button", name="ログアウト").click()
    _totp(page, base, "kumagaya-sec", secrets["security"])
    page.goto(base + "/audit/entries")
    page.get_by_label("宛名番号").fill("1001")
    page.get_by_label("操作の種類").select_option(label="個人の情報の閲覧")
    page.get_by_role("button", name="検索").click()
    shot(page, "00-audit-search")
    table = page.locator("table")
    expect(table).to_contain_text("個人の情報の閲覧")
    assert "person.view" not in table.inner_text()
    page.goto(base + "/audit/entries?atena_no=1001")
    text = page.locator("table").inner_text()
    assert "住民の登録（住基）" in text and "registry.create" not in text and '"' not in text
    shot(page, "01-audit-entries")


def test_supervisor_header_and_home(server, desk, db, settings, tmp_path, shot):  # noqa: F811
    page, base = desk, server
    secrets = _city(db, settings, tmp_path)  # the clerk's request waits for a supervisor
    _totp(page, base, "kumagaya-boss", secrets["boss"])
    expect(page.locator("#waiting-approvals")).to_have_text("承認待ち 1件")
    header = page.locator("header.site")
    assert header.bounding_box()["height"] < 70  # one line at 1366 px
    for link in page.locator("nav.menu > a").all():
        box = link.bounding_box()
        assert box["height"] < 40, link.inner_text()  # no label wraps mid-word
    shot(page, "01-supervisor-home")
    page.locator("details.more-menu > summary").click()
    expect(page.locator(".more-items").get_by_role("link", name="保存期間")).to_be_visible()
    shot(page, "02-more-menu")


def test_own_day_correction_keeps_what_was_typed(server, desk, db, settings, tmp_path, shot):  # noqa: F811
    page, base = desk, server
    secrets = _city(db, settings, tmp_path)
    _totp(page, base, "kumagaya-clerk", secrets["clerk"])
    page.goto(base + "/records/new")
    page.get_by_label("宛名番号（必須）").fill("１００１")  # full-width, as the import accepts it
    page.get_by_label("接種年月日（必須）").fill("R5.8.3")
    page.get_by_label("接種種別（必須・名前またはコード）").fill("b型肝炎")
    page.get_by_label("Lot No").fill("TYPO1")
    expect(page.locator("#entry-verdict")).to_contain_text("山田　太郎")
    page.get_by_label("Lot No").press("Enter")
    expect(page.locator("[data-saved]")).to_contain_text("保存しました")
    shot(page, "01-saved")
    page.get_by_role("link", name="この記録を訂正・取消").click()
    expect(page.get_by_role("heading", name="入力した記録の訂正・取消")).to_be_visible()
    form = page.locator("#correct-form")
    form.get_by_label("Lot No").fill("HB777")
    form.get_by_label("回数").fill("99")
    form.get_by_label("修正理由（必須）").fill("転記誤り")
    form.get_by_role("button", name="修正を保存").click()
    expect(form.locator(".msg.error")).to_contain_text("回数")
    expect(form.get_by_label("Lot No")).to_have_value("HB777")
    expect(form.get_by_label("修正理由（必須）")).to_have_value("転記誤り")
    shot(page, "02-correction-error-inline")
    form.get_by_label("回数").fill("1")
    form.get_by_role("button", name="修正を保存").click()
    expect(page.get_by_text("接種記録を修正しました")).to_be_visible()
