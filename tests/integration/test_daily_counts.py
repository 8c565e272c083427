"""Daily counts: doses by day, vaccine, age band, venue and person condition; coverage of 1st/2nd dose;
unused tickets; the prefecture's CSV as an audited export."""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from sesshu.actor import Actor
from sesshu.audit.models import AuditEntry
from sesshu.clock import today_jst, utcnow
from sesshu.conditions.schemas import ConditionEntry
from sesshu.conditions.service import record_condition
from sesshu.counts.service import band_of, daily_report, export_daily_csv
from sesshu.dashboard.service import dashboard
from sesshu.domain.errors import InvalidInput
from sesshu.ledger.models import VaccinationRecord, Venue
from sesshu.registry.service import import_registry
from sesshu.tickets.service import TicketWish, issue
from tests.helpers import REGISTRY_HEADER, write

ADMIN = Actor(login_id="setup", kind="os", role="operator")


def _dose(db, atena_no, on, vaccine="FLU_ELDER", venue="V01", dose_no=1, screening="vaccinated"):
    now = utcnow()
    with db.transaction() as s:
        s.add(VaccinationRecord(atena_no=atena_no, vaccine_code=vaccine, vaccinated_on=on, dose_no=dose_no,
                                category="routine_b", screening_result=screening, venue_code=venue, status="active",
                                created_at=now, created_by="setup", updated_at=now))


@pytest.fixture
def town(db, settings, tmp_path):
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          "1,,甲,コウ,男,1940-01-10,,熊谷市1,,,,,住民,,\n"
          "2,,乙,オツ,女,1955-03-03,,熊谷市2,,,,,住民,,\n"
          "3,,丙,ヘイ,男,1963-08-08,,熊谷市3,,,,,住民,,\n"
          "4,,丁,テイ,女,1990-02-02,,熊谷市4,,,,,住民,,\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=ADMIN)
    with db.transaction() as s:
        s.add_all([Venue(code="V01", name="集団接種会場A"), Venue(code="V02", name="集団接種会場B")])
    record_condition(db, actor=ADMIN, atena_no="3", entry=ConditionEntry(
        condition_code="designated_disability", impairment="kidney", evidence_kind="handbook", evidence_grade=1,
        evidence_no="第3号", confirmed_on=today_jst() - timedelta(days=30), reason="手帳の確認"))
    today = today_jst()
    _dose(db, "1", today)
    _dose(db, "1", today - timedelta(days=30), dose_no=1)  # an earlier dose: ≥2 doses, outside the period
    _dose(db, "2", today, venue="V02")
    _dose(db, "3", today - timedelta(days=1))
    _dose(db, "4", today, screening="screened_only")  # 予診のみ: not a dose
    with db.transaction() as s:
        issue(s, ADMIN, [TicketWish("2", "FLU_ELDER", 2, None), TicketWish("4", "FLU_ELDER", 1, None)],
              reason="notice")
    return today


def test_doses_by_day_vaccine_band_venue_and_condition(db, town):
    today = town
    r = daily_report(db, actor=ADMIN, day_from=today - timedelta(days=6), day_to=today, vaccine="flu_elder")
    per_day = dict(r.per_day())
    assert per_day[today] == 2 and per_day[today - timedelta(days=1)] == 1 and sum(per_day.values()) == 3
    assert dict(r.totals_by(3)) == {"V01": 2, "V02": 1}
    assert dict(r.totals_by(4)) == {"": 2, "designated_disability": 1}
    assert dict(r.totals_by(2))[band_of(date(1940, 1, 10), today)] == 1
    # Coverage at the end of the period, among residents by age band.
    band1 = band_of(date(1940, 1, 10), today)
    assert r.covered_by_band[(band1, 1)] == 1 and r.covered_by_band[(band1, 2)] == 1
    assert r.tickets_outstanding == {2: 1, 1: 1}
    with db.transaction() as s:
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "counts.daily_view")).scalars().all()


def test_the_csv_is_an_audited_export_of_counts_only(db, town):
    today = town
    content, report = export_daily_csv(db, actor=ADMIN, day_from=today, day_to=today)
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == ["接種日", "接種種別", "年齢階級", "実施場所コード", "区分（対象者の状態）", "回数", "接種回数", "接種区分",
                       "職種区分"]
    assert sum(int(r[6]) for r in rows[1:]) == 2 and all(r[0] == today.isoformat() for r in rows[1:])
    with db.transaction() as s:
        [entry] = s.execute(select(AuditEntry).where(AuditEntry.action == "export")).scalars().all()
    assert "日次の接種実績" in entry.detail and "sha256" in entry.detail


def test_age_bands_follow_the_law_and_bad_periods_are_refused(db):
    on = date(2026, 12, 6)
    assert band_of(date(1961, 12, 7), on) == "65-69歳"  # reaches 65 on the day before the birthday
    assert band_of(date(1961, 12, 8), on) == "60-64歳"
    assert band_of(date(2020, 1, 1), on) == "0-11歳" and band_of(date(1920, 1, 1), on) == "90歳以上"
    with pytest.raises(InvalidInput, match="31日以内"):
        daily_report(db, actor=ADMIN, day_from=on - timedelta(days=40), day_to=on)
    with pytest.raises(InvalidInput, match="前です"):
        daily_report(db, actor=ADMIN, day_from=on, day_to=on - timedelta(days=1))


def test_dashboard_shows_the_last_days(db, town):
    d = dashboard(db, today=town, refresh=True)
    assert d.days[-1] == (town, 2) and d.days[-2] == (town - timedelta(days=1), 1) and len(d.days) == 14
