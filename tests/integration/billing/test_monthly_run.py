"""The monthly run on a month with deliberately bad claims: totals checked by hand (see city.py)."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sesshu.billing.models import BillingReturn, PaymentLine
from sesshu.billing.service import close_month, month_overview, run_month
from sesshu.clock import utcnow
from sesshu.domain.errors import Conflict
from sesshu.ledger.service import Correction
from sesshu.ledger.service import correct_record, void_record
from tests.integration.billing.city import ACTOR, C1, C2, NOV, OCT, TRANSFER, build_city


def _version(db, rid):
    from sesshu.ledger.models import VaccinationRecord

    with db.transaction() as s:
        return s.get(VaccinationRecord, rid).version


def prepare_november(db, settings, tmp_path):
    """October run and closed; then P9's PCV voided and P8's BCG claimed again in November."""
    city = build_city(db, settings, tmp_path)
    oct_run = run_month(db, actor=ACTOR, month=OCT, transfer_date=TRANSFER)
    assert oct_run.outcome.result["total"] == 9790 + 12980
    close_month(db, actor=ACTOR, month=OCT)
    pcv, bcg = city.records["2009:PCV:1"], city.records["2008:BCG:1"]
    void_record(db, actor=ACTOR, record_id=pcv, expected_version=_version(db, pcv), reason="別人の記録")
    correct_record(db, settings, actor=ACTOR, correction=Correction(record_id=bcg, expected_version=_version(db, bcg),
                                                          reason="医療機関の再請求", changes={"billing_month": NOV}))
    return city


def _returns(db, month):
    with db.transaction() as s:
        return {r.atena_no + ":" + r.vaccine_code: (r.institution_code, r.codes, r.reasons)
                for r in s.execute(select(BillingReturn).where(BillingReturn.month == month)).scalars()}


def test_month_with_bad_claims_pays_the_valid_ones_at_the_hand_computed_totals(db, settings, tmp_path):
    prepare_november(db, settings, tmp_path)
    result = run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER, chunk_size=1)
    assert result.outcome.result == {"paid_records": 5, "fee_amount": 12100 + 10560 + 3740 + 3680 + 5280,
                                     "adjustments": 1, "adjustment_amount": -12980, "returns": 4,
                                     "institutions": 2, "total": 13420 + 8960}
    overview = month_overview(db, actor=ACTOR, month=NOV)
    by = {t.code: t for t in overview.institutions}
    assert (by[C1].fee_count, by[C1].fee_amount, by[C1].adjustment_amount, by[C1].total) == (3, 26400, -12980, 13420)
    assert (by[C2].fee_count, by[C2].fee_amount, by[C2].copay, by[C2].total) == (2, 8960, 1600, 8960)
    assert (by[C1].returns, overview.unassigned_returns) == (3, 1)


def test_each_bad_claim_is_returned_with_its_code_and_japanese_reason(db, settings, tmp_path):
    prepare_november(db, settings, tmp_path)
    run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    returns = _returns(db, NOV)
    assert set(returns) == {"2002:HIB", "2005:MR", "2006:VAR", "2008:BCG"}
    assert returns["2002:HIB"][:2] == (C1, "E_INTERVAL_TOO_SHORT")
    assert "接種間隔が不足しています" in returns["2002:HIB"][2]
    assert returns["2005:MR"][1] == "W_OUTSIDE_LEGAL_WINDOW" and "任意接種" in returns["2005:MR"][2]
    assert returns["2006:VAR"][:2] == ("", "R_NO_INSTITUTION") and "医療機関" in returns["2006:VAR"][2]
    assert returns["2008:BCG"][1] == "R_ALREADY_PAID" and "令和" not in returns["2008:BCG"][2]
    assert "2026年10月分" in returns["2008:BCG"][2]


def test_copay_is_deducted_unless_the_person_is_exempt(db, settings, tmp_path):
    prepare_november(db, settings, tmp_path)
    run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    with db.transaction() as s:
        flu = {ln.atena_no: (ln.unit_fee, ln.copay, ln.copay_exempt, ln.amount) for ln in s.execute(
            select(PaymentLine).where(PaymentLine.month == NOV, PaymentLine.vaccine_code == "FLU_ELDER")).scalars()}
    assert flu == {"2003": (5280, 1600, False, 3680), "2004": (5280, 0, True, 5280)}


def test_a_voided_paid_record_is_taken_back_in_the_next_month(db, settings, tmp_path):
    city = prepare_november(db, settings, tmp_path)
    run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    with db.transaction() as s:
        adj = s.execute(select(PaymentLine).where(PaymentLine.kind == "adjustment")).scalars().all()
    assert [(a.month, a.record_id, a.institution_code, a.amount) for a in adj] == [
        (NOV, city.records["2009:PCV:1"], C1, -12980)]
    assert "取消" in adj[0].note


def test_a_record_is_never_paid_twice(db, settings, tmp_path):
    city = prepare_november(db, settings, tmp_path)
    run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    bcg = city.records["2008:BCG:1"]
    with db.transaction() as s:
        fees = s.execute(select(PaymentLine.month).where(PaymentLine.record_id == bcg,
                                                         PaymentLine.kind == "fee")).scalars().all()
    assert fees == [OCT]
    # And the database itself refuses a second fee line for a record.
    with pytest.raises(IntegrityError):
        with db.transaction() as s:
            first = s.execute(select(PaymentLine).where(PaymentLine.record_id == bcg)).scalar_one()
            s.add(PaymentLine(**{c.name: getattr(first, c.name) for c in PaymentLine.__table__.c if c.name != "id"}
                              | {"month": NOV}))


def test_rerunning_an_open_month_gives_the_same_lines(db, settings, tmp_path):
    prepare_november(db, settings, tmp_path)
    first = run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    second = run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER, chunk_size=3)
    assert (first.run_no, second.run_no) == (1, 2)
    assert first.outcome.result == second.outcome.result


def test_a_closed_month_is_locked(db, settings, tmp_path):
    prepare_november(db, settings, tmp_path)
    with pytest.raises(Conflict, match="締め済み"):
        run_month(db, actor=ACTOR, month=OCT, transfer_date=TRANSFER)
    with pytest.raises(Conflict, match="既に締め済み"):
        close_month(db, actor=ACTOR, month=OCT)


def _run_then_correct_a_record(db, settings, tmp_path) -> None:
    """November computed, then one of its records corrected (the ledger moved since the run)."""
    city = prepare_november(db, settings, tmp_path)
    run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    mr = city.records["2001:MR:1"]
    correct_record(db, settings, actor=ACTOR, correction=Correction(record_id=mr, expected_version=_version(db, mr),
                                                          reason="ロット番号の訂正", changes={"lot_no": "X1"}))


def test_closing_is_refused_when_the_records_changed_after_the_run(db, settings, tmp_path):
    _run_then_correct_a_record(db, settings, tmp_path)
    with pytest.raises(Conflict, match="再計算"):
        close_month(db, actor=ACTOR, month=NOV)
    run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    assert close_month(db, actor=ACTOR, month=NOV)["total"] == 13420 + 8960
    assert utcnow()


def test_a_finished_run_whose_files_were_never_written_is_kept_when_nothing_moved(db, settings, tmp_path):
    """What `billing run` does after it was killed between the computation and the files."""
    from sesshu.billing.outputs import write_month_files

    prepare_november(db, settings, tmp_path)
    first = run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    kept = run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER, keep_unwritten=True)
    assert (kept.run_no, kept.files_pending, kept.outcome.already_done) == (1, True, True)
    assert kept.outcome.result == first.outcome.result
    # Another transfer date is a new run, as is any run once the files are out.
    other = run_month(db, actor=ACTOR, month=NOV, transfer_date=date(2026, 12, 28), keep_unwritten=True)
    assert (other.run_no, other.files_pending) == (2, False)
    write_month_files(db, actor=ACTOR, month=NOV, out_dir=tmp_path / "out", municipality="テスト市")
    after = run_month(db, actor=ACTOR, month=NOV, transfer_date=date(2026, 12, 28), keep_unwritten=True)
    assert (after.run_no, after.files_pending) == (3, False)


def test_a_finished_run_without_files_is_recomputed_when_the_ledger_moved(db, settings, tmp_path):
    _run_then_correct_a_record(db, settings, tmp_path)
    again = run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER, keep_unwritten=True)
    assert (again.run_no, again.files_pending) == (2, False)
