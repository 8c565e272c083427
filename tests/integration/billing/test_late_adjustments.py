"""過誤調整 for what changes after a record was paid without a clerk editing the record: a 費用助成 decision
made or overridden later (the copay the clinic keeps changes) and the schedule engine judging a paid dose
again (a history import arrives). The next open month carries the difference, once, whatever the reruns."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from sesshu.approvals import service as approvals
from sesshu.billing.imports import import_tax_status
from sesshu.billing.models import PaymentLine
from sesshu.billing.outputs import write_month_files
from sesshu.billing.service import close_month, run_month
from sesshu.billing.subsidy import decide_by_matching
from sesshu.domain.errors import Conflict
from sesshu.ledger.models import VaccinationRecord
from sesshu.ledger.service import evaluate_pending, import_records, void_record
from sesshu.payments.zengin import parse_zengin
from tests.helpers import write
from tests.integration.billing.city import ACTOR, C1, C2, NOV, TRANSFER, _csv
from tests.integration.billing.test_billing_approvals import staff  # noqa: F401 (fixture)
from tests.integration.billing.test_monthly_run import prepare_november
from tests.integration.billing.test_outputs_cli import _pdftext

DEC, JAN = "2026-12", "2027-01"
FLU_FEE, FLU_COPAY, MR_FEE = 5280, 1600, 12100


def close_november(db, settings, tmp_path):
    city = prepare_november(db, settings, tmp_path)
    run_month(db, actor=ACTOR, month=NOV, transfer_date=TRANSFER)
    close_month(db, actor=ACTOR, month=NOV)
    return city


def _adjustments(db, month):
    with db.transaction() as s:
        return [(a.record_id, a.institution_code, a.amount, a.note, a.copay_exempt) for a in s.execute(
            select(PaymentLine).where(PaymentLine.month == month, PaymentLine.kind == "adjustment")
            .order_by(PaymentLine.id)).scalars()]


def _fee_months(db, record_id):
    with db.transaction() as s:
        return s.execute(select(PaymentLine.month).where(PaymentLine.record_id == record_id,
                                                         PaymentLine.kind == "fee")).scalars().all()


def _exempt_2003(db, tmp_path):
    """The tax office corrects P3's household to 非課税 after November was paid; the matching says exempt."""
    tax = "年度,宛名番号,世帯番号,課税区分,生活保護\n令和８年度,２００３,８００３,非課税,無\n"
    assert import_tax_status(db, actor=ACTOR, path=write(tmp_path / "tax2.csv", tax, "cp932")).accepted == 1
    assert decide_by_matching(db, actor=ACTOR, atena_no="2003", fiscal_year=2026).outcome == "exempt"


def test_an_exemption_decided_after_payment_pays_the_copay_in_the_next_month_once(db, settings, tmp_path):
    city = close_november(db, settings, tmp_path)
    flu = city.records["2003:FLU_ELDER:1"]
    _exempt_2003(db, tmp_path)
    first = run_month(db, actor=ACTOR, month=DEC, transfer_date=TRANSFER)
    assert (first.outcome.result["adjustments"], first.outcome.result["adjustment_amount"]) == (1, FLU_COPAY)
    [(rid, inst, amount, note, exempt)] = _adjustments(db, DEC)
    assert (rid, inst, amount, exempt) == (flu, C2, FLU_COPAY, True)
    assert note == "過誤調整: 費用助成の判定の変更（自己負担を免除）"
    # Re-running the open month replaces its lines: still one adjustment.
    again = run_month(db, actor=ACTOR, month=DEC, transfer_date=TRANSFER, chunk_size=1)
    assert again.outcome.result == first.outcome.result and len(_adjustments(db, DEC)) == 1
    close_month(db, actor=ACTOR, month=DEC)
    # Once closed, the exemption is paid: January has nothing left to adjust, and the fee was paid once.
    jan = run_month(db, actor=ACTOR, month=JAN, transfer_date=TRANSFER)
    assert jan.outcome.result["adjustments"] == 0 and _adjustments(db, JAN) == []
    assert _fee_months(db, flu) == [NOV]


def test_an_exemption_overridden_after_payment_takes_the_copay_back(db, settings, tmp_path, staff):  # noqa: F811
    city = close_november(db, settings, tmp_path)
    req = approvals.request_approval(db, settings, actor=staff["billing"], kind="subsidy_override",
                                     raw={"atena_no": "2004", "fiscal_year": "2026", "outcome": "not_exempt"},
                                     reason="同一世帯に課税所得のある方の転入が判明")
    # Requested but not approved: nothing changes for the clinic.
    assert run_month(db, actor=ACTOR, month=DEC, transfer_date=TRANSFER).outcome.result["adjustments"] == 0
    approvals.approve(db, settings, actor=staff["boss"], approval_id=req.id, expected_version=req.version)
    run_month(db, actor=ACTOR, month=DEC, transfer_date=TRANSFER)
    assert _adjustments(db, DEC) == [(city.records["2004:FLU_ELDER:1"], C2, -FLU_COPAY,
                                      "過誤調整: 費用助成の判定の変更（自己負担の免除を取消）", False)]
    close_month(db, actor=ACTOR, month=DEC)
    # Granted again by matching in January: the copay is paid back, and nothing is left after that.
    assert decide_by_matching(db, actor=ACTOR, atena_no="2004", fiscal_year=2026).outcome == "exempt"
    run_month(db, actor=ACTOR, month=JAN, transfer_date=TRANSFER)
    assert [a[2] for a in _adjustments(db, JAN)] == [FLU_COPAY]


def test_a_decision_after_the_run_blocks_closing_until_the_month_is_run_again(db, settings, tmp_path):
    close_november(db, settings, tmp_path)
    run_month(db, actor=ACTOR, month=DEC, transfer_date=TRANSFER)
    _exempt_2003(db, tmp_path)
    with pytest.raises(Conflict, match="費用助成の判定"):
        close_month(db, actor=ACTOR, month=DEC)
    run_month(db, actor=ACTOR, month=DEC, transfer_date=TRANSFER)
    assert close_month(db, actor=ACTOR, month=DEC)["adjustment_amount"] == FLU_COPAY


def test_late_adjustments_are_in_the_statement_the_summary_and_the_bank_file(db, settings, tmp_path):
    close_november(db, settings, tmp_path)
    _exempt_2003(db, tmp_path)
    run_month(db, actor=ACTOR, month=DEC, transfer_date=TRANSFER)
    out = tmp_path / "dec"
    files = write_month_files(db, actor=ACTOR, month=DEC, out_dir=out, municipality="熊谷市")
    assert f"statement-{C2}.pdf" in files["files"]
    text = _pdftext(out / f"statement-{C2}.pdf")
    for expected in ("過誤調整", "費用助成の判定の変更（自己負担を免除）", "1,600 円", "令和8年12月分"):
        assert expected in text, expected
    rows = {r[0]: r[2:] for r in csv.reader(io.StringIO((out / "summary.csv").read_text(encoding="utf-8-sig")))}
    assert rows["定期接種（B類疾病）"] == ["0", "0", "0", "0", "1", "1600", "1600"]
    assert rows["合計"][-3:] == ["1", "1600", "1600"]
    bank = parse_zengin((out / "zengin.txt").read_bytes(), year=2026)
    assert [(t.customer_code1, t.customer_code2, t.amount) for t in bank.transfers] == [(C2, "0000202612", FLU_COPAY)]
    assert (bank.count, bank.total) == (1, FLU_COPAY)


def _mr(db, record_id):
    with db.transaction() as s:
        r = s.get(VaccinationRecord, record_id)
        return r.error_code, r.version


def _void_history(db, paid_id):
    with db.transaction() as s:
        august = s.execute(select(VaccinationRecord).where(VaccinationRecord.atena_no == "2001",
                                                           VaccinationRecord.vaccine_code == "MR",
                                                           VaccinationRecord.id != paid_id)).scalar_one()
        rid, version = august.id, august.version
    void_record(db, actor=ACTOR, record_id=rid, expected_version=version, reason="他人の接種歴")


def test_a_paid_dose_judged_again_after_a_history_import_is_taken_back_and_repaid(db, settings, tmp_path):
    city = close_november(db, settings, tmp_path)
    mr = city.records["2001:MR:1"]
    assert _mr(db, mr)[0] == ""
    # The history from P1's former city arrives: 1期 was given there in August, so October's dose is a repeat.
    history = _csv([("2001", "MR", "1期", "1", "定期A類", "2026-08-01", "接種", "", "")])
    assert import_records(db, settings, path=write(tmp_path / "history.csv", history), actor=ACTOR).accepted == 1
    # Not yet judged again: nothing to adjust (the person waits on the engine's queue).
    assert run_month(db, actor=ACTOR, month=DEC, transfer_date=TRANSFER).outcome.result["adjustments"] == 0
    evaluate_pending(db, actor=ACTOR)
    code = _mr(db, mr)[0]
    assert code  # the engine's verdict only: the record's version is the same
    run_month(db, actor=ACTOR, month=DEC, transfer_date=TRANSFER)
    [(rid, inst, amount, note, _exempt)] = _adjustments(db, DEC)
    assert (rid, inst, amount) == (mr, C1, -MR_FEE)
    assert note == f"過誤調整: スケジュールの再判定により支払対象外（{code}）"
    # The clinic sees why, in the returns list, the statement and the bank file.
    out = tmp_path / "dec"
    write_month_files(db, actor=ACTOR, month=DEC, out_dir=out, municipality="熊谷市")
    [back] = list(csv.DictReader(io.StringIO((out / "returns.csv").read_text(encoding="utf-8-sig"))))
    assert (back["記録番号"], back["宛名番号"], back["エラーコード"]) == (str(mr), "2001", f"R_TAKEN_BACK,{code}")
    assert back["返戻理由"].startswith("支払済みの委託料を過誤調整で戻し入れます（スケジュールの再判定により支払対象外）（12,100円）")
    assert "-12,100 円" in _pdftext(out / f"statement-{C1}.pdf")
    assert "支払済みの委託料を過誤調整で戻し入れます" in _pdftext(out / "returns.pdf")
    assert parse_zengin((out / "zengin.txt").read_bytes(), year=2026).transfers == []
    # The history record turns out to be someone else's: voided, October's dose is valid again. December
    # was computed before that, so it cannot be closed on those figures.
    _void_history(db, mr)
    assert _mr(db, mr)[0] == ""
    with pytest.raises(Conflict, match="スケジュール判定"):
        close_month(db, actor=ACTOR, month=DEC)
    run_month(db, actor=ACTOR, month=DEC, transfer_date=TRANSFER)
    assert _adjustments(db, DEC) == []  # paid in November, valid now: nothing owed either way
    close_month(db, actor=ACTOR, month=DEC)
    assert _fee_months(db, mr) == [NOV]


def test_a_dose_taken_back_in_a_closed_month_is_paid_again_when_judged_valid_again(db, settings, tmp_path):
    city = close_november(db, settings, tmp_path)
    mr = city.records["2001:MR:1"]
    history = _csv([("2001", "MR", "1期", "1", "定期A類", "2026-08-01", "接種", "", "")])
    import_records(db, settings, path=write(tmp_path / "history.csv", history), actor=ACTOR)
    evaluate_pending(db, actor=ACTOR)
    run_month(db, actor=ACTOR, month=DEC, transfer_date=TRANSFER)
    close_month(db, actor=ACTOR, month=DEC)
    _void_history(db, mr)
    first = run_month(db, actor=ACTOR, month=JAN, transfer_date=TRANSFER)
    assert _adjustments(db, JAN) == [(mr, C1, MR_FEE, "過誤調整: スケジュールの再判定により支払対象", False)]
    assert run_month(db, actor=ACTOR, month=JAN, transfer_date=TRANSFER).outcome.result == first.outcome.result
    close_month(db, actor=ACTOR, month=JAN)
    assert run_month(db, actor=ACTOR, month="2027-02", transfer_date=TRANSFER).outcome.result["adjustments"] == 0
    assert _fee_months(db, mr) == [NOV]


def test_a_screening_only_record_is_paid_to_the_screening_clinic_in_its_own_chunk(db, settings, tmp_path):
    from tests.helpers import RECORD_HEADER

    close_november(db, settings, tmp_path)
    cols = RECORD_HEADER.split(",")
    values = dict.fromkeys(cols, "") | {"宛名番号": "2007", "接種種別": "DPTIPVHIB", "期": "1期初回", "回数": "1",
                                        "接種区分": "定期A類", "接種年月日": "2026-11-10", "予診区分": "予診のみ",
                                        "接種医療機関コード": C1, "予診医療機関コード": C2, "請求月": DEC}
    body = RECORD_HEADER + "\n" + ",".join(values[c] for c in cols) + "\n"
    assert import_records(db, settings, path=write(tmp_path / "dec.csv", body), actor=ACTOR).accepted == 1
    evaluate_pending(db, actor=ACTOR)
    result = run_month(db, actor=ACTOR, month=DEC, transfer_date=TRANSFER, chunk_size=1)
    assert (result.outcome.result["paid_records"], result.outcome.result["returns"]) == (1, 0)
    with db.transaction() as s:
        [(inst, amount)] = s.execute(select(PaymentLine.institution_code, PaymentLine.amount)
                                     .where(PaymentLine.month == DEC)).all()
    assert (inst, amount) == (C2, 3740)
