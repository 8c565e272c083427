"""Four-eyes in billing: a manual copay-exemption decision and reopening a closed month need a second
staff member's approval; the decision records the data it used and who decided."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from sesshu.actor import Actor
from sesshu.approvals import service as approvals
from sesshu.audit.models import AuditEntry
from sesshu.auth.service import create_user
from sesshu.billing.models import BillingMonth, SubsidyDecision
from sesshu.billing.service import close_month, run_month
from sesshu.billing.subsidy import decide_by_matching
from sesshu.domain.errors import Forbidden, InvalidInput
from tests.integration.billing.city import ACTOR, NOV, OCT, TRANSFER, build_city
from tests.integration.billing.test_monthly_run import prepare_november

SETUP = Actor(login_id="setup", kind="os", role="operator")


@pytest.fixture
def staff(db, settings):
    def make(login_id: str, role: str) -> Actor:
        create_user(db, settings, actor=SETUP, login_id=login_id, display_name=login_id, role=role,
                    password="kumagaya-Sesshu-2026", tasks=(("yobo_sesshu", "健康づくり課"),))
        with db.transaction() as s:
            uid = s.execute(text("SELECT id FROM staff_user WHERE login_id = :l"), {"l": login_id}).scalar_one()
        return Actor(login_id=login_id, kind="user", role=role, user_id=uid)

    return {"billing": make("billing-a", "billing"), "billing2": make("billing-b", "billing"),
            "boss": make("boss-a", "supervisor")}


def _current(db, atena_no, year=2026):
    with db.transaction() as s:
        return s.execute(select(SubsidyDecision).where(SubsidyDecision.atena_no == atena_no,
                                                       SubsidyDecision.fiscal_year == year,
                                                       SubsidyDecision.status == "current")).scalar_one()


def test_matching_decision_records_the_tax_rows_it_used_and_who_decided(db, settings, tmp_path, staff):
    build_city(db, settings, tmp_path)
    d = decide_by_matching(db, actor=staff["billing"], atena_no="2004", fiscal_year=2026)
    assert d.outcome == "exempt" and "非課税" in d.reason
    row = _current(db, "2004")
    basis = json.loads(row.basis)
    assert (row.method, row.decided_by) == ("matching", "billing-a")
    assert basis["members"] == ["2004", "2014"]
    assert [(t["atena_no"], t["taxable"], t["welfare"]) for t in basis["tax_rows"]] == [
        ("2004", False, False), ("2014", False, False)]
    assert all(t["import_batch_id"] for t in basis["tax_rows"])


def test_manual_exemption_is_applied_only_after_another_person_approves(db, settings, tmp_path, staff):
    build_city(db, settings, tmp_path)
    assert decide_by_matching(db, actor=staff["billing"], atena_no="2001", fiscal_year=2026).outcome == "undetermined"
    req = approvals.request_approval(db, settings, actor=staff["billing"], kind="subsidy_override",
                                     raw={"atena_no": "2001", "fiscal_year": "2026", "outcome": "exempt"},
                                     reason="生活保護受給証明書を窓口で確認")
    assert _current(db, "2001").outcome == "undetermined"  # nothing changes while it waits
    for colleague in (staff["billing"], staff["billing2"]):  # the billing role never decides, not even its own
        with pytest.raises(Forbidden, match="権限がありません"):
            approvals.approve(db, settings, actor=colleague, approval_id=req.id, expected_version=req.version)
    approvals.approve(db, settings, actor=staff["boss"], approval_id=req.id, expected_version=req.version)
    row = _current(db, "2001")
    basis = json.loads(row.basis)
    assert (row.outcome, row.method, row.approval_id, row.decided_by) == ("exempt", "override", req.id, "billing-a")
    assert (basis["matched"], basis["requested_by"], basis["approved_by"]) == ("undetermined", "billing-a", "boss-a")
    with db.transaction() as s:
        actions = [a for a in s.execute(select(AuditEntry.action).where(AuditEntry.atena_no == "2001")).scalars()]
    assert "subsidy.override" in actions and "approval.approve" in actions


def test_override_that_agrees_with_the_data_is_refused(db, settings, tmp_path, staff):
    build_city(db, settings, tmp_path)
    with pytest.raises(InvalidInput, match="同じ判定"):
        approvals.request_approval(db, settings, actor=staff["billing"], kind="subsidy_override",
                                   raw={"atena_no": "2004", "fiscal_year": "2026", "outcome": "exempt"}, reason="確認")


def test_a_closed_month_reopens_only_with_an_approval_and_then_recomputes(db, settings, tmp_path, staff):
    prepare_november(db, settings, tmp_path)
    run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    close_month(db, actor=ACTOR, month=NOV)
    with pytest.raises(InvalidInput, match="後の請求月"):  # October cannot reopen under a closed November
        approvals.request_approval(db, settings, actor=staff["billing"], kind="billing_month_reopen",
                                   raw={"month": OCT}, reason="誤り")
    req = approvals.request_approval(db, settings, actor=staff["billing"], kind="billing_month_reopen",
                                     raw={"month": NOV}, reason="医療機関からの請求漏れの申出")
    with db.transaction() as s:
        assert s.get(BillingMonth, NOV).status == "closed"
    approvals.approve(db, settings, actor=staff["boss"], approval_id=req.id, expected_version=req.version)
    with db.transaction() as s:
        m = s.get(BillingMonth, NOV)
        assert (m.status, m.revision) == ("open", 1)
        reopen = s.execute(select(AuditEntry.detail).where(AuditEntry.action == "billing.reopen")).scalar_one()
    assert json.loads(reopen)["approval_id"] == req.id
    again = run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    assert again.run_no == 2 and again.outcome.result["total"] == 13420 + 8960
