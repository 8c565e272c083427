"""Retention: a demo city aged past its retention is purged after four-eyes approval; afterwards the
database file holds none of the erased names, kana or 個人番号, their data keys are gone (the old
ciphertexts open with no key) and the audit chain still verifies with a tombstone entry."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from sesshu.actor import Actor
from sesshu.approvals import service as approvals
from sesshu.approvals.models import ApprovalRequest
from sesshu.audit.models import AuditEntry
from sesshu.audit.service import verify_chain
from sesshu.auth.service import create_user
from sesshu.demo.service import load_demo
from sesshu.domain.errors import Conflict, InvalidInput
from sesshu.keys import load_keyring
from sesshu.ledger.models import Doctor, VaccinationRecord, VaccinationRecordHistory
from sesshu.ledger.service import Correction, correct_record, person_history
from sesshu.orm import load_all_models
from sesshu.registry.models import Person, PersonHistory
from sesshu.retention import service as retention
from sesshu.retention.models import PersonDataKey
from sesshu.retention.personkeys import open_number
from tests.helpers import my_number

ADMIN = Actor(login_id="setup", kind="os", role="operator")
# Generated as of 2015: every death in the demo city is 5+ years before today.
AGED = date(2015, 6, 1)
NON_RESIDENT = {"name": "熊谷　消子", "name_kana": "クマガヤ　ケシコ", "sex": "F", "birth_date": "1940-06-15",
                "postal_code": "360-0042", "address": "熊谷市消去町9-9-9", "phone": "048-999-0000",
                "my_number": my_number("55555555555")}


@pytest.fixture
def bosses(db, settings):
    def make(login_id: str) -> Actor:
        create_user(db, settings, actor=ADMIN, login_id=login_id, display_name=login_id, role="supervisor",
                    password="kumagaya-Sesshu-2026", tasks=(("yobo_sesshu", "健康づくり課"),))
        with db.transaction() as s:
            uid = s.execute(text("SELECT id FROM staff_user WHERE login_id = :l"), {"l": login_id}).scalar_one()
        return Actor(login_id=login_id, kind="user", role="supervisor", user_id=uid)

    return make("boss-a"), make("boss-b")


def _deceased_non_resident(db, settings, asker, approver) -> str:
    """A 住登外者 registered through an approval (its payload holds the 4情報 and number), since deceased."""
    req = approvals.request_approval(db, settings, actor=asker, kind="non_resident_registration",
                                     raw=NON_RESIDENT, reason="消去町からの予診票")
    out = approvals.approve(db, settings, actor=approver, approval_id=req.id, expected_version=req.version)
    with db.transaction() as s:
        s.execute(update(Person).where(Person.atena_no == out.result_ref).values(
            registry_status="deceased", died_on=date(2014, 1, 10), version=Person.version + 1))
    return out.result_ref


def _more_deaths(db, n: int) -> None:
    """A few more deaths, as the 住基 feed registered them back then."""
    with db.transaction() as s:
        more = s.execute(select(Person.atena_no).where(Person.registry_status == "resident")
                         .order_by(Person.birth_date).limit(n)).scalars().all()
        s.execute(update(Person).where(Person.atena_no.in_(more)).values(
            registry_status="deceased", died_on=date(2015, 3, 1), change_reason="死亡", version=Person.version + 1))


def _request_and_approve(db, settings, asker, approver) -> int:
    req = approvals.request_approval(db, settings, actor=asker, kind="retention_purge",
                                     raw={"category": "ledger_deceased"}, reason="保存期間の経過による定期消去")
    approvals.approve(db, settings, actor=approver, approval_id=req.id, expected_version=req.version)
    return req.id


def test_aged_city_is_purged_irrecoverably_and_the_audit_chain_still_verifies(db, settings, backend, bosses,
                                                                             operator):
    asker, approver = bosses
    load_demo(db, settings, actor=operator, residents=300, seed=3, as_of=AGED)
    extra = _deceased_non_resident(db, settings, asker, approver)
    _more_deaths(db, 6)
    keys = load_keyring(settings)
    with db.transaction() as s:
        dead = s.execute(select(Person).where(Person.registry_status == "deceased")).scalars().all()
        alive = s.execute(select(Person).where(Person.registry_status != "deceased").limit(3)).scalars().all()
        erased = {p.atena_no: (p.name, p.name_kana, p.address, open_number(s, keys, p.atena_no, p.my_number_enc),
                               p.my_number_enc) for p in dead}
        kept = [(p.atena_no, p.name) for p in alive]
        record = s.execute(select(VaccinationRecord).where(VaccinationRecord.atena_no.in_(list(erased)))).scalars().first()
    assert len(erased) >= 5 and extra in erased and record is not None
    # Work on one of them first: a view and a correction (history rows, audit entries with the 宛名番号).
    person_history(db, settings, actor=asker, atena_no=record.atena_no)
    correct_record(db, settings, actor=approver, correction=Correction(record_id=record.id, expected_version=record.version,
                                                             reason="ロット番号の誤記", changes={"lot_no": "ERASEME1"}))

    # Nothing is erased without a second supervisor; a request by one is not enough.
    req = approvals.request_approval(db, settings, actor=asker, kind="retention_purge",
                                     raw={"category": "ledger_deceased"}, reason="保存期間の経過による定期消去")
    with pytest.raises(Conflict, match="承認されていません"):
        retention.purge(db, settings, actor=operator, approval_id=req.id)
    # The approver sees who would be erased (4情報) and why each is due, not only a count and a hash.
    shown = approvals.get_approval(db, settings, actor=approver, approval_id=req.id)
    assert shown.subjects_header[:6] == ["宛名番号", "氏名", "氏名カナ", "性別", "生年月日", "住所"]
    listed = {row[0]: row for row in shown.subjects}
    assert set(listed) == set(erased) and listed[extra][1] == "熊谷　消子" and listed[extra][5] == "熊谷市消去町9-9-9"
    assert all(row[6].startswith("死亡日 ") and "を経過" in row[6] for row in shown.subjects)
    assert all("sesshu " not in d.value and "[check" not in d.value for d in shown.details)
    approvals.approve(db, settings, actor=approver, approval_id=req.id, expected_version=req.version)

    # Interrupted after one chunk, then resumed by the same command.
    first = retention.purge(db, settings, actor=operator, approval_id=req.id, chunk_size=4, max_chunks=1)
    assert first.status == "running" and first.done_units == 4
    done = retention.purge(db, settings, actor=operator, approval_id=req.id, chunk_size=4)
    assert done.status == "done" and done.total_units == len(erased)
    again = retention.purge(db, settings, actor=operator, approval_id=req.id)
    assert again.already_done

    with db.transaction() as s:
        gone = list(erased)
        assert s.execute(select(func.count()).select_from(Person).where(Person.atena_no.in_(gone))).scalar_one() == 0
        md = load_all_models()
        for place in retention.erasure_plan():
            table, column = place.split(".")
            t = md.tables[table]
            assert s.execute(select(func.count()).select_from(t).where(t.c[column].in_(gone))).scalar_one() == 0, place
        assert s.execute(select(func.count()).select_from(VaccinationRecordHistory)
                         .where(VaccinationRecordHistory.record_id == record.id)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(PersonDataKey)
                         .where(PersonDataKey.atena_no.in_(gone))).scalar_one() == 0
        # The others are untouched.
        assert s.execute(select(func.count()).select_from(Person)
                         .where(Person.atena_no.in_([a for a, _ in kept]))).scalar_one() == len(kept)
        # Crypto-shredding: even with the master key, an old copy of a ciphertext no longer opens.
        atena, (_, _, _, _, blob) = next(iter(erased.items()))
        with pytest.raises(ValueError):
            open_number(s, keys, atena, blob)
        # The approval that registered the 住登外者 keeps who and when, not what.
        scrubbed = s.execute(select(ApprovalRequest).where(ApprovalRequest.result_ref == extra)).scalar_one()
        assert json.loads(keys.decrypt(scrubbed.payload_enc, aad=f"approval:{scrubbed.payload_ref}")) == {"erased": True}
        assert scrubbed.requested_by == "boss-a" and "消去" in scrubbed.summary
        tomb = s.execute(select(AuditEntry).where(AuditEntry.action == "retention.purge")).scalar_one()
        detail = json.loads(tomb.detail)
        assert detail["persons"] == len(erased) and detail["approved_by"] == "boss-b"
        assert detail["requested_by"] == "boss-a" and detail["category"] == "ledger_deceased"
        assert tomb.atena_no is None and not any(a in tomb.detail for a in erased)
        details = "".join(s.execute(select(AuditEntry.detail)).scalars())
    for name, kana, address, number, _ in erased.values():
        assert name not in details and kana not in details and number not in details
    assert verify_chain(db, actor=operator).ok

    with db.transaction() as s:
        # Values that are still legitimately held: a doctor of the same name in the master data, the
        # 世帯主氏名 in a surviving household member's own registry row (the 住基 feed updates it).
        still_held = set(s.execute(select(Doctor.name)).scalars()) | set(
            s.execute(select(Person.householder_name)).scalars())
    if backend == "sqlite":
        db.dispose()
        base = Path(settings.resolved_database_url.removeprefix("sqlite:///"))
        files = [p for p in base.parent.iterdir() if p.name.startswith(base.name)]
        raw = b"".join(p.read_bytes() for p in files)
        assert kept[0][1].encode() in raw  # the search does find what is still there
        for atena, (name, kana, address, number, _) in erased.items():
            # Addresses are shared within a household; the 住登外者's is the person's own.
            for value in (name, kana, name.replace("\u3000", ""), number) + ((address,) if atena == extra else ()):
                if value in still_held:
                    continue
                assert value.encode() not in raw, f"{atena}: {value!r} remains in {[p.name for p in files]}"
        assert b"ERASEME1" not in raw


def test_purge_refuses_when_the_due_list_changed_after_approval(db, settings, bosses, operator):
    asker, approver = bosses
    load_demo(db, settings, actor=operator, residents=120, seed=4, as_of=AGED)
    _more_deaths(db, 3)
    approval_id = _request_and_approve(db, settings, asker, approver)
    with db.transaction() as s:  # a registry correction: one of them was not dead after all
        one = s.execute(select(Person.atena_no).where(Person.registry_status == "deceased")).scalars().first()
        s.execute(update(Person).where(Person.atena_no == one).values(registry_status="resident", died_on=None))
    with pytest.raises(Conflict, match="対象が変わりました"):
        retention.purge(db, settings, actor=operator, approval_id=approval_id)
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(Person)
                         .where(Person.registry_status == "deceased")).scalar_one() > 0


def test_nothing_due_cannot_be_requested_and_the_listing_is_audited(db, settings, bosses, operator):
    asker, _ = bosses
    with pytest.raises(InvalidInput, match="保存期間を過ぎたデータはありません"):
        approvals.request_approval(db, settings, actor=asker, kind="retention_purge",
                                   raw={"category": "ledger_deceased"}, reason="確認")
    rows = retention.due(db, actor=operator, today=date(2026, 12, 3))
    by_code = {c.code: c for c in rows}
    assert by_code["ledger_deceased"].enabled and by_code["ledger_deceased"].count == 0
    assert not by_code["exchange_records"].enabled and by_code["exchange_records"].years == 7
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(AuditEntry)
                         .where(AuditEntry.action == "retention.due")).scalar_one() == 1


def test_every_table_naming_a_person_is_erased_or_kept_on_purpose():
    """A new feature's table with a 宛名番号 is covered by erasure, or the test says which to decide."""
    md = load_all_models()
    plan = set(retention.erasure_plan())
    for t in md.sorted_tables:
        for c in t.c:
            if "atena_no" in c.name and t.name not in retention.KEPT_TABLES:
                refers = any(fk.column.table.name == "person" for fk in c.foreign_keys)
                assert f"{t.name}.{c.name}" in plan or refers or t.name == "person", f"{t.name}.{c.name}"
    # Tables hanging off a person's rows (history of a record) are reached through their foreign keys.
    assert PersonHistory.__tablename__ + ".atena_no" in plan
    assert any(fk.column.table.name == "vaccination_record" for fk in VaccinationRecordHistory.__table__.foreign_keys)
