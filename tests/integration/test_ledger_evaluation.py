"""The schedule engine on the ledger: エラーコード after import, after corrections, and the queue."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from sesshu.ledger import service as ledger
from sesshu.ledger.models import EvaluationQueue, VaccinationRecord
from sesshu.registry.service import import_registry
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, write


@pytest.fixture
def city(db, settings, operator, tmp_path):
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          "1001,,山田 太郎,ヤマダ タロウ,男,2024-04-10,,熊谷市本町,,,,,,,\n"
          "1002,,鈴木 花子,スズキ ハナコ,女,2012-04-02,,熊谷市宮町,,,,,,,\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=operator)
    return db


def _import(db, settings, operator, tmp_path, *lines):
    path = write(tmp_path / "rec.csv", RECORD_HEADER + "\n" + "\n".join(
        ",".join([a, v, "", "", "", d] + [""] * 15) for a, v, d in lines) + "\n")
    return ledger.import_records(db, settings, path=path, actor=operator)


def _codes(db) -> dict:
    with db.transaction() as s:
        return {(r.vaccine_code, r.vaccinated_on.isoformat()): r.error_code
                for r in s.execute(select(VaccinationRecord).where(VaccinationRecord.status == "active")).scalars()}


def test_import_queues_persons_and_evaluation_writes_error_codes(city, settings, operator, tmp_path):
    # Hib: 2024-06-09 is reach(生後2月) (valid); 2024-07-01 is only 22 days later (needs 27日以上).
    # HPV9 for a girl born 2012-04-02 opens on 2024-04-01; 2024-03-31 is before her window.
    _import(city, settings, operator, tmp_path, ("1001", "HIB", "2024-06-09"), ("1001", "HIB", "2024-07-01"),
            ("1002", "HPV9", "2024-03-31"), ("1002", "HPV9", "2024-05-01"))
    with city.transaction() as s:
        assert sorted(s.execute(select(EvaluationQueue.atena_no)).scalars()) == ["1001", "1002"]
    summary = ledger.evaluate_pending(city, actor=operator, as_of=date(2024, 12, 1))
    assert summary.persons == 2
    codes = _codes(city)
    assert codes[("HIB", "2024-06-09")] == ""
    assert "E_INTERVAL_TOO_SHORT" in codes[("HIB", "2024-07-01")]
    assert "W_OUTSIDE_LEGAL_WINDOW" in codes[("HPV9", "2024-03-31")]
    assert codes[("HPV9", "2024-05-01")] == ""
    with city.transaction() as s:
        assert s.execute(select(func.count()).select_from(EvaluationQueue)).scalar() == 0
    again = ledger.evaluate_pending(city, actor=operator, as_of=date(2024, 12, 1))
    assert (again.persons, again.records_changed) == (0, 0)


def test_correcting_a_date_reevaluates_the_person(city, settings, operator, clerk, tmp_path):
    _import(city, settings, operator, tmp_path, ("1001", "HIB", "2024-06-09"), ("1001", "HIB", "2024-07-01"))
    ledger.evaluate_pending(city, actor=operator, as_of=date(2024, 12, 1))
    history = ledger.person_history(city, settings, actor=clerk, atena_no="1001")
    second = [r for r in history.records if r.vaccinated_on == date(2024, 7, 1)][0]
    assert history.verdicts[second.id].status == "invalid"
    ledger.correct_record(city, settings, actor=clerk, correction=ledger.Correction(
        record_id=second.id, expected_version=second.version, reason="予診票の接種日を読み違えた",
        changes={"vaccinated_on": date(2024, 7, 8)}))
    assert _codes(city)[("HIB", "2024-07-08")] == ""


def test_voiding_the_earlier_dose_changes_the_later_verdict(city, settings, operator, clerk, tmp_path):
    _import(city, settings, operator, tmp_path, ("1001", "MR", "2025-04-10"), ("1001", "VAR", "2025-04-20"))
    ledger.evaluate_pending(city, actor=operator, as_of=date(2025, 12, 1))
    assert "E_LIVE_CONFLICT" in _codes(city)[("VAR", "2025-04-20")]
    mr = [r for r in ledger.person_history(city, settings, actor=clerk, atena_no="1001").records
          if r.vaccine_code == "MR"][0]
    ledger.void_record(city, actor=clerk, record_id=mr.id, expected_version=mr.version, reason="別人の記録")
    assert _codes(city)[("VAR", "2025-04-20")] == ""


def test_person_history_shows_eligibility(city, settings, operator, clerk, tmp_path):
    _import(city, settings, operator, tmp_path, ("1001", "HIB", "2024-06-09"))
    h = ledger.person_history(city, settings, actor=clerk, atena_no="1001")
    hib = [e for e in h.eligibility if e.vaccine == "HIB"][0]
    # Seen today (he is past 1歳): the missed primary doses are skipped and the booster is due,
    # from 1歳 (reach = 2025-04-09, later than 7 months after dose 1) until reach(生後60月).
    assert h.as_of >= date(2026, 11, 26)
    assert (hib.next_dose, hib.status, hib.earliest, hib.legal_until) == (4, "eligible", date(2025, 4, 9), date(2029, 4, 9))
