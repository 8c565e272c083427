"""国保連 route: the monthly file of doses given at clinics outside the city is matched to the ledger and judged
row by row — 住民接種 and 特定接種 lines included, at the campaign's fees with the 時間外加算 from the record's
接種時刻 — and no dose is paid twice: a dose the city's own run paid is returned here, a dose paid here is
returned by the city's run, a dose claimed twice is paid once; every return has its Japanese reason."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from sesshu.approvals import service as approvals
from sesshu.audit.models import AuditEntry
from sesshu.billing.kokuho import import_kokuho_claims, reconcile_kokuho
from sesshu.billing.models import BillingReturn, KokuhoClaim, PaymentLine
from sesshu.billing.service import close_month, run_month
from sesshu.conditions.group_list import import_group_list
from sesshu.domain.errors import Conflict
from sesshu.domain.schedule import PANDEMIC_DIR
from sesshu.ledger.models import VaccinationRecord as R
from sesshu.ledger.service import evaluate_pending, import_records
from sesshu.rulesets import service as rulesets
from tests.helpers import RECORD_HEADER, staff_actor, write
from tests.integration.billing.city import C1, build_city
from tests.integration.test_tokutei import ADMIN, CAMPAIGN, HEAD

OUTSIDE = "1310100099"  # a clinic in another prefecture: not in the city's master
HEADER = "請求月,医療機関コード,医療機関名,券番号,宛名番号,接種種別,接種年月日,接種時刻,予診区分,請求額\n"


def _activate(db, settings):
    boss, boss2 = staff_actor(db, settings, "boss-a")[0], staff_actor(db, settings, "boss-b")[0]
    for raw in ((PANDEMIC_DIR / "covid-2021.yaml").read_bytes(), (PANDEMIC_DIR / "covid-2021-v2.yaml").read_bytes(),
                CAMPAIGN):
        row = rulesets.propose(db, settings, actor=boss, raw=raw, reason="再現")
        approvals.approve(db, settings, actor=boss2, approval_id=row.approval_id, expected_version=1)


def _records(db, settings, tmp_path, rows, name):
    """予診票 rows with a 接種時刻: (atena, vaccine, dose, category, date, time, clinic, 請求月)."""
    cols = (RECORD_HEADER + ",接種時刻").split(",")
    lines = [",".join(cols)]
    for atena, vaccine, dose, cat, on, at, inst, month in rows:
        v = dict.fromkeys(cols, "")
        v.update({"宛名番号": atena, "接種種別": vaccine, "回数": dose, "接種区分": cat, "接種年月日": on, "予診区分": "接種",
                  "接種医療機関コード": inst, "請求月": month, "接種時刻": at})
        lines.append(",".join(v[c] for c in cols))
    out = import_records(db, settings, path=write(tmp_path / name, "\n".join(lines) + "\n", "cp932"), actor=ADMIN)
    assert out.accepted == len(rows), out
    evaluate_pending(db, actor=ADMIN)


def test_campaign_doses_claimed_through_the_kokuho_reconcile_and_are_never_paid_twice(db, settings, tmp_path):
    build_city(db, settings, tmp_path)
    _activate(db, settings)
    staff = write(tmp_path / "staff.csv", HEAD + "2004,,,,消防本部,2\n", "cp932")
    assert import_group_list(db, actor=ADMIN, path=staff, group="tokutei_city_staff", reason="名簿").recorded == 1
    _records(db, settings, tmp_path, [
        ("2003", "C19_PFIZER", "1", "住民接種", "2021-06-01", "10:00", C1, "2021-06"),  # city clinic, billed by the city
        ("2004", "C19_PFIZER", "1", "住民接種", "2021-06-02", "１９：１０", "", ""),     # outside clinic, Wednesday evening
        ("2014", "C19_MODERNA", "1", "住民接種", "2021-06-03", "930", "", ""),          # outside clinic, Thursday morning
        ("2004", "PREPANDEMIC_EXAMPLE", "1", "特定接種", "2025-11-04", "", "", ""),        # 特定接種 outside, no time
    ], "doses.csv")
    run_month(db, actor=ADMIN, month="2021-06", transfer_date=date(2021, 7, 20))
    close_month(db, actor=ADMIN, month="2021-06")

    claims = write(tmp_path / "kokuho-2025-12.csv", HEADER +
                   f"2025-12,{OUTSIDE},他県クリニック,,2004,C19_PFIZER,2021-06-02,19:10,接種,3080\n"   # 2,277 + 時間外 803
                   f"2025-12,{OUTSIDE},他県クリニック,,2014,C19_MODERNA,令和3年6月3日,9:30,接種,4620\n"  # claims 休日 on a Thursday
                   f"2025-12,{OUTSIDE},他県クリニック,,2003,C19_PFIZER,2021-06-01,10:00,接種,2277\n"    # the city paid it
                   f"2025-12,{OUTSIDE},他県クリニック,,2004,C19_PFIZER,2021-06-02,19:10,接種,3080\n"   # the same dose again
                   f"2025-12,{OUTSIDE},他県クリニック,,2004,PREPANDEMIC_EXAMPLE,2025-11-04,,接種,2277\n"  # 特定接種
                   f"2025-12,{OUTSIDE},他県クリニック,0000099999,,C19_PFIZER,2021-06-05,,接種,2277\n"    # unknown ticket
                   f"2025-12,{OUTSIDE},他県クリニック,,2014,C19_PFIZER,2021-06-30,,接種,2277\n", "cp932")  # not on the ledger
    out = import_kokuho_claims(db, actor=ADMIN, path=claims)
    assert (out.month, out.read, out.paid, out.returned, out.refused) == ("2025-12", 7, 2, 5, False)
    assert out.paid_amount == 3080 + 2277
    lines = {r.line_no: r for r in reconcile_kokuho(db, actor=ADMIN, month="R7.12")}
    assert (lines[2].outcome, lines[2].category, lines[2].computed_amount) == ("paid", "pandemic_resident", 3080)
    assert (lines[6].outcome, lines[6].category, lines[6].computed_amount) == ("paid", "designated", 2277)
    assert (lines[3].codes, lines[3].computed_amount) == ("K_AMOUNT", 2277)
    assert "請求額が実施計画の単価による市の算定額と一致しません" in lines[3].reasons and "4,620円" in lines[3].reasons
    assert lines[4].codes == "K_PAID_BY_CITY" and "市の委託料として既に支払済み" in lines[4].reasons \
        and "2021年6月分" in lines[4].reasons
    assert lines[5].codes == "K_ALREADY_CLAIMED" and "国保連経由で既に請求・支払済み" in lines[5].reasons \
        and "2行目" in lines[5].reasons
    assert lines[7].codes == "K_NO_PERSON" and "該当する方が台帳にいません" in lines[7].reasons
    assert lines[8].codes == "K_NO_RECORD" and "台帳にこの接種の記録がありません" in lines[8].reasons

    # The same file again is refused; the city's run does not pay a dose the 国保連 paid.
    with pytest.raises(Conflict, match="既に取り込まれています"):
        import_kokuho_claims(db, actor=ADMIN, path=claims)
    with db.transaction() as s:
        # The outside clinic's dose claimed again by a city clinic (a wrong 請求月 on its 予診票).
        s.execute(R.__table__.update().where(R.atena_no == "2004", R.vaccine_code == "C19_PFIZER")
                  .values(billing_month="2021-07", institution_code=C1))
    run_month(db, actor=ADMIN, month="2021-07", transfer_date=date(2021, 8, 20))
    with db.transaction() as s:
        assert s.execute(select(BillingReturn.codes).where(BillingReturn.month == "2021-07")).scalars().all() == [
            "R_PAID_VIA_KOKUHO"]
        assert not s.execute(select(PaymentLine).where(PaymentLine.month == "2021-07", PaymentLine.kind == "fee")).first()
        assert s.execute(select(func.count()).select_from(KokuhoClaim).where(KokuhoClaim.outcome == "paid")).scalar() == 2
        actions = set(s.execute(select(AuditEntry.action).where(AuditEntry.action.like("billing.kokuho%"))).scalars())
    assert actions == {"billing.kokuho_import", "billing.kokuho_reconcile"}


def test_an_unreadable_kokuho_file_is_refused_whole_with_line_numbers(db, settings, tmp_path):
    build_city(db, settings, tmp_path)
    bad = write(tmp_path / "bad.csv", HEADER +
                f"2025-12,{OUTSIDE},,,2004,C19_PFIZER,2021-06-02,25:00,接種,3080\n"
                f"2025-12,123,,,2004,BCG,2021-06-02,,接種,100\n"
                f"2025-12,{OUTSIDE},,,,BCG,2021-06-02,,接種,100\n", "cp932")
    out = import_kokuho_claims(db, actor=ADMIN, path=bad)
    assert out.refused and [n for n, _ in out.problems] == [2, 3, 4]
    assert "接種種別「C19_PFIZER」はマスタに登録されていません" in out.problems[0][1]  # no campaign active here
    assert "医療機関コードは10桁" in out.problems[1][1] and "券番号か宛名番号" in out.problems[2][1]
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(KokuhoClaim)).scalar() == 0
        [detail] = s.execute(select(AuditEntry.detail).where(AuditEntry.action == "billing.kokuho_import")).scalars()
    assert '"refused": true' in detail
