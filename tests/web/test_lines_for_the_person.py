"""Lines that do not apply to a person's age or sex are neither shown nor offered (issue 22 items 7 and 10)."""
from __future__ import annotations

from pathlib import Path

import pytest

from sesshu.registry.service import import_registry
from tests.helpers import REGISTRY_HEADER, write
from tests.web.conftest import ADMIN, login


@pytest.fixture
def elder_and_baby(settings, db, tmp_path, persons):
    from sesshu.clock import today_jst
    baby = today_jst().replace(day=1)
    baby = baby.replace(year=baby.year - 1) if baby.month == 1 else baby.replace(month=baby.month - 1)
    rows = ["3001,,熊谷　長老,クマガヤ　チョウロウ,男,1953-01-01,360-0001,熊谷市宮町1-1,,6001,世帯主,熊谷　長老,住民,,",
            f"3002,,熊谷　赤子,クマガヤ　アカゴ,女,{baby.isoformat()},360-0001,熊谷市宮町1-2,,6002,子,熊谷　一,住民,,"]
    path = write(Path(tmp_path) / "reg2.csv", REGISTRY_HEADER + "\n" + "\n".join(rows) + "\n")
    assert import_registry(db, settings, path=path, actor=ADMIN).accepted == 2
    return {"elder": "3001", "baby": "3002"}


def _closed(html: str) -> str:
    start = html.find('<ul class="closed-lines">')
    return html[start:html.find("</ul>", start)] if start >= 0 else ""


def test_a_man_sees_no_hpv_and_an_adult_no_expired_childhood_lines(client, make_staff, elder_and_baby):
    login(client, make_staff("clerk"))
    page = client.get(f"/persons/{elder_and_baby['elder']}").text
    closed = _closed(page)
    assert "HPV" not in closed and "ヒブ" not in closed and "1958" not in page
    assert "高齢者インフルエンザ" in page  # his own line is still there


def test_ticket_issue_offers_only_what_the_age_makes_possible(client, make_staff, elder_and_baby):
    csrf = login(client, make_staff("clerk"))
    baby = client.get(f"/persons/{elder_and_baby['baby']}/tickets").text
    form = baby[baby.index('action="/persons/3002/tickets/issue"'):]
    options = form[:form.index("</select>")]
    assert 'value="HIB"' in options and 'value="FLU_ELDER"' not in options and 'value="ZOSTER_RZV"' not in options
    elder = client.get(f"/persons/{elder_and_baby['elder']}/tickets").text
    form = elder[elder.index('action="/persons/3001/tickets/issue"'):]
    options = form[:form.index("</select>")]
    assert 'value="HIB"' not in options and 'value="HPV"' not in options
    r = client.post(f"/persons/{elder_and_baby['baby']}/tickets/issue",
                    data={"csrf_token": csrf, "vaccine": "FLU_ELDER", "history_confirmed": "1"})
    assert r.status_code == 400 and "発行しません" in r.text


def test_the_timeline_of_an_adult_starts_near_their_own_windows(client, make_staff, elder_and_baby):
    login(client, make_staff("clerk"))
    page = client.get(f"/persons/{elder_and_baby['elder']}").text
    svg = page[page.index('<svg class="chart timeline"'):page.index("</svg>", page.index('<svg class="chart timeline"'))]
    assert ">70歳<" in svg and ">0歳<" not in svg and "高齢者インフルエンザ" in svg
