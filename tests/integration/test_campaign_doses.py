"""住民接種 doses under an active campaign (covid-2021 replay): imported 予診票 rows are judged against
the campaign (a too-short interval is returned, nothing is 任意), and the month's billing pays them at
the campaign's fee schedule — the 休日加算 on a Sunday or national holiday — once only."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select, text

from sesshu.actor import Actor
from sesshu.approvals import service as approvals
from sesshu.billing.models import BillingReturn, PaymentLine
from sesshu.billing.service import close_month, run_month
from sesshu.domain.schedule import PANDEMIC_DIR
from sesshu.ledger.models import VaccinationRecord
from sesshu.ledger.service import evaluate_pending
from sesshu.rulesets import service as rulesets
from tests.integration.billing.city import C1, _csv, build_city
from tests.helpers import staff_actor, write

ADMIN = Actor(login_id="setup", kind="os", role="operator")
JUNE, JULY = "2021-06", "2021-07"


def _activate_covid_2021(db, settings):
    boss, boss2 = staff_actor(db, settings, "boss-a")[0], staff_actor(db, settings, "boss-b")[0]
    for f in ("covid-2021.yaml", "covid-2021-v2.yaml"):
        row = rulesets.propose(db, settings, actor=boss, raw=(PANDEMIC_DIR / f).read_bytes(), reason="再現")
        approvals.approve(db, settings, actor=boss2, approval_id=row.approval_id, expected_version=1)


def test_campaign_doses_are_judged_by_the_campaign_and_paid_at_its_fees(db, settings, tmp_path):
    from sesshu.ledger.service import import_records

    build_city(db, settings, tmp_path)  # 2003 (born 1950) and 2004 (born 1955) are 65+ in FY2021
    _activate_covid_2021(db, settings)
    rows = [
        ("2003", "C19_PFIZER", "", "1", "住民接種", "2021-06-01", "接種", C1, JUNE),   # Tuesday
        ("2003", "C19_PFIZER", "", "2", "住民接種", "2021-06-20", "接種", C1, JUNE),   # Sunday, 19 days later
        ("2004", "C19_PFIZER", "", "1", "住民接種", "2021-06-02", "接種", C1, JUNE),
        ("2004", "C19_PFIZER", "", "2", "住民接種", "2021-06-12", "接種", C1, JUNE),   # 10 days: too short
        ("2014", "C19_MODERNA", "", "1", "住民接種", "2021-06-03", "接種", C1, JUNE),  # born 1957-07-07: 60-64 group
    ]
    summary = import_records(db, settings, path=write(tmp_path / "c19.csv", _csv(rows), "cp932"), actor=ADMIN)
    assert summary.accepted == 5, summary
    evaluate_pending(db, actor=ADMIN)
    with db.transaction() as s:
        got = {(r.atena_no, r.vaccinated_on.isoformat()): (r.category, r.error_code) for r in s.execute(
            select(VaccinationRecord).where(VaccinationRecord.vaccine_code.like("C19_%"))).scalars()}
    assert got == {("2003", "2021-06-01"): ("pandemic_resident", ""), ("2003", "2021-06-20"): ("pandemic_resident", ""),
                   ("2004", "2021-06-02"): ("pandemic_resident", ""),
                   ("2004", "2021-06-12"): ("pandemic_resident", "E_INTERVAL_TOO_SHORT"),
                   ("2014", "2021-06-03"): ("pandemic_resident", "")}

    run = run_month(db, actor=ADMIN, month=JUNE, transfer_date=date(2021, 7, 20))
    with db.transaction() as s:
        paid = {(ln.record_id, ln.unit_fee) for ln in s.execute(
            select(PaymentLine).where(PaymentLine.month == JUNE, PaymentLine.kind == "fee")).scalars()}
        returned = {r.atena_no: r.codes for r in s.execute(
            select(BillingReturn).where(BillingReturn.month == JUNE)).scalars()}
    # 2,277円 (2,070円 税込) per dose; the Sunday dose adds the 休日加算 2,343円.
    assert sorted(fee for _rid, fee in paid) == [2277, 2277, 2277, 2277 + 2343]
    assert run.outcome.result["fee_amount"] == 4 * 2277 + 2343
    assert returned == {"2004": "E_INTERVAL_TOO_SHORT"}
    close_month(db, actor=ADMIN, month=JUNE)
    # Claimed again the next month: not paid twice.
    with db.transaction() as s:
        s.execute(text("UPDATE vaccination_record SET billing_month = :m WHERE atena_no = '2003' AND vaccine_code LIKE 'C19_%'"), {"m": JULY})
    run_month(db, actor=ADMIN, month=JULY, transfer_date=date(2021, 8, 20))
    with db.transaction() as s:
        again = {r.codes for r in s.execute(select(BillingReturn).where(BillingReturn.month == JULY)).scalars()}
        assert not s.execute(select(PaymentLine).where(PaymentLine.month == JULY, PaymentLine.kind == "fee")).first()
    assert again == {"R_ALREADY_PAID"}


def test_demo_load_with_the_covid_2021_replay(db, settings):
    from sesshu.demo.campaign import load_campaign
    from sesshu.demo.service import load_demo
    from sesshu.ledger.targets import select_targets

    load_demo(db, settings, actor=ADMIN, residents=60, seed=3, as_of=date(2026, 12, 1))
    rows = load_campaign(db, settings, name="covid-2021", operator=ADMIN)
    assert [(r.version, r.status, r.proposed_by, r.approved_by) for r in rows] == [
        (1, "active", "demo-super", "demo-super2"), (2, "active", "demo-super", "demo-super2")]
    groups = {r.group for r in select_targets(db, actor=ADMIN, vaccine="C19_PFIZER", as_of=date(2021, 7, 5))}
    assert groups <= {"65歳以上", "60〜64歳", "それ以外の方"} and "65歳以上" in groups
