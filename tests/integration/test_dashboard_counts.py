"""The dashboard's running counts (triggers, migration 0016) always equal a full recount, whatever writes."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update

from sesshu.clock import today_jst
from sesshu.dashboard.service import dashboard, recount, running_counts
from sesshu.ledger import service as ledger
from sesshu.ledger.models import VaccinationRecord
from sesshu.registry.service import import_registry
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, write


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: n for k, n in counts.items() if n}


def _assert_counts_match(db, **kw) -> dict[str, int]:
    with db.transaction() as s:
        kept, full = _nonzero(running_counts(s, **kw)), _nonzero(recount(s))
    assert kept == full
    return kept


def _line(atena: str, vaccine: str, date: str) -> str:
    return ",".join([atena, vaccine, "", "", "", date, ""] + [""] * 14)


def test_counts_follow_imports_voids_registry_changes_and_deletes(db, settings, operator, tmp_path):
    registry = REGISTRY_HEADER + "\n" + "".join(
        f"{1000 + i},,住民 {i},ジュウミン {i},女,2023-0{1 + i % 9}-10,,熊谷市本町,,,,,住民,,\n" for i in range(6))
    import_registry(db, settings, path=write(tmp_path / "reg.csv", registry), actor=operator)
    assert _assert_counts_match(db)["residents"] == 6

    records = RECORD_HEADER + "\n" + "\n".join(
        [_line("1000", "HIB", "2023-12-01"), _line("1001", "HIB", "2023-12-01"), _line("1002", "PCV", "2024-01-05"),
         _line("1000", "HIB", "2023-12-01"), _line("9999", "HIB", "2023-12-01")]) + "\n"
    summary = ledger.import_records(db, settings, path=write(tmp_path / "rec.csv", records), actor=operator)
    assert (summary.accepted, summary.duplicates, summary.rejected) == (3, 1, 1)
    counts = _assert_counts_match(db)
    assert counts["active"] == 3 and counts[f"records:{today_jst():%Y-%m}"] == 3

    with db.transaction() as s:
        first = s.execute(select(VaccinationRecord).order_by(VaccinationRecord.id)).scalars().first()
    ledger.void_record(db, actor=operator, record_id=first.id, expected_version=first.version, reason="誤登録")
    assert _assert_counts_match(db)["active"] == 2

    # 転出 and a correction of the registry: the same file again with two persons changed.
    moved = registry.replace("1004,,住民 4,ジュウミン 4,女,2023-05-10,,熊谷市本町,,,,,住民,,",
                             "1004,,住民 4,ジュウミン 4,女,2023-05-10,,熊谷市本町,,,,,転出,転出,2026-11-01")
    import_registry(db, settings, path=write(tmp_path / "reg2.csv", moved), actor=operator)
    assert _assert_counts_match(db)["residents"] == 5

    # Writes outside the services (a purge, a repair by hand) are counted all the same.
    with db.transaction() as s:
        s.execute(update(VaccinationRecord).where(VaccinationRecord.id == first.id + 1)
                  .values(created_at=VaccinationRecord.created_at - timedelta(days=40)))
        s.execute(delete(VaccinationRecord).where(VaccinationRecord.id == first.id + 2))
    _assert_counts_match(db)
    # Folding the delta rows into one per key keeps every total.
    before = _assert_counts_match(db)
    assert _assert_counts_match(db, fold_rows=0) == before


def test_the_dashboard_shows_the_running_counts(db, settings, operator, tmp_path):
    registry = REGISTRY_HEADER + "\n1001,,山田 太郎,ヤマダ タロウ,男,2023-04-10,,熊谷市本町,,,,,住民,,\n"
    import_registry(db, settings, path=write(tmp_path / "reg.csv", registry), actor=operator)
    ledger.import_records(db, settings, actor=operator,
                          path=write(tmp_path / "rec.csv", RECORD_HEADER + "\n" + _line("1001", "HIB", "2023-06-09")))
    d = dashboard(db, today=today_jst(), refresh=True)
    assert (d.residents, d.records_total, d.records_this_month) == (1, 1, 1)


def test_coverage_counts_residents_of_each_cohort_with_an_active_record(db, settings, operator, tmp_path):
    from sesshu.dashboard.service import fiscal_year

    year = fiscal_year(today_jst()) - 2
    born = f"{year}-05-01"
    registry = REGISTRY_HEADER + "\n" + "".join(
        f"{atena},,子 {atena},コ {atena},女,{born},,熊谷市本町,,,,,{status},{reason},{on}\n"
        for atena, status, reason, on in (("2001", "住民", "", ""), ("2002", "住民", "", ""), ("2003", "住民", "", ""),
                                          ("2004", "転出", "転出", "2026-11-01")))
    import_registry(db, settings, path=write(tmp_path / "reg.csv", registry), actor=operator)
    day = f"{year + 1}-06-01"
    records = RECORD_HEADER + "\n" + "\n".join(
        [_line("2001", "HIB", day), _line("2001", "PCV", day), _line("2002", "DPTIPVHIB", day),
         _line("2004", "HIB", day)]) + "\n"
    ledger.import_records(db, settings, path=write(tmp_path / "rec.csv", records), actor=operator)
    cov = dashboard(db, today=today_jst(), refresh=True).coverage
    assert cov.residents[year] == 3
    # ヒブ: 2001 (HIB) and 2002 (5種混合 counts for ヒブ and 4種・5種混合); the 転出 child is not a resident.
    assert (cov.covered[(year, "ヒブ")], cov.covered[(year, "小児肺炎球菌")], cov.covered[(year, "4種・5種混合")],
            cov.covered[(year, "MR")]) == (2, 1, 1, 0)
