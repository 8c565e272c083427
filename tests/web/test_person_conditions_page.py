"""The person page's 「接種対象の要件」: a supervisor records and ends the 60–64 criterion through the
forms, the verdicts on the page follow, clerks see no form, bad input and persons outside the user's
事務 are refused (the latter on record), and everything shown is escaped."""
from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sesshu.access import service as access
from sesshu.access.models import StaffAssignment
from sesshu.audit.models import AuditEntry
from sesshu.auth.models import StaffUser
from sesshu.clock import today_jst
from sesshu.conditions.models import PersonCondition
from sesshu.registry.service import import_registry
from tests.helpers import REGISTRY_HEADER, write
from tests.web.conftest import ADMIN, add_record, login

TODAY = today_jst()
SEASON_DAY = date(TODAY.year if TODAY >= date(TODAY.year, 10, 1) else TODAY.year - 1, 10, 1)
ATENA = "4001"
FORM = {"condition_code": "designated_disability", "impairment": "heart", "evidence_kind": "handbook",
        "evidence_grade": "1級", "evidence_no": "第4001号", "evidence_issued_on": "2019-04-01",
        "confirmed_on": TODAY.isoformat(), "valid_from": "", "valid_until": "", "evidence_note": "",
        "reason": "窓口で身体障害者手帳を確認"}


@pytest.fixture
def elder(db, settings, tmp_path):
    """A 62-year-old resident with a flu dose of this season (任意 until the condition is on file)."""
    born = date(SEASON_DAY.year - 62, 1, 1).isoformat()
    path = write(Path(tmp_path) / "elder.csv", REGISTRY_HEADER + "\n"
                 f"{ATENA},,心臓 一郎,シンゾウ イチロウ,男,{born},,熊谷市本町,,,,,,,\n")
    import_registry(db, settings, path=path, actor=ADMIN)
    return add_record(db, ATENA, vaccine="FLU_ELDER", on=SEASON_DAY)


def _audit(db, action: str) -> list[AuditEntry]:
    with db.transaction() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).scalars())


def _badge(page: str, record_id: int) -> str:
    row = page.split(f'id="record-{record_id}"', 1)[1].split("</tr>", 1)[0]
    return row.split('class="badge verdict-', 1)[1].split('"', 1)[0]


def test_supervisor_records_the_condition_and_the_dose_becomes_routine(client, db, make_staff, elder):
    csrf = login(client, make_staff("supervisor"))
    page = client.get(f"/persons/{ATENA}").text
    assert "接種対象の要件" in page and "登録された要件はありません" in page
    assert f'action="/persons/{ATENA}/conditions"' in page
    assert _badge(page, elder) == "voluntary"

    r = client.post(f"/persons/{ATENA}/conditions", data={"csrf_token": csrf, **FORM})
    assert r.status_code == 303 and r.headers["location"] == f"/persons/{ATENA}?notice=condition_set#conditions"
    page = client.get(r.headers["location"]).text
    assert "接種対象の要件を登録し、接種記録を再判定しました" in page
    assert "心臓機能障害" in page and "身体障害者手帳 1級" in page and "第4001号" in page
    assert _badge(page, elder) == "valid"
    [entry] = _audit(db, "person.condition_set")
    assert entry.actor == "supervisor-1" and entry.atena_no == ATENA and "第4001号" not in entry.detail


def test_ending_through_the_form_returns_the_dose_to_voluntary(client, db, make_staff, elder):
    csrf = login(client, make_staff("supervisor"))
    client.post(f"/persons/{ATENA}/conditions", data={"csrf_token": csrf, **FORM})
    with db.transaction() as s:
        cid = s.execute(select(PersonCondition.id)).scalar_one()
    page = client.get(f"/persons/{ATENA}").text
    assert f'action="/persons/{ATENA}/conditions/{cid}/end"' in page
    r = client.post(f"/persons/{ATENA}/conditions/{cid}/end", data={
        "csrf_token": csrf, "mode": "end", "ended_on": (SEASON_DAY - timedelta(days=1)).isoformat(),
        "reason": "手帳の返還の届出"})
    assert r.status_code == 303 and "notice=condition_ended" in r.headers["location"]
    page = client.get(f"/persons/{ATENA}").text
    assert _badge(page, elder) == "voluntary"
    assert "手帳の返還の届出" in page and "終了" in page  # kept on the page as history
    assert f'action="/persons/{ATENA}/conditions/{cid}/end"' not in page  # nothing left to end
    assert json.loads(_audit(db, "person.condition_end")[0].detail)["records_changed"] == 1


def test_withdraw_mode_marks_the_entry_as_mistaken(client, db, make_staff, elder):
    csrf = login(client, make_staff("supervisor"))
    client.post(f"/persons/{ATENA}/conditions", data={"csrf_token": csrf, **FORM})
    with db.transaction() as s:
        cid = s.execute(select(PersonCondition.id)).scalar_one()
    r = client.post(f"/persons/{ATENA}/conditions/{cid}/end",
                    data={"csrf_token": csrf, "mode": "withdraw", "reason": "別人の手帳"})
    assert r.status_code == 303 and "notice=condition_withdrawn" in r.headers["location"]
    assert "取消（誤登録）" in client.get(f"/persons/{ATENA}").text
    assert _audit(db, "person.condition_withdraw")


def test_clerk_sees_the_conditions_but_no_form_and_cannot_post(client, db, make_staff, elder):
    csrf = login(client, make_staff("clerk"))
    page = client.get(f"/persons/{ATENA}").text
    assert "接種対象の要件" in page and f'action="/persons/{ATENA}/conditions"' not in page
    r = client.post(f"/persons/{ATENA}/conditions", data={"csrf_token": csrf, **FORM})
    assert r.status_code == 403 and "権限がありません" in r.text
    with db.transaction() as s:
        assert s.execute(select(PersonCondition)).first() is None


@pytest.mark.parametrize("change, message", [
    ({"evidence_grade": "3"}, "定期接種の対象となるのは1級相当の障害です"),
    ({"evidence_grade": "いち"}, "等級は数字で入力してください"),
    ({"reason": ""}, "登録理由を入力してください"),
    ({"confirmed_on": "2026-13-40"}, "書類を確認した日"),
    ({"impairment": ""}, "障害の種類を選んでください"),
])
def test_bad_input_is_a_400_with_a_japanese_reason_and_a_way_back(client, db, make_staff, elder, change, message):
    csrf = login(client, make_staff("supervisor"))
    r = client.post(f"/persons/{ATENA}/conditions", data={"csrf_token": csrf, **FORM, **change})
    assert r.status_code == 400 and message in r.text
    assert f"/persons/{ATENA}#conditions" in r.text
    with db.transaction() as s:
        assert s.execute(select(PersonCondition)).first() is None


def test_without_the_csrf_token_nothing_is_recorded(client, db, make_staff, elder):
    login(client, make_staff("supervisor"))
    r = client.post(f"/persons/{ATENA}/conditions", data=FORM)
    assert r.status_code == 403
    with db.transaction() as s:
        assert s.execute(select(PersonCondition)).first() is None


def test_person_outside_the_users_task_is_a_404_on_record(app, db, make_staff, elder):
    staff = make_staff("supervisor", login_id="kyusai-1")
    with db.transaction() as s:
        uid = s.execute(select(StaffUser.id).where(StaffUser.login_id == staff.login_id)).scalar_one()
        s.execute(StaffAssignment.__table__.delete().where(StaffAssignment.user_id == uid))
    access.assign(db, actor=ADMIN, login_id=staff.login_id, task_code="kenko_higai_kyusai", department="健康づくり課")
    with TestClient(app, follow_redirects=False) as client:
        csrf = login(client, staff)
        r = client.post(f"/persons/{ATENA}/conditions", data={"csrf_token": csrf, **FORM})
    assert r.status_code == 404 and "登録されていません" in r.text
    with db.transaction() as s:
        assert s.execute(select(PersonCondition)).first() is None
    assert [e.atena_no for e in _audit(db, "access.out_of_scope")] == [ATENA]
    assert not _audit(db, "person.condition_set")


def test_what_staff_typed_is_escaped(client, db, make_staff, elder):
    csrf = login(client, make_staff("supervisor"))
    client.post(f"/persons/{ATENA}/conditions",
                data={"csrf_token": csrf, **FORM, "reason": "<script>alert(1)</script>", "evidence_no": "<b>1</b>"})
    page = client.get(f"/persons/{ATENA}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "&lt;b&gt;1&lt;/b&gt;" in page
