"""The person page's 「妊娠届」: a supervisor records a 妊娠届 (和暦, full-width digits) and the RSウイルス
母子免疫 dose on the page becomes 定期; the window is shown; clerks see no form; bad input is a 400 in
Japanese; men have no such section; withdrawal returns the dose to 任意."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.clock import today_jst
from sesshu.domain.wareki import to_wareki
from sesshu.pregnancy.models import PregnancyNotice
from sesshu.registry.service import import_registry
from tests.helpers import REGISTRY_HEADER, write
from tests.web.conftest import ADMIN, add_record, login

TODAY = today_jst()
EDD = TODAY + timedelta(days=60)
MOTHER, MAN = "5101", "5102"


def _full_width_wareki(d) -> str:
    return to_wareki(d).translate(str.maketrans("0123456789", "０１２３４５６７８９"))


@pytest.fixture
def mother(db, settings, tmp_path):
    path = write(Path(tmp_path) / "reg.csv", REGISTRY_HEADER + "\n"
                 f"{MOTHER},,妊婦 花子,ニンプ ハナコ,女,1995-06-01,,熊谷市本町,,,,,,,\n"
                 f"{MAN},,男性 太郎,ダンセイ タロウ,男,1995-06-01,,熊谷市本町,,,,,,,\n")
    import_registry(db, settings, path=path, actor=ADMIN)
    return add_record(db, MOTHER, vaccine="RSV_MATERNAL", on=TODAY - timedelta(days=1))


def _badge(page: str, record_id: int) -> str:
    row = page.split(f'id="record-{record_id}"', 1)[1].split("</tr>", 1)[0]
    return row.split('class="badge verdict-', 1)[1].split('"', 1)[0]


def test_supervisor_records_a_pregnancy_and_the_rsv_dose_becomes_routine(client, db, make_staff, mother):
    csrf = login(client, make_staff("supervisor"))
    page = client.get(f"/persons/{MOTHER}").text
    assert "妊娠届の登録はありません" in page and _badge(page, mother) == "voluntary"
    r = client.post(f"/persons/{MOTHER}/pregnancies", data={
        "csrf_token": csrf, "expected_delivery": _full_width_wareki(EDD),
        "notified_on": (TODAY - timedelta(days=120)).isoformat(), "source_ref": "第１２号"})
    assert r.status_code == 303 and r.headers["location"] == f"/persons/{MOTHER}?notice=pregnancy_set#pregnancies"
    page = client.get(r.headers["location"]).text
    assert "妊娠届を登録し、接種記録を再判定しました" in page
    assert to_wareki(EDD - timedelta(days=84)) + "〜" + to_wareki(EDD - timedelta(days=22)) in page
    assert "接種期間中" in page and "第12号" in page
    assert _badge(page, mother) == "valid"
    with db.transaction() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "person.pregnancy_set")).scalar_one()
    assert entry.atena_no == MOTHER and EDD.isoformat() not in entry.detail

    pid = _pid(db)
    r = client.post(f"/persons/{MOTHER}/pregnancies/{pid}/withdraw", data={"csrf_token": csrf, "reason": "別人の届出"})
    assert r.status_code == 303 and "notice=pregnancy_withdrawn" in r.headers["location"]
    page = client.get(f"/persons/{MOTHER}").text
    assert "取消（誤登録）" in page and "別人の届出" in page and _badge(page, mother) == "voluntary"


def _pid(db) -> int:
    with db.transaction() as s:
        return s.execute(select(PregnancyNotice.id)).scalar_one()


@pytest.mark.parametrize("change, message", [
    ({"expected_delivery": ""}, "出産予定日を入力してください"),
    ({"expected_delivery": "令和8年2月30日"}, "出産予定日: 存在しない日付です"),
    ({"notified_on": (TODAY + timedelta(days=3)).isoformat()}, "届出日が未来の日付です"),
])
def test_bad_input_is_a_400_with_a_japanese_reason(client, db, make_staff, mother, change, message):
    csrf = login(client, make_staff("supervisor"))
    form = {"csrf_token": csrf, "expected_delivery": EDD.isoformat(), "notified_on": TODAY.isoformat(), **change}
    r = client.post(f"/persons/{MOTHER}/pregnancies", data=form)
    assert r.status_code == 400 and message in r.text and f"/persons/{MOTHER}#pregnancies" in r.text
    with db.transaction() as s:
        assert s.execute(select(PregnancyNotice)).first() is None


def test_clerk_sees_the_section_but_no_form_and_cannot_post(client, db, make_staff, mother):
    csrf = login(client, make_staff("clerk"))
    page = client.get(f"/persons/{MOTHER}").text
    assert "妊娠届" in page and f'action="/persons/{MOTHER}/pregnancies"' not in page
    r = client.post(f"/persons/{MOTHER}/pregnancies", data={"csrf_token": csrf, "expected_delivery": EDD.isoformat()})
    assert r.status_code == 403


def test_a_man_has_no_pregnancy_section(client, db, make_staff, mother):
    login(client, make_staff("supervisor"))
    page = client.get(f"/persons/{MAN}").text
    assert 'id="pregnancies"' not in page
