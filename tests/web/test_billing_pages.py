"""The billing pages: a month's figures, returns with their reasons, downloads — for the billing role only."""
from __future__ import annotations

import json

from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.billing.models import InstitutionBankAccount, TaxStatus
from sesshu.billing.service import run_month
from sesshu.payments.zengin import parse_zengin
from tests.integration.billing.city import ACTOR, C1, C2, NOV, TRANSFER, build_city
from tests.integration.billing.test_monthly_run import prepare_november
from tests.web.conftest import csrf_token, login


def test_billing_staff_see_the_month_with_totals_returns_and_differences(client, db, settings, tmp_path, make_staff):
    prepare_november(db, settings, tmp_path)
    run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    login(client, make_staff("billing"))
    page = client.get(f"/billing/{NOV}")
    assert page.status_code == 200
    for expected in ("委託料 2026-11", "22,380円", "やまだこどもクリニック", "13,420", "佐藤　花子", "接種間隔が不足しています",
                     "R_NO_INSTITUTION", "この月を締める"):
        assert expected in page.text, expected
    home = client.get("/billing")
    assert "2026-11" in home.text and 'href="/billing"' in home.text


def test_downloads_are_the_same_files_the_command_writes(client, db, settings, tmp_path, make_staff):
    prepare_november(db, settings, tmp_path)
    run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    login(client, make_staff("billing"))
    bank = client.get(f"/billing/{NOV}/zengin.txt")
    assert bank.status_code == 200 and parse_zengin(bank.content, year=2026).total == 22380
    pdf = client.get(f"/billing/{NOV}/statements/{C1}.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    summary = client.get(f"/billing/{NOV}/summary.csv")
    assert "定期接種（B類疾病）" in summary.content.decode("utf-8-sig")


def test_running_and_closing_from_the_page(client, db, settings, tmp_path, make_staff):
    prepare_november(db, settings, tmp_path)
    csrf = login(client, make_staff("billing"))
    r = client.post("/billing/run", data={"csrf_token": csrf, "month": NOV, "transfer_date": "R8.12.25"})
    assert r.status_code == 303 and r.headers["location"] == f"/billing/{NOV}?notice=run"
    page = client.get(f"/billing/{NOV}")
    r = client.post(f"/billing/{NOV}/close", data={"csrf_token": csrf_token(page.text)})
    assert r.status_code == 303
    page = client.get(f"/billing/{NOV}")
    assert "締め済み" in page.text and "締めの解除を申請する" in page.text
    again = client.post("/billing/run", data={"csrf_token": csrf, "month": NOV, "transfer_date": "2026-12-25"})
    assert again.status_code == 409 and "締め済み" in again.text


def test_a_clerk_cannot_open_the_billing_pages(client, db, make_staff):
    login(client, make_staff("clerk"))
    assert client.get("/billing").status_code == 403
    assert 'href="/billing"' not in client.get("/").text


def _upload(client, csrf, kind, name, body: str, encoding="utf-8"):
    return client.post(f"/billing/imports/{kind}", data={"csrf_token": csrf},
                       files={"file": (name, body.encode(encoding), "text/csv")})


def _audit(db, action):
    with db.transaction() as s:
        return [json.loads(d) for d in s.execute(select(AuditEntry.detail).where(AuditEntry.action == action)
                                                  .order_by(AuditEntry.seq)).scalars()]


def test_tax_data_uploaded_in_cp932_with_full_width_digits_and_wareki_is_imported_and_audited(
        client, db, settings, tmp_path, make_staff):
    build_city(db, settings, tmp_path)
    csrf = login(client, make_staff("billing"))
    page = client.get("/billing/imports")
    assert page.status_code == 200 and "地方税関係情報" in page.text and 'action="/billing/imports/tax"' in page.text
    body = "年度,宛名番号,世帯番号,課税区分,生活保護\n令和８年度,２００１,８００１,非課税,有\nR9,2001,8001,課税,無\n"
    r = _upload(client, csrf, "tax", "税情報.csv", body, "cp932")
    assert r.status_code == 200 and "取り込みました" in r.text and "登録・更新 2 件" in r.text, r.text
    with db.transaction() as s:
        rows = {(t.fiscal_year, t.taxable, t.welfare) for t in s.execute(
            select(TaxStatus).where(TaxStatus.atena_no == "2001")).scalars()}
    assert rows == {(2026, False, True), (2027, True, False)}
    [detail] = [d for d in _audit(db, "billing.tax_import") if d["file"] == "税情報.csv"]
    assert (detail["accepted"], detail["rejected"]) == (2, 0) and "refused" not in detail


def test_an_upload_with_a_bad_row_imports_nothing_and_lists_each_bad_row_with_its_reason(
        client, db, settings, tmp_path, make_staff):
    build_city(db, settings, tmp_path)
    csrf = login(client, make_staff("billing"))
    body = ("医療機関コード,銀行コード,銀行名,支店コード,支店名,預金種目,口座番号,口座名義カナ\n"
            f"{C1},0005,ミツビシユーエフジェイ,001,ホンテン,普通,1111111,ヤマダ\n"
            "9999999999,0005,ミツビシ,001,ホンテン,普通,1111111,ヤマダ\n"
            f"{C2},0005,ミツビシ,001,ホンテン,普通,2222222,鈴木内科\n")
    r = _upload(client, csrf, "accounts", "口座.csv", body)
    assert r.status_code == 422
    assert "不備のある行が 2 件あるため、このファイルは取り込んでいません" in r.text
    assert "<td class=\"num\">3</td><td>医療機関コード「9999999999」はマスタに登録されていません</td>" in r.text
    assert "<td class=\"num\">4</td><td>口座名義カナ: 振込データに使えない文字があります" in r.text
    with db.transaction() as s:  # not even the good first row: the old account stays
        assert s.get(InstitutionBankAccount, C1).bank_code == "0009"
    assert _audit(db, "billing.accounts_import")[-1] | {"sha256": ""} == {
        "file": "口座.csv", "sha256": "", "batch_id": 0, "read": 3, "accepted": 0, "rejected": 2, "duplicates": 0,
        "pending_approval": 0, "evaluated": 0, "error_codes_changed": 0,
        "unchanged": 0, "refused": True}


def test_claims_uploaded_on_the_page_are_reconciled_on_the_month_page(client, db, settings, tmp_path, make_staff):
    prepare_november(db, settings, tmp_path)
    run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    csrf = login(client, make_staff("billing"))
    body = f"請求月,医療機関コード,接種種別,件数,金額\n令和8年11月,{C2},FLU_ELDER,３,\"11,000\"\n"
    r = _upload(client, csrf, "claims", "請求書.csv", body, "cp932")
    assert r.status_code == 200 and "登録・更新 1 件" in r.text, r.text
    month = client.get(f"/billing/{NOV}")
    assert "11,000" in month.text
    assert _audit(db, "billing.claims_import")[-1]["accepted"] == 1


def test_an_upload_needs_a_file_the_csrf_token_and_the_billing_role(client, db, settings, tmp_path, make_staff):
    build_city(db, settings, tmp_path)
    csrf = login(client, make_staff("billing"))
    assert client.post("/billing/imports/tax", data={"csrf_token": csrf}).status_code == 400
    empty = _upload(client, csrf, "tax", "t.csv", "年度,宛名番号,世帯番号,課税区分,生活保護\n")
    assert empty.status_code == 400 and "データの行がありません" in empty.text
    no_token = client.post("/billing/imports/tax", files={"file": ("t.csv", b"x", "text/csv")})
    assert no_token.status_code == 403
    clerk = make_staff("clerk")
    client.cookies.clear()
    clerk_csrf = login(client, clerk)
    assert client.get("/billing/imports").status_code == 403
    assert _upload(client, clerk_csrf, "tax", "t.csv", "年度\n2026\n").status_code == 403


def test_the_month_may_be_typed_in_wareki_or_full_width(client, db, settings, tmp_path, make_staff):
    """Issue 22 item 10: 「R8.11」 dead-ended; the billing month is read like every other month field."""
    prepare_november(db, settings, tmp_path)
    csrf = login(client, make_staff("billing"))
    r = client.post("/billing/run", data={"csrf_token": csrf, "month": "R8.11", "transfer_date": "R8.12.25"})
    assert r.status_code == 303 and r.headers["location"] == f"/billing/{NOV}?notice=run"
    from sesshu.billing.service import check_month
    assert check_month("令和8年11月") == check_month("２０２６－１１") == check_month("202611") == NOV


def test_returns_are_paginated(client, db, settings, tmp_path, make_staff, monkeypatch):
    """A month with 20,000 returns rendered one 8 MB page: now RETURNS_PER_PAGE rows a page."""
    from sesshu.billing import outputs
    prepare_november(db, settings, tmp_path)
    run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    monkeypatch.setattr(outputs, "RETURNS_PER_PAGE", 1)
    login(client, make_staff("billing"))
    first = client.get(f"/billing/{NOV}").text
    total = int(first[first.index('<h2 id="returns">'):].split('class="count">')[1].split("件")[0].replace(",", ""))
    assert total >= 2 and f"（1 / {total}ページ）" in first and 'rel="next"' in first
    last = client.get(f"/billing/{NOV}?page={total}").text
    assert 'rel="prev"' in last and 'rel="next"' not in last
