"""The billing pages: a month's figures, returns with their reasons, downloads — for the billing role only."""
from __future__ import annotations

from sesshu.billing.service import run_month
from sesshu.payments.zengin import parse_zengin
from tests.integration.billing.city import ACTOR, C1, NOV, TRANSFER
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
