"""高齢者インフルエンザ 高用量 in the ledger (issue 20): the record's lot names the product (lot → product
master); a high-dose dose is 定期 and paid at its own price for a person aged 75 or over from
2026-10-01, and returned for a younger one."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from sesshu.billing.imports import import_bank_accounts
from sesshu.billing.models import BillingReturn, PaymentLine
from sesshu.billing.service import run_month
from sesshu.ledger.models import Institution, Lot, Product, VaccinationRecord
from sesshu.ledger.service import evaluate_pending, import_records, person_history
from sesshu.registry.service import import_registry
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, write
from tests.integration.test_person_conditions import supervisor  # noqa: F401 (fixture)

CLINIC = "1110200010"
OLD, YOUNG = "6001", "6002"  # 80 and 70 in October 2026
DAY = date(2026, 10, 20)


def test_high_dose_is_routine_and_paid_at_its_price_only_from_75(db, settings, operator, supervisor, tmp_path):
    import_registry(db, settings, actor=operator, path=write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
                    f"{OLD},,高齢 一郎,コウレイ イチロウ,男,1946-05-01,,熊谷市本町,,,,,,,\n"
                    f"{YOUNG},,高齢 二郎,コウレイ ジロウ,男,1956-05-01,,熊谷市本町,,,,,,,\n"))
    with db.transaction() as s:
        s.add(Institution(code=CLINIC, name="熊谷内科", address="熊谷市本町2", active=True))
        s.add(Product(code="EFLUELDA", vaccine_code="FLU_ELDER", name="エフルエルダ筋注"))
        s.flush()
        s.add(Lot(lot_no="HD001", product_code="EFLUELDA"))
    import_bank_accounts(db, actor=operator, path=write(tmp_path / "acc.csv", (
        "医療機関コード,銀行コード,銀行名,支店コード,支店名,預金種目,口座番号,口座名義カナ\n"
        f"{CLINIC},0009,ミツイスミトモ,038,クマガヤ,普通,1234567,クマガヤナイカ\n")))
    cols = RECORD_HEADER.split(",")
    lines = [RECORD_HEADER]
    for atena in (OLD, YOUNG):
        v = dict.fromkeys(cols, "")
        v.update({"宛名番号": atena, "接種種別": "FLU_ELDER", "回数": "1", "接種区分": "定期B類",
                  "接種年月日": DAY.isoformat(), "予診区分": "接種", "接種医療機関コード": CLINIC,
                  "LotNo": "HD001", "請求月": "2026-10"})
        lines.append(",".join(v[c] for c in cols))
    assert import_records(db, settings, path=write(tmp_path / "rec.csv", "\n".join(lines) + "\n"),
                          actor=operator).accepted == 2
    evaluate_pending(db, actor=operator)
    with db.transaction() as s:
        codes = {r.atena_no: r.error_code for r in s.execute(select(VaccinationRecord)).scalars()}
    assert codes == {OLD: "", YOUNG: "W_OUTSIDE_LEGAL_WINDOW,W_NOT_TARGET_GROUP"}
    history = person_history(db, settings, actor=supervisor, atena_no=YOUNG)
    assert [v.status for v in history.verdicts.values()] == ["voluntary"]  # the page agrees with the batch
    run_month(db, actor=operator, month="2026-10", transfer_date=date(2026, 11, 25))
    with db.transaction() as s:
        paid = s.execute(select(PaymentLine.unit_fee, PaymentLine.copay, PaymentLine.amount)).all()
        returned = s.execute(select(BillingReturn.codes)).scalars().all()
    assert paid == [(9680, 1600, 8080)]
    assert len(returned) == 1 and "W_NOT_TARGET_GROUP" in returned[0]
