"""Person page: the 4情報, the household members and the timeline of doses against the windows."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.registry.service import import_registry
from tests.helpers import REGISTRY_HEADER, write
from tests.web.conftest import ADMIN, add_record, login


def _family(db, settings, tmp_path):
    rows = [
        "2001,,鈴木　一郎,スズキ　イチロウ,男,1990-05-05,360-0003,熊谷市本町1-1,,7001,世帯主,鈴木　一郎,住民,,",
        "2002,,鈴木　花,スズキ　ハナ,女,2023-06-01,360-0003,熊谷市本町1-1,,7001,子,鈴木　一郎,住民,,",
        "2003,,佐藤　次郎,サトウ　ジロウ,男,2022-01-01,360-0004,熊谷市本町2-2,,7002,世帯主,佐藤　次郎,住民,,",
    ]
    path = write(Path(tmp_path) / "family.csv", REGISTRY_HEADER + "\n" + "\n".join(rows) + "\n")
    assert import_registry(db, settings, path=path, actor=ADMIN).accepted == 3


def test_household_members_are_listed_and_their_view_is_on_record(client, db, settings, make_staff, tmp_path):
    _family(db, settings, tmp_path)
    login(client, make_staff("clerk"))
    page = client.get("/persons/2002").text
    household = page[page.index("<h2>世帯"):page.index("</section>", page.index("<h2>世帯"))]
    assert "鈴木　一郎" in household and "/persons/2001" in household
    assert "佐藤" not in household and "/persons/2002" not in household
    with db.transaction() as s:
        detail = s.execute(select(AuditEntry.detail).where(AuditEntry.action == "person.view")).scalar_one()
    assert json.loads(detail)["household"] == ["2001"]


def test_the_timeline_shows_windows_doses_and_today(client, db, settings, make_staff, tmp_path):
    _family(db, settings, tmp_path)
    add_record(db, "2002", vaccine="HIB", on=date(2023, 8, 3))
    login(client, make_staff("clerk"))
    page = client.get("/persons/2002").text
    svg = page[page.index('<svg class="chart timeline"'):page.index("</svg>", page.index('<svg class="chart timeline"'))]
    assert "2023-08-03 接種" in svg and "今日" in svg
    assert "定期接種として受けられる期間" in svg and "標準的な接種期間" in svg
    assert "style=" not in svg  # the CSP forbids inline styles
    assert "この方の予診票を入力" in page and "/records/new?atena_no=2002" in page


def test_a_person_alone_in_the_household_gets_an_empty_state(client, db, settings, make_staff, tmp_path):
    _family(db, settings, tmp_path)
    login(client, make_staff("clerk"))
    assert "同じ世帯の方（閲覧できる方）はいません" in client.get("/persons/2003").text
