"""妊娠届 as data (issue 20 item 2): recorded by hand and by file from the 母子保健 side, audited,
refused outside the actor's 事務; the ledger judges RSウイルス 母子免疫 doses with it; target selection
finds pregnant residents; the import and billing pay the dose."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from sesshu.access.service import OutOfScope
from sesshu.actor import Actor
from sesshu.audit.models import AuditEntry
from sesshu.billing.imports import import_bank_accounts
from sesshu.billing.service import institution_totals, run_month
from sesshu.clock import today_jst
from sesshu.domain.errors import Conflict, InvalidInput
from sesshu.ledger.models import Institution, VaccinationRecord
from sesshu.ledger.service import evaluate_pending, import_records, person_history
from sesshu.ledger.targets import select_targets
from sesshu.pregnancy.models import PregnancyNotice
from sesshu.pregnancy.schemas import PregnancyEntry
from sesshu.pregnancy.service import (
    import_pregnancies,
    list_pregnancies,
    record_pregnancy,
    withdraw_pregnancy,
)
from sesshu.registry.service import import_registry
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, write
from tests.integration.test_person_conditions import relief_only, supervisor  # noqa: F401 (fixtures)

TODAY = today_jst()
# Open now: 28週0日 = EDD − 84 ≤ TODAY ≤ EDD − 22.
EDD_OPEN = TODAY + timedelta(days=60)
EDD_LATER = TODAY + timedelta(days=150)  # window opens in 66 days
MOTHER, LATER_MOTHER, MAN, OTHER = "5001", "5002", "5003", "5004"
CLINIC = "1110200009"


@pytest.fixture
def town(db, settings, operator, tmp_path):
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          f"{MOTHER},,妊婦 花子,ニンプ ハナコ,女,1995-06-01,,熊谷市本町,,,,,,,\n"
          f"{LATER_MOTHER},,妊婦 月子,ニンプ ツキコ,女,1998-02-01,,熊谷市本町,,,,,,,\n"
          f"{MAN},,男性 太郎,ダンセイ タロウ,男,1995-06-01,,熊谷市本町,,,,,,,\n"
          f"{OTHER},,対象外 京子,タイショウガイ キョウコ,女,1995-06-01,,熊谷市本町,,,,,,,\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=operator)
    return db


def _w(d: date) -> str:
    """A date as the 母子保健 system writes it: 和暦 with full-width digits (令和８年１２月６日)."""
    return f"令和{d.year - 2018}年{d.month}月{d.day}日".translate(str.maketrans("0123456789", "０１２３４５６７８９"))


def test_hand_entry_shows_the_window_and_is_audited(town, supervisor):
    out = record_pregnancy(town, actor=supervisor, atena_no=MOTHER,
                           entry=PregnancyEntry(EDD_OPEN, TODAY - timedelta(days=100), "母-123"))
    assert (out.window_from, out.window_until, out.window_state) == (
        EDD_OPEN - timedelta(days=84), EDD_OPEN - timedelta(days=22), "open")
    listed = list_pregnancies(town, actor=supervisor, atena_no=MOTHER)
    assert [g.id for g in listed] == [out.id]
    with town.transaction() as s:
        actions = [(e.action, e.atena_no) for e in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()]
        detail = [e.detail for e in s.execute(select(AuditEntry).where(
            AuditEntry.action == "person.pregnancy_set")).scalars()]
    assert ("person.pregnancy_set", MOTHER) in actions and ("person.pregnancy_view", MOTHER) in actions
    assert EDD_OPEN.isoformat() not in str(detail)  # the dates stay in the table, not in the log


def test_hand_entry_refuses_men_the_same_pregnancy_and_bad_dates(town, supervisor):
    with pytest.raises(Conflict, match="女性"):
        record_pregnancy(town, actor=supervisor, atena_no=MAN, entry=PregnancyEntry(EDD_OPEN, TODAY))
    record_pregnancy(town, actor=supervisor, atena_no=MOTHER, entry=PregnancyEntry(EDD_OPEN, TODAY))
    with pytest.raises(Conflict, match="同じ妊娠"):
        record_pregnancy(town, actor=supervisor, atena_no=MOTHER,
                         entry=PregnancyEntry(EDD_OPEN + timedelta(days=7), TODAY))
    for bad, message in ((PregnancyEntry(None, TODAY), "出産予定日を入力"),
                         (PregnancyEntry(EDD_OPEN, TODAY + timedelta(days=1)), "未来"),
                         (PregnancyEntry(TODAY - timedelta(days=1), TODAY), "届出日より前"),
                         (PregnancyEntry(TODAY + timedelta(days=301), TODAY), "300日")):
        with pytest.raises(InvalidInput, match=message):
            record_pregnancy(town, actor=supervisor, atena_no=OTHER, entry=bad)


def test_pregnancy_is_refused_outside_the_actors_task(town, relief_only):
    with pytest.raises(OutOfScope):
        record_pregnancy(town, actor=relief_only, atena_no=MOTHER, entry=PregnancyEntry(EDD_OPEN, TODAY))
    with pytest.raises(OutOfScope):
        list_pregnancies(town, actor=relief_only, atena_no=MOTHER)


def test_file_import_cp932_wareki_full_width_rejects_with_line_numbers_and_rerun(town, operator, tmp_path):
    text = ("宛名番号,出産予定日,届出日,届出番号\n"
            f"{MOTHER},{_w(EDD_OPEN)},{_w(TODAY - timedelta(days=90))},Ｂ－００１\n"
            f"{LATER_MOTHER},{EDD_LATER.isoformat()},{TODAY.isoformat()},B-002\n"
            f"{MAN},{EDD_OPEN.isoformat()},{TODAY.isoformat()},B-003\n"
            f"9999,{EDD_OPEN.isoformat()},{TODAY.isoformat()},B-004\n"
            f"{OTHER},令和8年2月30日,{TODAY.isoformat()},B-005\n")
    path = write(tmp_path / "ninpu.csv", text, "cp932")
    rejects = tmp_path / "rejects.csv"
    summary = import_pregnancies(town, actor=operator, path=path, rejects_path=rejects)
    assert (summary.encoding, summary.read, summary.accepted, summary.rejected) == ("cp932", 5, 2, 3)
    lines = rejects.read_text(encoding="utf-8-sig").splitlines()
    assert lines[1].startswith("4,エラー,性別が女性ではない方")
    assert lines[2].startswith("5,エラー,宛名番号 9999 の方は登録されていません")
    assert lines[3].startswith("6,エラー,出産予定日: 存在しない日付です")
    with town.transaction() as s:
        rows = {r.atena_no: r for r in s.execute(select(PregnancyNotice)).scalars()}
    assert rows[MOTHER].expected_delivery == EDD_OPEN and rows[MOTHER].source == "boshi"
    assert rows[MOTHER].source_ref == "B-001"
    again = import_pregnancies(town, actor=operator, path=path, rejects_path=rejects)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 2, 3)


def test_an_import_that_fails_midway_stores_nothing_and_a_rerun_completes(town, operator, tmp_path,
                                                                          monkeypatch):
    import sesshu.pregnancy.service as service

    path = write(tmp_path / "ninpu.csv", "宛名番号,出産予定日,届出日\n"
                 f"{MOTHER},{EDD_OPEN.isoformat()},{TODAY.isoformat()}\n"
                 f"{LATER_MOTHER},{EDD_LATER.isoformat()},{TODAY.isoformat()}\n")

    def crash(*_a, **_k):
        raise RuntimeError("killed after the rows, before the commit")

    monkeypatch.setattr(service, "reevaluate_persons", crash)
    with pytest.raises(RuntimeError):
        import_pregnancies(town, actor=operator, path=path)
    with town.transaction() as s:
        assert s.execute(select(PregnancyNotice)).first() is None
    monkeypatch.undo()
    summary = import_pregnancies(town, actor=operator, path=path)
    assert (summary.accepted, summary.duplicates) == (2, 0)


def test_targets_select_pregnant_residents_whose_window_is_open(town, supervisor, operator):
    record_pregnancy(town, actor=supervisor, atena_no=MOTHER, entry=PregnancyEntry(EDD_OPEN, TODAY))
    record_pregnancy(town, actor=supervisor, atena_no=LATER_MOTHER, entry=PregnancyEntry(EDD_LATER, TODAY))
    now = {r.atena_no: r.line for r in select_targets(town, actor=operator, vaccine="RSV_MATERNAL", as_of=TODAY)}
    assert set(now) == {MOTHER}
    assert now[MOTHER].legal_until == EDD_OPEN - timedelta(days=22)
    soon = {r.atena_no for r in select_targets(town, actor=operator, vaccine="RSV_MATERNAL", as_of=TODAY,
                                               within_days=70)}
    assert soon == {MOTHER, LATER_MOTHER}


def _rsv_record(db, settings, tmp_path, actor, on: date) -> int:
    cols = RECORD_HEADER.split(",")
    values = dict.fromkeys(cols, "")
    values.update({"宛名番号": MOTHER, "接種種別": "RSV_MATERNAL", "回数": "1", "接種区分": "定期A類",
                   "接種年月日": on.isoformat(), "予診区分": "接種", "接種医療機関コード": CLINIC,
                   "請求月": f"{on:%Y-%m}"})
    path = write(tmp_path / "rsv.csv", RECORD_HEADER + "\n" + ",".join(values[c] for c in cols) + "\n", "cp932")
    assert import_records(db, settings, path=path, actor=actor).accepted == 1
    evaluate_pending(db, actor=actor)
    with db.transaction() as s:
        return s.execute(select(VaccinationRecord.id).where(VaccinationRecord.atena_no == MOTHER)).scalar_one()


def test_rsv_dose_is_routine_with_the_pregnancy_and_paid(town, settings, supervisor, operator, tmp_path):
    with town.transaction() as s:
        s.add(Institution(code=CLINIC, name="くまがや産婦人科", address="熊谷市本町1", active=True))
    import_bank_accounts(town, actor=operator, path=write(tmp_path / "acc.csv", (
        "医療機関コード,銀行コード,銀行名,支店コード,支店名,預金種目,口座番号,口座名義カナ\n"
        f"{CLINIC},0009,ミツイスミトモ,038,クマガヤ,普通,1234567,クマガヤサンフジンカ\n")))
    day = TODAY - timedelta(days=2)
    rid = _rsv_record(town, settings, tmp_path, operator, day)
    with town.transaction() as s:
        assert s.get(VaccinationRecord, rid).error_code == "W_OUTSIDE_LEGAL_WINDOW,W_NOT_TARGET_GROUP"
    # the 妊娠届 arrives: the record is re-evaluated in the same transaction
    out = record_pregnancy(town, actor=supervisor, atena_no=MOTHER, entry=PregnancyEntry(EDD_OPEN, TODAY))
    with town.transaction() as s:
        assert s.get(VaccinationRecord, rid).error_code == ""
    history = person_history(town, settings, actor=supervisor, atena_no=MOTHER)
    assert history.verdicts[rid].status == "valid"
    assert [g.id for g in history.pregnancies] == [out.id]
    assert next(e for e in history.eligibility if e.vaccine == "RSV_MATERNAL").status == "complete"
    month = f"{day:%Y-%m}"
    run_month(town, actor=operator, month=month, transfer_date=TODAY + timedelta(days=20))
    with town.transaction() as s:
        totals = {t.code: t for t in institution_totals(s, month)}
    assert (totals[CLINIC].fee_count, totals[CLINIC].fee_amount, totals[CLINIC].copay) == (1, 33330, 0)
    # withdrawn as a mistake: the dose is no longer 定期
    withdraw_pregnancy(town, actor=supervisor, atena_no=MOTHER, pregnancy_id=out.id, reason="別人の届出")
    with town.transaction() as s:
        assert s.get(VaccinationRecord, rid).error_code.startswith("W_OUTSIDE_LEGAL_WINDOW")


def test_notices_for_rsv_maternal_go_to_pregnant_residents_with_the_pregnant_form(town, settings, supervisor,
                                                                                 operator, tmp_path):
    import csv
    import subprocess

    from sesshu.tickets.notices import run_notices

    record_pregnancy(town, actor=supervisor, atena_no=MOTHER, entry=PregnancyEntry(EDD_OPEN, TODAY))
    out = tmp_path / "out"
    outcome = run_notices(town, settings, actor=operator, vaccine="RSV_MATERNAL", as_of=TODAY, within_days=0,
                          out_dir=out)
    assert outcome.status == "done" and outcome.result["persons"] == 1
    mailing = list(csv.reader((out / "mailing.csv").open(encoding="utf-8-sig")))
    assert [r[3] for r in mailing[1:]] == [MOTHER]
    [pdf] = sorted(out.glob("*.pdf"))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "RSウイルス（妊婦の母子免疫ワクチン）" in text and "妊娠高血圧症候群" in text and "出産予定日" in text
