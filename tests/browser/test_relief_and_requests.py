"""Issue 25 in real Chromium at 1366×768: a relief claim with errors (nothing typed is lost, Enter does not
send it), a decision refused by the law and then recorded, its correction approved by a second
supervisor, the payment list with its 全銀 ZIP; a 訂正請求 of a 接種年月日 in 和暦; an erasure approval that
shows who and why; the disclosure package in plain Japanese. Screenshots: tests/browser/conftest.py SHOTS."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from datetime import date

import pyotp
from playwright.sync_api import expect
from sqlalchemy import text

from sesshu.actor import Actor
from sesshu.auth.service import create_user
from sesshu.clock import utcnow
from sesshu.disclosure.service import receive
from sesshu.ledger.models import Institution, VaccinationRecord
from sesshu.registry.service import import_registry
from tests.browser.conftest import SHOTS
from tests.browser.test_daily_work import PASSWORD, _logout, _password, desk, server  # noqa: F401 — fixtures
from tests.helpers import REGISTRY_HEADER, write

SETUP = Actor(login_id="setup", kind="os", role="operator")
TASKS = (("yobo_sesshu", "健康づくり課"), ("kenko_higai_kyusai", "健康づくり課"))


def _city(db, settings, tmp_path) -> dict:
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          "2001,,救済　太郎,キュウサイ　タロウ,男,2020-04-01,360-0001,熊谷市本町1-1,,8001,子,救済　一郎,住民,,\n"
          "2002,,故人　次郎,コジン　ジロウ,男,1930-01-20,360-0001,熊谷市本町2-2,,8002,世帯主,故人　次郎,死亡,,\n",
          "cp932")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=SETUP)
    now = utcnow()
    with db.transaction() as s:
        s.execute(text("UPDATE person SET registry_status = 'deceased', died_on = :d WHERE atena_no = '2002'"),
                  {"d": date(2015, 3, 1)})
        s.add(Institution(code="C001", name="熊谷こどもクリニック"))
        for vaccine, on, category in (("MR", date(2021, 4, 10), "routine_a"), ("DPTIPV", date(2020, 8, 2), "routine_a"),
                                      ("HIB", date(2020, 6, 9), "voluntary")):
            s.add(VaccinationRecord(atena_no="2001", vaccine_code=vaccine, vaccinated_on=on, dose_no=1, category=category,
                                    screening_result="vaccinated", lot_no="AB123", institution_code="C001",
                                    status="active", created_at=now, created_by="setup", updated_at=now))
    out = {}
    for login_id, name in (("kumagaya-kyusai", "救済 担当"), ("kumagaya-boss", "熊谷 上長")):
        out[login_id] = create_user(db, settings, actor=SETUP, login_id=login_id, display_name=name, role="supervisor",
                                    password=PASSWORD, tasks=TASKS).totp_secret
    return out


_USED: dict[str, str] = {}
# axe-core is not a dependency: set SESSHU_AXE_JS to a local axe.min.js (npm pack axe-core) to check each
# page of the walk for critical and serious violations as well.
AXE_JS = os.environ.get("SESSHU_AXE_JS", "")
AXE_FOUND: dict[str, list[str]] = {}


def _axe(page, name: str) -> None:
    if not AXE_JS:
        return
    page.evaluate(Path(AXE_JS).read_text(encoding="utf-8") + "\n;0")  # evaluated over CDP: the page's CSP allows no inline script
    result = page.evaluate("async () => (await axe.run(document)).violations.map(v => [v.id, v.impact])")
    AXE_FOUND[name] = [f"{rule}:{impact}" for rule, impact in result]
    assert not [r for r, impact in result if impact in ("critical", "serious")], (name, result)


def _login(page, base, login_id, secret):
    while pyotp.TOTP(secret).at(time.time()) == _USED.get(login_id):
        time.sleep(1)  # a code is accepted once: the second sign-in waits for the next one
    _USED[login_id] = pyotp.TOTP(secret).at(time.time())
    _password(page, base, login_id)
    page.get_by_label("確認コード").fill(_USED[login_id])
    page.get_by_role("button", name="ログイン").click()
    expect(page).to_have_url(base + "/")


def _record(page, step: str | None = None):
    """The case page's 手続の記録: pick the step (if given) and press 記録する."""
    if step:
        page.get_by_label("手続").select_option(step)
    page.get_by_role("button", name="記録する").click()


def test_relief_correction_requests_and_the_disclosure_package(server, desk, db, settings, tmp_path, shot):
    page, base = desk, server
    secrets = _city(db, settings, tmp_path)
    _login(page, base, "kumagaya-kyusai", secrets["kumagaya-kyusai"])

    # The claim: the record is picked (the class follows from it), Enter in a text field does not send it.
    page.goto(base + "/relief")
    page.get_by_label("宛名番号（接種を受けた方）").fill("２００１")
    page.get_by_role("button", name="この方の接種記録を表示").click()
    expect(page.get_by_text("救済の対象外")).to_be_visible()  # the 任意接種 record
    page.get_by_label("麻しん風しん混合", exact=False).check()
    page.get_by_label("請求者の氏名").fill("救済 花子")
    page.get_by_label("本人との関係").fill("母")
    page.get_by_label("死亡一時金").check()
    page.get_by_label("医療費", exact=True).check()
    page.get_by_label("給付請求書").check()
    page.get_by_label("銀行コード（4桁）").fill("０００５")
    page.get_by_label("支店コード（3桁）").fill("001")
    page.get_by_label("預金種目").select_option("2")
    page.get_by_label("口座番号（7桁まで）").fill("7654321")
    page.get_by_label("口座名義（カナ）").fill("キュウサイ ハナコ")
    page.get_by_label("口座名義（カナ）").press("Enter")
    time.sleep(0.3)
    expect(page.get_by_text("案件はありません。")).to_be_visible()  # not sent: no case, no error
    expect(page.locator(".msg.error")).to_have_count(0)
    page.get_by_role("button", name="受け付ける").click()
    expect(page.get_by_text("死亡の記録がない")).to_be_visible()
    expect(page.get_by_label("死亡一時金")).to_be_checked()
    expect(page.get_by_label("預金種目")).to_have_value("2")
    expect(page.get_by_label("銀行コード（4桁）")).to_have_value("０００５")
    shot(page, "1-claim-error-kept")
    _axe(page, "1-claim-error-kept")
    page.get_by_label("死亡一時金").uncheck()
    page.get_by_label("障害児養育年金").check()
    page.get_by_role("button", name="受け付ける").click()
    expect(page.get_by_role("heading", name="救済案件 1")).to_be_visible()
    expect(page.get_by_text("A類疾病の定期接種（接種記録の接種区分から）")).to_be_visible()

    # Steps: an error stays on the page with the 議事 typed.
    page.get_by_label("手続").select_option("committee")
    page.get_by_label("委員会の議事の要旨").fill("診療録と接種後の経過を確認した")
    _record(page)
    expect(page.get_by_text("委員会の結果を入力してください")).to_be_visible()
    expect(page.get_by_label("委員会の議事の要旨")).to_have_value("診療録と接種後の経過を確認した")
    shot(page, "2-step-error-kept")
    _axe(page, "2-step-error-kept")
    page.get_by_label("委員会の結果").fill("因果関係を否定できない")
    _record(page)
    _record(page, "sent_to_prefecture")
    page.get_by_label("手続").select_option("national_decision")
    page.locator("select[name=decision]").select_option("certified")
    page.get_by_label("障害児養育年金（円・月額）").fill("３００,０００")
    page.get_by_label("障害児養育年金の支給開始の月").fill("R8.9")
    page.get_by_label("医療費（円）").fill("52000")
    _record(page)
    expect(page.get_by_text("法令の上限 229,783円")).to_be_visible()  # 令和8年度: the estimated bound (amounts.yaml)
    expect(page.get_by_label("障害児養育年金の支給開始の月")).to_have_value("R8.9")
    shot(page, "3-decision-refused")
    _axe(page, "3-decision-refused")
    page.get_by_label("障害児養育年金（円・月額）").fill("100,000")
    _record(page)
    _record(page, "notified")
    expect(page.get_by_text("根拠: 予防接種法施行令 第12条").first).to_be_visible()
    shot(page, "4-case")
    _axe(page, "4-case")

    # The correction is requested here and approved by another supervisor.
    page.locator("#correction select[name=benefit_id]").select_option(label="障害児養育年金（100,000円／月）")
    page.get_by_label("正しい金額（円）").fill("８０,０００")
    page.get_by_label("訂正の理由（必須）").fill("通知書の金額の転記誤り")
    page.get_by_role("button", name="訂正を申請する").click()
    shot(page, "4b-correction-requested")
    _axe(page, "4b-correction-requested")
    expect(page.get_by_role("heading", name="健康被害救済の決定の訂正")).to_be_visible()
    _logout(page)
    _login(page, base, "kumagaya-boss", secrets["kumagaya-boss"])
    page.goto(base + "/approvals")
    expect(page.get_by_text("救済案件 1 の決定の訂正: 障害児養育年金 100,000円 → 80,000円")).to_be_visible()
    page.goto(base + "/approvals/1")
    expect(page.get_by_text("80,000円（月額）・2026年9月から")).to_be_visible()
    shot(page, "5-correction-approval")
    _axe(page, "5-correction-approval")
    page.get_by_role("button", name="承認する").click()
    expect(page.get_by_text("承認し、内容を反映しました")).to_be_visible()

    # The payment list (和暦 month accepted) and its 全銀 ZIP.
    page.goto(base + "/relief/payments?month=R8.10")
    expect(page.get_by_role("heading", name="救済給付の支払一覧（2026年10月）")).to_be_visible()
    page.get_by_label("振込指定日").fill("R8.12.28")
    page.get_by_label("ZIPのパスワード", exact=True).fill("correct-horse-42")
    page.get_by_label("パスワード（確認）").fill("correct-horse-42")
    shot(page, "6-payments")
    _axe(page, "6-payments")
    with page.expect_download() as dl:
        page.get_by_role("button", name="振込データを作成してダウンロード").click()
    assert dl.value.suggested_filename.endswith(".zip")

    # A 訂正請求 of a 接種年月日 in 和暦 (was HTTP 500), then the erasure approval, then the package.
    fix = receive(db, actor=SETUP, kind="correction", atena_no="2001", channel="counter", requester_name="救済 花子",
                  requester_relation="legal_proxy", identity_method="mynumber_card", question="MRの接種日が違う")
    page.goto(base + f"/inquiries/{fix.id}")
    page.get_by_label("接種記録").select_option(label="令和3年4月10日 麻しん風しん混合（MR） 1回目（ロット AB123）")
    page.get_by_label("項目").select_option(label="接種年月日")
    page.get_by_label("正しい値").fill("R3.2.30")
    page.get_by_role("button", name="訂正する（理由は請求の内容）").click()
    expect(page.get_by_text("接種年月日", exact=False).first).to_be_visible()
    expect(page.get_by_label("正しい値")).to_have_value("R3.2.30")
    shot(page, "7-correction-request-error")
    _axe(page, "7-correction-request-error")
    page.get_by_label("正しい値").fill("Ｒ３．４．１２")
    page.get_by_role("button", name="訂正する（理由は請求の内容）").click()
    expect(page.get_by_text("接種記録を1件訂正済み")).to_be_visible()

    page.goto(base + "/persons/2001")
    page.locator(".table-wrap").first.focus()  # a scrollable table is reached with the keyboard
    expect(page.locator(".table-wrap").first).to_be_focused()
    shot(page, "7b-person")
    _axe(page, "7b-person")
    page.goto(base + "/retention")
    shot(page, "8-retention")
    _axe(page, "8-retention")
    page.get_by_role("button", name="消去を申請する").first.click()
    _logout(page)
    _login(page, base, "kumagaya-kyusai", secrets["kumagaya-kyusai"])
    page.goto(base + "/approvals")
    expect(page.get_by_text("保存期間経過データの消去", exact=False).first).to_be_visible()
    page.goto(base + "/approvals/2")
    expect(page.get_by_role("cell", name="故人　次郎")).to_be_visible()
    expect(page.get_by_text("死亡日 平成27年3月1日 から5年", exact=False)).to_be_visible()
    shot(page, "9-erasure-approval")
    _axe(page, "9-erasure-approval")

    req = receive(db, actor=SETUP, kind="disclosure", atena_no="2001", channel="counter", requester_name="救済 花子",
                  requester_relation="legal_proxy", identity_method="mynumber_card", question="記録の開示")
    page.goto(base + f"/inquiries/{req.id}")
    with page.expect_download() as dl:
        page.get_by_role("link", name="開示文書（PDF）を作成する").click()
    pdf = SHOTS / "test_relief_and_requests-package.pdf"
    SHOTS.mkdir(parents=True, exist_ok=True)
    dl.value.save_as(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), str(SHOTS / "test_relief_and_requests-package")],
                   check=True)
    body = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "麻しん風しん混合" in body and "熊谷こどもクリニック" in body and "令和3年4月12日" in body
    assert "令和3年4月10日" not in body  # the MR record was corrected to the 12th
    assert "DPTIPV" not in body and "C001" not in body and ".view" not in body
    if AXE_JS:
        print("axe-core violations by page:", AXE_FOUND)
