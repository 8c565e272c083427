"""Issue 25 on the pages: a 訂正請求 of every kind of field goes through the ledger's parsing (no 500), errors
are shown on the same page with what was typed, a clerk is told a supervisor corrects; the relief claim
form picks the vaccination record and keeps everything typed after an error; the 全銀 file downloads as
an AES ZIP."""
from __future__ import annotations

import io
import re
from datetime import date

import pyzipper
from fastapi.testclient import TestClient

from sesshu.access import service as access
from sesshu.disclosure.service import receive
from sesshu.ledger.models import VaccinationRecord
from tests.web.conftest import ADMIN, add_record, csrf_token, login, record_version


def _correction(db, atena_no: str) -> int:
    return receive(db, actor=ADMIN, kind="correction", atena_no=atena_no, channel="counter", requester_name="山田 花子",
                   requester_relation="self", identity_method="mynumber_card", question="接種日とロットが違う").id


def _client(app, db, make_staff, role: str, login_id: str, *, relief: bool = False):
    staff = make_staff(role, login_id=login_id)
    if relief:
        access.assign(db, actor=ADMIN, login_id=staff.login_id, task_code="kenko_higai_kyusai", department="健康づくり課")
    client = TestClient(app, follow_redirects=False)
    return client, login(client, staff)


def test_a_correction_request_of_each_field_kind_goes_through_the_ledger(app, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    inquiry = _correction(db, persons["plain"])
    client, _ = _client(app, db, make_staff, "supervisor", "kato-m")
    page = client.get(f"/inquiries/{inquiry}")
    assert page.status_code == 200 and "接種年月日" in page.text and "ワクチン会社" in page.text
    url = f"/inquiries/{inquiry}/correct"
    r = client.post(url, data={"csrf_token": csrf_token(page.text), "record": f"{rec}:{record_version(db, rec)}",
                               "field": "vaccinated_on", "value": "Ｒ３．４．１２"})
    assert r.status_code == 303, r.text[:300]  # was HTTP 500: '>' not supported between 'str' and 'date'
    r = client.post(url, data={"csrf_token": csrf_token(page.text), "record": f"{rec}:{record_version(db, rec)}",
                               "field": "lot_no", "value": "ｍｒ１２３４"})
    assert r.status_code == 303
    with db.transaction() as s:
        row = s.get(VaccinationRecord, rec)
        assert (row.vaccinated_on, row.lot_no) == (date(2021, 4, 12), "mr1234")  # NFKC, as the import stores it
    bad = client.post(url, data={"csrf_token": csrf_token(page.text), "record": f"{rec}:{record_version(db, rec)}",
                                 "field": "vaccinated_on", "value": "R3.2.30"})
    assert bad.status_code == 400 and "接種年月日" in bad.text and 'value="R3.2.30"' in bad.text
    assert "システムエラー" not in bad.text
    page = client.get(f"/inquiries/{inquiry}")
    assert "接種記録を2件訂正済み" in page.text and "record:" not in page.text


def test_a_clerk_is_told_that_a_supervisor_corrects(app, db, make_staff, persons):
    add_record(db, persons["plain"])
    inquiry = _correction(db, persons["plain"])
    client, _ = _client(app, db, make_staff, "clerk", "sato-h")
    page = client.get(f"/inquiries/{inquiry}")
    assert "上長" in page.text and 'action="/inquiries/%d/correct' % inquiry not in page.text


def test_the_claim_form_lists_the_records_and_keeps_everything_after_an_error(app, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    flu = add_record(db, persons["plain"], vaccine="JE", on=date(2022, 5, 1))
    with db.transaction() as s:
        s.get(VaccinationRecord, flu).category = "voluntary"
    client, _ = _client(app, db, make_staff, "clerk", "ito-k", relief=True)
    page = client.get("/relief")
    shown = client.post("/relief", data={"csrf_token": csrf_token(page.text), "atena_no": "１００１",
                                         "action": "records"})
    assert shown.status_code == 200
    assert f'value="{rec}"' in shown.text and "麻しん風しん混合" in shown.text and "A類疾病の定期接種" in shown.text
    assert re.search(rf'value="{flu}"[^>]*disabled', shown.text)  # 任意接種: not under 予防接種法
    form = {"csrf_token": csrf_token(page.text), "atena_no": "1001", "record_id": str(rec), "action": "open",
            "claimant_name": "山田 花子", "claimant_relation": "母", "claim_death_lump_sum": "1",
            "claim_medical_expenses": "1", "doc_claim_form": "1", "bank_code": "０００５", "branch_code": "001",
            "account_type": "2", "account_no": "7654321", "account_holder_kana": "ヤマダ ハナコ"}
    r = client.post("/relief", data=form)
    assert r.status_code == 400 and "死亡の記録がない" in r.text
    for kept in (f'value="{rec}" checked', 'name="claim_death_lump_sum" value="1" checked',
                 'name="claim_medical_expenses" value="1" checked', 'name="doc_claim_form" value="1" checked',
                 'value="０００５"', '<option value="2" selected>当座', 'value="ヤマダ ハナコ"', 'value="母"'):
        assert kept in r.text, kept
    assert "data-no-enter" in r.text
    form.pop("claim_death_lump_sum")
    r = client.post("/relief", data=form)
    assert r.status_code == 303
    case = client.get(r.headers["location"])
    visible = re.sub(r"<[^>]+>", "", case.text)
    assert "A類疾病の定期接種" in visible and "medical_expenses" not in visible and "claim_received" not in visible
    assert "add_death_lump_sum" not in case.text  # a living person: no death benefit to add either


def test_the_zengin_file_downloads_as_an_aes_zip_for_a_supervisor(app, db, make_staff, persons):
    from sesshu.relief import service as relief

    rec = add_record(db, persons["plain"])
    c = relief.open_case(db, actor=ADMIN, atena_no=persons["plain"], record_id=rec, claimant_name="山田 花子",
                         claimant_relation="母", claimed=["medical_expenses"], received_on=date(2026, 1, 5),
                         documents=[], account={"bank_code": "0005", "branch_code": "001", "account_type": "1",
                                                "account_no": "7654321", "account_holder_kana": "ヤマダ ハナコ"})
    for step, detail in (("committee", {"minutes": "確認", "result": "確認"}), ("sent_to_prefecture", {}),
                         ("national_decision", {"decision": "certified",
                                                "benefits": [{"kind": "medical_expenses", "amount": "52000"}]}),
                         ("notified", {})):
        c = relief.add_step(db, actor=ADMIN, case_id=c.id, expected_version=c.version, step=step,
                            on_date=date(2026, 2, 1), detail=detail)
    client, _ = _client(app, db, make_staff, "supervisor", "mori-s", relief=True)
    page = client.get("/relief/payments", params={"month": "R8.3"})
    assert page.status_code == 200 and "2026年3月" in page.text and "52,000円" in page.text
    assert "パスワード付きZIP" in page.text and "sesshu relief zengin" not in page.text
    form = {"csrf_token": csrf_token(page.text), "month": "2026-03", "transfer_date": "R8.12.28",
            "purpose": "救済給付の支払", "password": "correct-horse-42", "password_confirmation": "correct-horse-4"}
    bad = client.post("/relief/payments/zengin", data=form)
    assert bad.status_code == 400 and "一致しません" in bad.text and 'value="R8.12.28"' in bad.text
    form["password_confirmation"] = "correct-horse-42"
    r = client.post("/relief/payments/zengin", data=form)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with pyzipper.AESZipFile(io.BytesIO(r.content)) as z:
        z.setpassword(b"correct-horse-42")
        assert z.read("relief_zengin_202603.txt")


def test_scrollable_tables_are_focusable_labelled_regions(app, db, make_staff, persons):
    """axe-core's scrollable-region-focusable: a table that scrolls sideways can be reached by keyboard."""
    add_record(db, persons["plain"])
    client, _ = _client(app, db, make_staff, "supervisor", "abe-t")
    for url in (f"/persons/{persons['plain']}", "/retention"):
        html = client.get(url).text
        wraps = re.findall(r'<div class="table-wrap"[^>]*>', html)
        assert wraps and all('tabindex="0"' in w and 'role="region"' in w and 'aria-label="' in w for w in wraps), url
    assert "[check" not in client.get("/retention").text and "sesshu retention purge" not in client.get("/retention").text


def test_the_decision_form_asks_the_days_of_a_medical_allowance_and_keeps_them_after_an_error(
        app, db, make_staff, persons):
    from sesshu.relief import service as relief

    rec = add_record(db, persons["plain"])
    c = relief.open_case(db, actor=ADMIN, atena_no=persons["plain"], record_id=rec, claimant_name="山田 花子",
                         claimant_relation="母", claimed=["medical_allowance"], received_on=date(2026, 1, 5),
                         documents=[])
    for step, detail in (("committee", {"minutes": "確認", "result": "確認"}), ("sent_to_prefecture", {})):
        c = relief.add_step(db, actor=ADMIN, case_id=c.id, expected_version=c.version, step=step,
                            on_date=date(2026, 2, 1), detail=detail)
    client, _ = _client(app, db, make_staff, "supervisor", "ueda-s", relief=True)
    page = client.get(f"/relief/{c.id}")
    assert "その月の通院日数" in page.text and "その月の入院日数" in page.text and "予防接種法施行令 第11条" in page.text
    form = {"csrf_token": csrf_token(page.text), "expected_version": str(c.version), "step": "national_decision",
            "on_date": "2026-03-01", "decision": "certified", "amount_medical_allowance": "38,900",
            "first_medical_allowance": "R6.5", "outpatient_days": "２", "inpatient_days": ""}
    r = client.post(f"/relief/{c.id}/steps", data=form)
    visible = re.sub(r"<[^>]+>", "", r.text)
    assert r.status_code == 400 and "通院2日（3日未満）のため、月額 36,900円" in visible
    for kept in ('value="38,900"', 'value="R6.5"', 'name="outpatient_days" value="２"'):
        assert kept in r.text, kept
    form["amount_medical_allowance"] = "36,900"
    assert client.post(f"/relief/{c.id}/steps", data=form).status_code == 303
    case = re.sub(r"<[^>]+>", "", client.get(f"/relief/{c.id}").text)
    assert "医療手当 36,900円（2024年5月分・通院2日・入院0日）" in case and "medical_allowance" not in case
