"""Claim reconciliation: each clinic's totals per vaccine against the city's own computation."""
from __future__ import annotations

from sesshu.billing.claims import reconcile
from sesshu.billing.imports import import_claims
from sesshu.billing.service import run_month
from tests.helpers import write
from tests.integration.billing.city import ACTOR, C1, C2, NOV, TRANSFER
from tests.integration.billing.test_monthly_run import prepare_november

CLAIMS = ("請求月,医療機関コード,接種種別,件数,金額\n"
          f"2026-11,{C1},MR,2,24200\n"          # city: 1 paid (P5's MR returned: over age)
          f"2026-11,{C1},HIB,2,21120\n"         # city: 1 paid (dose 2 too early)
          f"2026-11,{C1},DPTIPVHIB,1,3740\n"    # matches
          f"2026-11,{C2},FLU_ELDER,2,7360\n")   # clinic deducted the copay for the exempt person too


def test_differences_per_clinic_and_vaccine_are_listed_with_the_returns_behind_them(db, settings, tmp_path):
    prepare_november(db, settings, tmp_path)
    run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    import_claims(db, actor=ACTOR, path=write(tmp_path / "claims.csv", CLAIMS))
    diffs = {(d.institution_code, d.vaccine_code): d for d in reconcile(db, actor=ACTOR, month=NOV)}
    assert set(diffs) == {(C1, "MR"), (C1, "HIB"), (C2, "FLU_ELDER")}
    mr = diffs[(C1, "MR")]
    assert (mr.claimed_count, mr.paid_count, mr.count_difference, mr.amount_difference, mr.returned) == (2, 1, 1, 12100, 1)
    assert (diffs[(C1, "HIB")].count_difference, diffs[(C1, "HIB")].amount_difference) == (1, 10560)
    # Returned (already paid) and not claimed by the clinic: no difference, listed with --all.
    every = {(d.institution_code, d.vaccine_code): d for d in reconcile(db, actor=ACTOR, month=NOV,
                                                                         only_differences=False)}
    bcg = every[(C1, "BCG")]
    assert (bcg.claimed_count, bcg.paid_count, bcg.returned, bcg.amount_difference) == (None, 0, 1, 0)
    flu = diffs[(C2, "FLU_ELDER")]
    assert (flu.count_difference, flu.amount_difference) == (0, 7360 - 8960)


def test_matching_claims_show_no_difference(db, settings, tmp_path):
    prepare_november(db, settings, tmp_path)
    run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    import_claims(db, actor=ACTOR, path=write(tmp_path / "claims.csv", "請求月,医療機関コード,接種種別,件数,金額\n"
                                               f"2026-11,{C1},DPTIPVHIB,1,3740\n"))
    rows = reconcile(db, actor=ACTOR, month=NOV, only_differences=False)
    assert any(d.vaccine_code == "DPTIPVHIB" and not d.count_difference and not d.amount_difference for d in rows)
    assert all(d.vaccine_code != "DPTIPVHIB" for d in reconcile(db, actor=ACTOR, month=NOV))
