"""The venue station in real Chromium at 1366×768: presets chosen once, a keyboard-wedge scanner types the
18 digits and Enter, F2 records, F4 undoes, a used ticket is refused, and a record sent while the network
is down stays on the page (and in localStorage) until F2 sends it again."""
from __future__ import annotations

import time

import pyotp
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from sesshu.actor import Actor
from sesshu.auth.service import create_user
from sesshu.ledger.models import Doctor, VaccinationRecord, Venue
from sesshu.registry.service import import_registry
from sesshu.tickets.service import issue_for_move_in
from tests.helpers import REGISTRY_HEADER, write

SETUP = Actor(login_id="setup", kind="os", role="operator")
PASSWORD = "kumagaya-Sesshu-2026"


@pytest.fixture
def station(browser):
    context = browser.new_context(locale="ja-JP", viewport={"width": 1366, "height": 768})
    pg = context.new_page()
    yield pg
    context.close()


def _city(db, settings, tmp_path) -> tuple[str, list[str]]:
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          "2001,,熊谷　一郎,クマガヤ　イチロウ,男,2020-05-10,360-0001,熊谷市本町1-1,,,,,住民,,\n"
          "2002,,熊谷　花子,クマガヤ　ハナコ,女,2019-11-03,360-0001,熊谷市本町1-1,,,,,住民,,\n"
          "2003,,妻沼　次郎,メヌマ　ジロウ,男,2021-02-14,360-0002,熊谷市妻沼2-2,,,,,住民,,\n", "cp932")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=SETUP)
    with db.transaction() as s:
        s.add(Venue(code="V01", name="熊谷市保健センター集団接種会場"))
        s.add(Doctor(code="D01", name="会場　医師"))
    tickets = [issue_for_move_in(db, settings, actor=SETUP, atena_no=a, vaccine="JE", history_confirmed=True).ocr_line
               for a in ("2001", "2002", "2003")]
    secret = create_user(db, settings, actor=SETUP, login_id="venue-clerk", display_name="会場 担当",
                         role="clerk", password=PASSWORD, tasks=(("yobo_sesshu", "健康づくり課"),)).totp_secret
    return secret, tickets


def _sign_in(page, base, secret):
    page.goto(base + "/login")
    page.get_by_label("職員ID").fill("venue-clerk")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="次へ").click()
    page.get_by_label("確認コード").fill(pyotp.TOTP(secret).at(time.time()))
    page.get_by_role("button", name="ログイン").click()


def _scan(page, digits: str):
    """What a keyboard-wedge scanner does: fast keystrokes into the focused field, then Enter."""
    page.keyboard.type(digits, delay=8)
    page.keyboard.press("Enter")


def _records(db):
    with db.transaction() as s:
        return s.execute(select(VaccinationRecord.atena_no, VaccinationRecord.status, VaccinationRecord.venue_code,
                                VaccinationRecord.lot_no).order_by(VaccinationRecord.id)).all()


def test_station_scans_records_undoes_refuses_and_retries(live_server, station, db, settings, tmp_path, shot):
    secret, tickets = _city(db, settings, tmp_path)
    page = station
    _sign_in(page, live_server, secret)
    page.goto(live_server + "/venue")
    # Presets, once per session.
    page.get_by_label("接種種別（ワクチン・必須）").select_option("JE")
    page.get_by_label("実施場所").select_option("V01")
    page.get_by_label("接種医師").select_option("D01")
    page.get_by_label("Lot No").fill("JE-A01")
    page.get_by_label("接種量（mL）").fill("0.5")
    page.get_by_label("接種券（OCRライン18桁・QRコード）").focus()

    _scan(page, tickets[0])
    current = page.locator("#current")
    expect(current.get_by_text("熊谷　一郎")).to_be_visible()
    expect(current.get_by_text("定期接種として有効")).to_be_visible()
    shot(page, "1-scanned")
    page.keyboard.press("F2")
    expect(current.get_by_text("記録しました")).to_be_visible()
    assert _records(db) == [("2001", "active", "V01", "JE-A01")]

    # The second person: recorded, then undone with F4; the ticket is valid again.
    _scan(page, tickets[1])
    expect(current.get_by_text("熊谷　花子")).to_be_visible()
    page.keyboard.press("F2")
    expect(current.get_by_text("記録しました")).to_be_visible()
    page.keyboard.press("F4")
    expect(current.get_by_text("直前の記録を取り消しました")).to_be_visible()
    expect(page.locator("#log .undone")).to_have_count(1)
    shot(page, "2-undone")
    assert [r[1] for r in _records(db)] == ["active", "voided"]

    # A ticket already used is refused, with the reason, and F2 records nothing.
    _scan(page, tickets[0])
    expect(current.get_by_role("alert").first).to_contain_text("記録できません")
    shot(page, "3-refused")
    page.keyboard.press("F2")
    assert len(_records(db)) == 2

    # The network goes down while recording: the scan stays, with a retry; F2 sends it once it is back.
    _scan(page, tickets[2])
    expect(current.get_by_text("妻沼　次郎")).to_be_visible()
    page.route("**/venue/record", lambda route: route.abort())
    page.keyboard.press("F2")
    pending = page.locator("#pending")
    expect(pending).to_be_visible()
    expect(pending).to_contain_text(tickets[2])
    stored = page.evaluate("window.localStorage.getItem('sesshu.venue.pending')")
    assert tickets[2] in stored and "妻沼" not in stored  # the ticket number only, no name
    shot(page, "4-network-failed")
    page.reload()  # even a reload keeps it
    expect(page.locator("#pending")).to_be_visible()
    page.unroute("**/venue/record")
    page.keyboard.press("F2")
    expect(page.locator("#current").get_by_text("記録しました")).to_be_visible()
    expect(page.locator("#pending")).to_be_hidden()
    assert page.evaluate("window.localStorage.getItem('sesshu.venue.pending')") is None
    assert [(r[0], r[1]) for r in _records(db)] == [("2001", "active"), ("2002", "voided"), ("2003", "active")]
    # The presets survived the reload.
    assert page.get_by_label("Lot No").input_value() == "JE-A01"
    shot(page, "5-retried")

    # The day's doses on the dashboard and in the daily counts.
    page.goto(live_server + "/")
    expect(page.locator("figcaption", has_text="日別の接種件数（直近14日")).to_be_visible()
    shot(page, "6-dashboard")
    page.goto(live_server + "/counts?vaccine=JE")
    expect(page.get_by_role("heading", name="日次集計")).to_be_visible()
    expect(page.locator("figure", has_text="実施場所ごと").get_by_text("V01")).to_be_visible()
    shot(page, "7-counts")
