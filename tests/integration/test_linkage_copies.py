"""副本 registration: a reviewed batch (one prepares, a second checks, a supervisor approves), built
from the ledger with the statutory items only, and 差分 copies for corrections, voids and new records."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from sesshu.actor import Actor
from sesshu.approvals import service as approvals
from sesshu.approvals.service import ApprovalFailed
from sesshu.audit.models import AuditEntry
from sesshu.auth.service import create_user
from sesshu.domain.errors import Conflict, Forbidden, InvalidInput
from sesshu.ledger.models import VaccinationRecord
from sesshu.ledger.service import Correction, correct_record, import_records, void_record
from sesshu.linkage import copies as cp
from sesshu.linkage import service as linkage
from sesshu.linkage.models import LinkagePersonCode, ProvisionBatch, ProvisionCopy
from sesshu.linkage.rules import load_rules
from sesshu.registry.service import import_registry
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, my_number, write

ADMIN = Actor(login_id="setup", kind="os", role="operator")


@pytest.fixture
def staff(db, settings):
    def make(login_id: str, role: str) -> Actor:
        create_user(db, settings, actor=ADMIN, login_id=login_id, display_name=login_id, role=role,
                    password="kumagaya-Sesshu-2026", tasks=(("yobo_sesshu", "健康づくり課"),))
        with db.transaction() as s:
            uid = s.execute(text("SELECT id FROM staff_user WHERE login_id = :l"), {"l": login_id}).scalar_one()
        return Actor(login_id=login_id, kind="user", role=role, user_id=uid)

    return {n: make(n, r) for n, r in (("clerk1", "clerk"), ("clerk2", "clerk"), ("boss1", "supervisor"),
                                       ("boss2", "supervisor"))}


@pytest.fixture
def ledger(db, settings, tmp_path):
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          f"1001,{my_number('12345678901')},山田 花子,ヤマダ ハナコ,女,2024-04-10,,熊谷市本町1-1,,,,,,,\n"
          "1002,,鈴木 次郎,スズキ ジロウ,男,2023-05-01,,熊谷市宮町2-2,,,,,,,\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=ADMIN)
    write(tmp_path / "rec.csv", RECORD_HEADER + "\n"
          "1001,HIB,,1,,2024-06-10,,,,,,,,HB001,0.5,,,,,,\n"
          "1001,HIB,,2,,2024-07-10,,,,,,,,HB002,0.5,,,,,,\n"
          "1002,MR,1,1,,2024-05-02,,,,,,,,MR001,0.5,,,,,,\n")
    import_records(db, settings, path=tmp_path / "rec.csv", actor=ADMIN)


def _publish(db, settings, staff, preparer="clerk1", checker="clerk2", approver="boss1") -> int:
    batch = linkage.prepare_batch(db, actor=staff[preparer])
    approval_id = linkage.check_batch(db, settings, actor=staff[checker], batch_id=batch.id,
                                      expected_version=batch.version)
    approvals.approve(db, settings, actor=staff[approver], approval_id=approval_id, expected_version=1)
    return batch.id


def test_a_batch_is_prepared_by_one_checked_by_a_second_and_approved_by_a_third(db, settings, staff, ledger):
    batch = linkage.prepare_batch(db, actor=staff["boss1"])
    assert (batch.copies, batch.persons, batch.status) == (3, 2, "prepared")
    with pytest.raises(Forbidden):
        linkage.check_batch(db, settings, actor=staff["boss1"], batch_id=batch.id, expected_version=batch.version)
    approval_id = linkage.check_batch(db, settings, actor=staff["clerk1"], batch_id=batch.id,
                                      expected_version=batch.version)
    with pytest.raises(Forbidden):  # the checker cannot approve (nor can a clerk)
        approvals.approve(db, settings, actor=staff["clerk1"], approval_id=approval_id, expected_version=1)
    with pytest.raises(ApprovalFailed):  # the preparer cannot approve either
        approvals.approve(db, settings, actor=staff["boss1"], approval_id=approval_id, expected_version=1)
    with db.transaction() as s:
        assert s.get(ProvisionBatch, batch.id).status == "checked"
        assert not s.execute(select(ProvisionCopy.id).where(ProvisionCopy.current)).first()

    batch_id = _publish(db, settings, staff)  # a fresh batch replaces the one that could not be approved
    with db.transaction() as s:
        b = s.get(ProvisionBatch, batch_id)
        assert (b.status, b.prepared_by, b.checked_by, b.approved_by) == ("approved", "clerk1", "clerk2", "boss1")
        assert len(cp.current_copies(s, "1001")) == 2
        actions = set(s.execute(select(AuditEntry.action)).scalars())
    assert {"linkage.prepare", "approval.request", "approval.approve", "linkage.approve_batch"} <= actions


def test_a_copy_holds_the_statutory_items_and_the_random_code_only(db, settings, staff, ledger):
    _publish(db, settings, staff)
    with db.transaction() as s:
        items = [cp.items_of(c) for c in cp.current_copies(s, "1001")]
        code = s.get(LinkagePersonCode, "1001").fugo
    assert set(items[0]) == set(load_rules().copy_items)
    assert items[0]["vaccine_code"] == "HIB" and items[0]["vaccinated_on"] == "2024-06-10"
    assert items[0]["lot_no"] == "HB001"
    text_of_copies = json.dumps(items, ensure_ascii=False)
    assert "1001" not in text_of_copies and "山田" not in text_of_copies
    assert len(code) == 32 and "1001" not in code and my_number("12345678901") not in code


def test_corrections_voids_and_new_records_produce_difference_copies(db, settings, staff, ledger, tmp_path):
    _publish(db, settings, staff)
    with pytest.raises(InvalidInput):  # nothing changed since
        linkage.prepare_batch(db, actor=staff["clerk1"])
    with db.transaction() as s:
        first, second = s.execute(select(VaccinationRecord).where(VaccinationRecord.atena_no == "1001")
                                  .order_by(VaccinationRecord.id)).scalars().all()
    correct_record(db, settings, actor=ADMIN, correction=Correction(record_id=first.id, expected_version=first.version,
                                                          reason="ロット番号の誤記", changes={"lot_no": "HB009"}))
    void_record(db, actor=ADMIN, record_id=second.id, expected_version=second.version, reason="重複登録")
    write(tmp_path / "more.csv", RECORD_HEADER + "\n1001,BCG,,1,,2024-09-02,,,,,,,,BC001,,,,,,,\n")
    import_records(db, settings, path=tmp_path / "more.csv", actor=ADMIN)

    batch = linkage.prepare_batch(db, actor=staff["clerk1"])
    with db.transaction() as s:
        changes = sorted((c.change, json.loads(c.items)["vaccine_code"]) for c in s.execute(
            select(ProvisionCopy).where(ProvisionCopy.batch_id == batch.id)).scalars())
    assert changes == [("correct", "HIB"), ("new", "BCG"), ("void", "HIB")]
    approval_id = linkage.check_batch(db, settings, actor=staff["clerk2"], batch_id=batch.id,
                                      expected_version=batch.version)
    with pytest.raises(Conflict):  # nothing new can be prepared while a batch waits for approval
        linkage.prepare_batch(db, actor=staff["clerk1"])
    approvals.approve(db, settings, actor=staff["boss2"], approval_id=approval_id, expected_version=1)
    with db.transaction() as s:
        now = sorted((c["vaccine_code"], c["lot_no"]) for c in map(cp.items_of, cp.current_copies(s, "1001")))
    assert now == [("BCG", "BC001"), ("HIB", "HB009")]


def test_a_manual_only_person_gets_flagged_copies(db, settings, staff, ledger):
    linkage.set_manual_only(db, actor=staff["clerk1"], atena_no="1002", manual_only=True, reason="DV等支援措置")
    _publish(db, settings, staff)
    with db.transaction() as s:
        assert [c.manual_only for c in cp.current_copies(s, "1002")] == [True]
        assert [c.manual_only for c in cp.current_copies(s, "1001")] == [False, False]
    linkage.set_manual_only(db, actor=staff["clerk1"], atena_no="1002", manual_only=False, reason="支援措置の終了")
    batch = linkage.prepare_batch(db, actor=staff["clerk1"])
    assert batch.copies == 1  # the flag's change is a 差分 of its own
