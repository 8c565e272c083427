"""The dashboard: records per month, coverage by cohort, import error rates — inline SVG, counts only."""
from __future__ import annotations

from datetime import date

from sesshu.clock import today_jst
from sesshu.dashboard.service import dashboard, fiscal_year
from tests.helpers import RECORD_HEADER, write
from tests.web.conftest import ADMIN, add_record, login


def test_home_shows_the_charts_for_staff_who_see_persons(client, db, settings, make_staff, persons, tmp_path):
    add_record(db, "1001", vaccine="MR", on=date(2021, 4, 10))
    from sesshu.ledger.service import import_records

    path = write(tmp_path / "rec.csv", RECORD_HEADER + "\n1001,BCG,,1,,R2.9.1,接種,,,,,,,,,,,,,,\n"
                 "9999,BCG,,1,,R2.9.1,接種,,,,,,,,,,,,,,\n")
    import_records(db, settings, path=path, actor=ADMIN)
    login(client, make_staff("clerk"))
    page = client.get("/")
    assert page.status_code == 200
    assert page.text.count("<svg") >= 3 and "月別の接種記録の登録件数" in page.text
    assert "50.0%" in page.text  # one of two rows of the import was refused
    assert "2020年度生（2人）" in page.text
    assert "<script" not in page.text.split("<main", 1)[1].split("</main>", 1)[0]


def test_coverage_counts_residents_with_a_record_per_cohort(db, persons):
    add_record(db, "1001", vaccine="MR", on=date(2021, 4, 10))
    d = dashboard(db, today=today_jst(), refresh=True)
    # Both test persons are born in 年度 2020 (2020-04-01 and R2.5.3).
    assert d.coverage.residents[fiscal_year(date(2020, 4, 1))] == 2
    assert d.coverage.covered[(2020, "MR")] == 1
    assert d.records_total == 1 and d.months[-1][1] == 1


def test_the_security_officer_gets_no_charts(client, make_staff):
    login(client, make_staff("security_officer"))
    assert "<svg" not in client.get("/").text
    assert client.get("/dashboard").status_code == 403


def test_slow_figures_are_served_from_the_cache_while_they_are_recomputed(db, persons):
    import dataclasses
    import time

    old = dataclasses.replace(dashboard(db, today=today_jst(), refresh=True), seconds=5.0)  # "slow"
    db._sesshu_dashboard = (time.monotonic(), ("stale",), old)
    add_record(db, "1001", vaccine="MR", on=date(2021, 4, 10))
    assert dashboard(db, today=today_jst()) is old  # no wait for the recomputation
    for _ in range(100):
        if db._sesshu_dashboard[2] is not old:
            break
        time.sleep(0.05)
    assert dashboard(db, today=today_jst()).records_total == 1
