"""Four-eyes approvals: 住登外者 registration and moving a record to another person need a second,
different staff member; every step is audited and the payload is encrypted at rest."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select, text

from sesshu.actor import Actor
from sesshu.approvals import service as approvals
from sesshu.approvals.kinds import DuplicateSuspected
from sesshu.approvals.models import ApprovalRequest
from sesshu.audit.models import AuditEntry
from sesshu.audit.service import verify_chain
from sesshu.auth.service import create_user
from sesshu.clock import utcnow
from sesshu.domain.errors import Conflict, Forbidden, InvalidInput
from sesshu.keys import load_keyring
from sesshu.ledger.evaluation import reevaluate_persons
from sesshu.ledger.models import VaccinationRecord, VaccinationRecordHistory
from sesshu.registry.models import Person
from sesshu.registry.service import import_registry, my_number_hash
from sesshu.retention.personkeys import open_number
from tests.helpers import REGISTRY_HEADER, my_number, write

ADMIN = Actor(login_id="setup", kind="os", role="operator")
NUMBER = my_number("98765432109")
FORM = {"name": "熊谷　花子", "name_kana": "クマガヤ　ハナコ", "sex": "F", "birth_date": "R2.6.15",
        "postal_code": "360-0042", "address": "さいたま市浦和区高砂3-15-1", "phone": "", "my_number": NUMBER}


@pytest.fixture
def staff(db, settings):
    """Real accounts assigned to the vaccination task: a clerk and two supervisors."""
    def make(login_id: str, role: str) -> Actor:
        create_user(db, settings, actor=ADMIN, login_id=login_id, display_name=login_id, role=role,
                    password="kumagaya-Sesshu-2026", tasks=(("yobo_sesshu", "健康づくり課"),))
        with db.transaction() as s:
            uid = s.execute(text("SELECT id FROM staff_user WHERE login_id = :l"), {"l": login_id}).scalar_one()
        return Actor(login_id=login_id, kind="user", role=role, user_id=uid)

    return {"clerk": make("clerk-a", "clerk"), "boss": make("boss-a", "supervisor"),
            "boss2": make("boss-b", "supervisor")}


@pytest.fixture
def residents(db, settings, tmp_path):
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          "1001,,山田 太郎,ヤマダ タロウ,男,2020-04-01,,熊谷市本町1-1,,,,,,,\n"
          "1002,,鈴木 次郎,スズキ ジロウ,男,2020-01-01,,熊谷市宮町2-2,,,,,,,\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=ADMIN)
    return ("1001", "1002")


def _request(db, settings, actor, **changes):
    return approvals.request_approval(db, settings, actor=actor, kind="non_resident_registration",
                                      raw={**FORM, **changes}, reason="市外在住者の予診票の受付")


def _actions(db) -> list[str]:
    with db.transaction() as s:
        return list(s.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars())


def _persons(db) -> int:
    with db.transaction() as s:
        return s.execute(select(func.count()).select_from(Person)).scalar_one()


def test_non_resident_is_created_only_when_another_user_approves(db, settings, staff):
    req = _request(db, settings, staff["clerk"])
    assert req.status == "requested" and _persons(db) == 0
    out = approvals.approve(db, settings, actor=staff["boss"], approval_id=req.id, expected_version=req.version)
    assert out.status == "approved" and out.decided_by == "boss-a"
    assert out.result_ref == "900000000000001"
    keys = load_keyring(settings)
    with db.transaction() as s:
        p = s.get(Person, out.result_ref)
        assert (p.name, p.name_kana, p.sex, p.birth_date) == ("熊谷　花子", "クマガヤ ハナコ", "F", date(2020, 6, 15))
        assert p.registry_status == "non_resident"
        assert p.my_number_hmac == my_number_hash(keys, NUMBER)
        assert open_number(s, keys, p.atena_no, p.my_number_enc) == NUMBER
    actions = _actions(db)
    assert actions.index("approval.request") < actions.index("registry.register_non_resident") \
        < actions.index("approval.approve")
    assert verify_chain(db, actor=ADMIN).ok


def test_non_resident_numbers_follow_the_reserved_range_and_skip_taken_ones(db, settings, staff, tmp_path):
    # The registry feed may not write into this range (refused by the import); a number already taken there
    # (e.g. carried over from the previous system) is skipped.
    from sesshu.clock import utcnow
    from sesshu.registry.models import Person

    with db.transaction() as s:
        s.add(Person(atena_no="900000000000002", name="既存　一郎", name_kana="キゾン　イチロウ", sex="M",
                     birth_date=date(2001, 1, 1), registry_status="non_resident", created_at=utcnow(),
                     updated_at=utcnow()))
    first = _request(db, settings, staff["clerk"])
    out = approvals.approve(db, settings, actor=staff["boss"], approval_id=first.id, expected_version=1)
    assert out.result_ref == "900000000000003"
    second = _request(db, settings, staff["clerk"], name_kana="クマガヤ　ジロウ", sex="M", my_number="")
    out = approvals.approve(db, settings, actor=staff["boss"], approval_id=second.id, expected_version=1)
    assert out.result_ref == "900000000000004"


def test_requester_can_never_decide_their_own_request(db, settings, staff):
    req = _request(db, settings, staff["boss"])  # a supervisor may request, and may decide others' requests
    with pytest.raises(Forbidden, match="ご自身の申請"):
        approvals.approve(db, settings, actor=staff["boss"], approval_id=req.id, expected_version=1)
    with pytest.raises(Forbidden, match="ご自身の申請"):
        approvals.reject(db, settings, actor=staff["boss"], approval_id=req.id, expected_version=1, comment="自分で却下")
    # The same login with another session / actor object is still the requester.
    same_login = Actor(login_id="boss-a", kind="user", role="supervisor", user_id=None)
    with pytest.raises(Forbidden):
        approvals.approve(db, settings, actor=same_login, approval_id=req.id, expected_version=1)
    assert _actions(db).count("approval.decision_refused") == 3
    with db.transaction() as s:
        assert s.get(ApprovalRequest, req.id).status == "requested"
    assert _persons(db) == 0
    assert approvals.approve(db, settings, actor=staff["boss2"], approval_id=req.id, expected_version=1).status \
        == "approved"


def test_clerk_and_cli_operator_cannot_decide(db, settings, staff):
    req = _request(db, settings, staff["boss"])
    for actor, message in ((staff["clerk"], "権限がありません"), (ADMIN, "Web画面")):
        with pytest.raises(Forbidden, match=message):
            approvals.approve(db, settings, actor=actor, approval_id=req.id, expected_version=1)
    assert _persons(db) == 0


def test_cli_operator_cannot_request(db, settings):
    with pytest.raises(Forbidden):
        _request(db, settings, ADMIN)


def test_a_request_is_decided_only_once(db, settings, staff):
    req = _request(db, settings, staff["clerk"])
    approvals.approve(db, settings, actor=staff["boss"], approval_id=req.id, expected_version=1)
    with pytest.raises(Conflict, match="承認済み"):
        approvals.approve(db, settings, actor=staff["boss2"], approval_id=req.id, expected_version=2)
    with pytest.raises(Conflict, match="承認済み"):
        approvals.reject(db, settings, actor=staff["boss2"], approval_id=req.id, expected_version=2, comment="後から却下")
    with pytest.raises(Conflict):
        approvals.withdraw(db, actor=staff["clerk"], approval_id=req.id, expected_version=2)
    assert _persons(db) == 1


def test_stale_request_version_is_refused(db, settings, staff):
    req = _request(db, settings, staff["clerk"])
    with pytest.raises(Conflict, match="画面を開き直して"):
        approvals.approve(db, settings, actor=staff["boss"], approval_id=req.id, expected_version=7)
    assert _persons(db) == 0


def test_rejection_needs_a_comment_and_leaves_no_trace_in_the_person_table(db, settings, staff):
    req = _request(db, settings, staff["clerk"])
    with pytest.raises(InvalidInput, match="却下の理由"):
        approvals.reject(db, settings, actor=staff["boss"], approval_id=req.id, expected_version=1, comment="  ")
    out = approvals.reject(db, settings, actor=staff["boss"], approval_id=req.id, expected_version=1,
                           comment="本人確認書類が不足しています")
    assert out.status == "rejected" and out.decision_comment == "本人確認書類が不足しています"
    assert _persons(db) == 0
    assert "approval.reject" in _actions(db) and "registry.register_non_resident" not in _actions(db)


def test_only_the_requester_withdraws_while_pending(db, settings, staff):
    req = _request(db, settings, staff["clerk"])
    with pytest.raises(Forbidden):
        approvals.withdraw(db, actor=staff["boss"], approval_id=req.id, expected_version=1)
    out = approvals.withdraw(db, actor=staff["clerk"], approval_id=req.id, expected_version=1)
    assert out.status == "withdrawn"
    with pytest.raises(Conflict, match="取下げ"):
        approvals.approve(db, settings, actor=staff["boss"], approval_id=req.id, expected_version=2)
    assert _persons(db) == 0
    assert {"approval.withdraw_refused", "approval.withdraw"} <= set(_actions(db))


def test_payload_is_not_stored_in_plaintext(db, settings, staff):
    req = _request(db, settings, staff["clerk"])
    with db.engine.connect() as c:
        row = c.execute(text("SELECT * FROM approval_request WHERE id = :i"), {"i": req.id}).one()
    raw = b"".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in row)
    for secret in ("熊谷　花子", "熊谷", "クマガヤ", NUMBER, NUMBER[:8], "浦和区", "2020-06-15"):
        assert secret.encode() not in raw, secret
    # The detail (for the approver) decrypts it, with the 個人番号 masked.
    detail = approvals.get_approval(db, settings, actor=staff["boss"], approval_id=req.id)
    values = {r.label: r.value for r in detail.details}
    assert values["氏名"] == "熊谷　花子" and values["個人番号"] == "********" + NUMBER[-4:]
    assert detail.may_decide and not detail.own
    # A ciphertext moved to another request (other associated data) does not decrypt.
    other = _request(db, settings, staff["clerk"], name_kana="ベツ　ヒト", my_number="")
    with db.transaction() as s:
        s.get(ApprovalRequest, other.id).payload_enc = s.get(ApprovalRequest, req.id).payload_enc
    with pytest.raises(Exception):
        approvals.get_approval(db, settings, actor=staff["boss"], approval_id=other.id)


def test_requester_sees_own_requests_only_and_approver_sees_all(db, settings, staff):
    req = _request(db, settings, staff["clerk"])
    assert [a.id for a in approvals.overview(db, actor=staff["boss"]).to_decide] == [req.id]
    assert approvals.overview(db, actor=staff["clerk"]).to_decide == []
    assert [a.id for a in approvals.overview(db, actor=staff["clerk"]).mine] == [req.id]
    # The requester's own list does not offer the request for decision, even to an approver.
    own = _request(db, settings, staff["boss"], name_kana="ジブン　ノ", my_number="")
    assert own.id not in [a.id for a in approvals.overview(db, actor=staff["boss"]).to_decide]
    detail = approvals.get_approval(db, settings, actor=staff["boss"], approval_id=own.id)
    assert detail.own and not detail.may_decide and detail.may_withdraw


def test_invalid_my_number_and_missing_fields_are_refused_in_japanese(db, settings, staff):
    with pytest.raises(InvalidInput, match="検査用数字"):
        _request(db, settings, staff["clerk"], my_number=NUMBER[:11] + str((int(NUMBER[11]) + 1) % 10))
    with pytest.raises(InvalidInput, match="氏名を入力"):
        _request(db, settings, staff["clerk"], name="")
    with pytest.raises(InvalidInput, match="カタカナ"):
        _request(db, settings, staff["clerk"], name_kana="Kumagaya")
    with pytest.raises(InvalidInput, match="申請理由"):
        approvals.request_approval(db, settings, actor=staff["clerk"], kind="non_resident_registration",
                                   raw=FORM, reason="")
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(ApprovalRequest)).scalar_one() == 0


def test_duplicates_by_my_number_or_four_items_are_caught(db, settings, staff, tmp_path):
    write(tmp_path / "r.csv", REGISTRY_HEADER + "\n"
          f"1005,{NUMBER},熊谷 花江,クマガヤ ハナエ,女,2019-01-01,,熊谷市,,,,,,,\n"
          "1006,,熊谷 花子,くまがや はなこ,女,2020-06-15,,熊谷市,,,,,転出,転出,2024-01-01\n")
    import_registry(db, settings, path=tmp_path / "r.csv", actor=ADMIN)
    with pytest.raises(InvalidInput, match="1005"):
        _request(db, settings, staff["clerk"])
    with pytest.raises(DuplicateSuspected) as dup:
        _request(db, settings, staff["clerk"], my_number="")
    assert dup.value.atena_nos == ("1006",)
    assert _actions(db).count("approval.request_refused") == 2
    # Confirmed as someone else: the request goes through and the approver is told.
    req = _request(db, settings, staff["clerk"], my_number="", acknowledged=["1006"])
    detail = approvals.get_approval(db, settings, actor=staff["boss"], approval_id=req.id)
    assert {r.label: r.value for r in detail.details}["同一人物でないと確認済みの方"] == "宛名番号 1006"
    # A second pending request for the same person is refused.
    with pytest.raises(Conflict, match="承認待ち"):
        _request(db, settings, staff["clerk"], my_number="", acknowledged=["1006"])
    assert approvals.approve(db, settings, actor=staff["boss"], approval_id=req.id, expected_version=1).status \
        == "approved"


def test_duplicate_appearing_after_the_request_fails_the_approval_cleanly(db, settings, staff, tmp_path):
    req = _request(db, settings, staff["clerk"])
    write(tmp_path / "r.csv", REGISTRY_HEADER + f"\n1007,{NUMBER},熊谷 花子,クマガヤ ハナコ,女,2020-06-15,,熊谷市,,,,,,,\n")
    import_registry(db, settings, path=tmp_path / "r.csv", actor=ADMIN)
    with pytest.raises(approvals.ApprovalFailed, match="1007"):
        approvals.approve(db, settings, actor=staff["boss"], approval_id=req.id, expected_version=1)
    with db.transaction() as s:
        row = s.get(ApprovalRequest, req.id)
        assert row.status == "failed" and "1007" in row.decision_comment and row.decided_by == "boss-a"
        assert s.execute(select(func.count()).select_from(Person).where(
            Person.registry_status == "non_resident")).scalar_one() == 0
    assert "approval.fail" in _actions(db) and "approval.approve" not in _actions(db)


# --- moving a record to another person -----------------------------------------------------------------

def _record(db, atena_no: str, on: date, vaccine: str = "MR") -> int:
    now = utcnow()
    with db.transaction() as s:
        r = VaccinationRecord(atena_no=atena_no, vaccine_code=vaccine, vaccinated_on=on, dose_no=1,
                              category="routine_a", screening_result="vaccinated", status="active",
                              created_at=now, created_by="setup", updated_at=now)
        s.add(r)
        s.flush()
        return r.id


def _codes(db, *ids) -> list[str]:
    with db.transaction() as s:
        return [s.get(VaccinationRecord, i).error_code for i in ids]


def _reassign(db, settings, actor, record_id, to, version=1):
    return approvals.request_approval(db, settings, actor=actor, kind="record_reassign",
                                      raw={"record_id": record_id, "expected_version": version, "to_atena_no": to},
                                      reason="予診票の宛名番号の誤記")


def test_moving_a_record_needs_approval_and_reevaluates_both_persons(db, settings, staff, residents):
    a, b = residents
    # A's first MR really belongs to B: at A it makes A's own MR an extra dose, at B it makes B's an extra.
    wrong, a_own, b_own = _record(db, a, date(2021, 4, 10)), _record(db, a, date(2021, 4, 20)), \
        _record(db, b, date(2021, 5, 1))
    with db.transaction() as s:
        reevaluate_persons(s, [a, b], date(2022, 1, 1))
    before = _codes(db, wrong, a_own, b_own)
    assert before[0] == "" and before[1] != "" and before[2] == ""

    req = _reassign(db, settings, staff["boss"], wrong, b)
    assert req.summary == f"接種記録 {wrong}（MR）の付け替え: 宛名番号 {a} → {b}"
    with db.transaction() as s:
        assert s.get(VaccinationRecord, wrong).atena_no == a  # nothing moves before approval
    with pytest.raises(Forbidden):
        approvals.approve(db, settings, actor=staff["boss"], approval_id=req.id, expected_version=1)
    out = approvals.approve(db, settings, actor=staff["boss2"], approval_id=req.id, expected_version=1)
    assert out.status == "approved" and out.result_ref == str(wrong)
    with db.transaction() as s:
        r = s.get(VaccinationRecord, wrong)
        assert r.atena_no == b and r.version == 2
        [h] = s.execute(select(VaccinationRecordHistory).where(VaccinationRecordHistory.record_id == wrong)).scalars()
        assert h.action == "reassign" and '"atena_no": "1001"' in h.old_values and h.reason == "予診票の宛名番号の誤記"
        moves = s.execute(select(AuditEntry.action, AuditEntry.atena_no).where(
            AuditEntry.action.like("record.reassign%")).order_by(AuditEntry.seq)).all()
    assert [tuple(m) for m in moves] == [("record.reassign_out", a), ("record.reassign_in", b)]
    after = _codes(db, wrong, a_own, b_own)
    assert after[1] == "" and after[2] != ""  # A's own dose is now its first; B's is now the extra one


def test_record_changed_after_the_request_fails_the_move_cleanly(db, settings, staff, residents):
    a, b = residents
    rid = _record(db, a, date(2021, 4, 10))
    req = _reassign(db, settings, staff["boss"], rid, b)
    with db.transaction() as s:
        s.get(VaccinationRecord, rid).lot_no = "CHANGED"  # someone corrects the record meanwhile (version 2)
    with pytest.raises(approvals.ApprovalFailed, match="申請後に更新されています"):
        approvals.approve(db, settings, actor=staff["boss2"], approval_id=req.id, expected_version=1)
    with db.transaction() as s:
        assert s.get(VaccinationRecord, rid).atena_no == a
        assert s.get(ApprovalRequest, req.id).status == "failed"
        assert s.execute(select(func.count()).select_from(VaccinationRecordHistory)).scalar_one() == 0


def test_moving_a_record_needs_record_correct_and_a_valid_target(db, settings, staff, residents):
    a, b = residents
    rid = _record(db, a, date(2021, 4, 10))
    with pytest.raises(Forbidden):
        _reassign(db, settings, staff["clerk"], rid, b)
    with pytest.raises(InvalidInput, match="同じ宛名番号"):
        _reassign(db, settings, staff["boss"], rid, a)
    with pytest.raises(Exception, match="9999"):
        _reassign(db, settings, staff["boss"], rid, "9999")
    with pytest.raises(InvalidInput, match="先に更新"):
        _reassign(db, settings, staff["boss"], rid, b, version=3)
    early = _record(db, b, date(2019, 12, 1), vaccine="BCG")
    with pytest.raises(InvalidInput, match="生年月日より前"):
        _reassign(db, settings, staff["boss"], early, "1001")
    with pytest.raises(Conflict, match="承認待ち"):
        _reassign(db, settings, staff["boss"], rid, b)
        _reassign(db, settings, staff["boss"], rid, b)


# --- CLI: an OS operator may read, never decide -------------------------------------------------------

def test_cli_lists_and_shows_requests_with_the_my_number_masked_and_audited(db, settings, staff):
    import json
    import os
    import subprocess
    import sys

    req = _request(db, settings, staff["clerk"])
    env = dict(os.environ, SESSHU_DATABASE_URL=settings.resolved_database_url, SESSHU_VAR_DIR=str(settings.var_dir))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "sesshu", "approval", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    listed = run("list", "--status", "requested", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["id"] == req.id and row["summary"] == "住登外者の登録（2020年生・女）" and "熊谷" not in listed.stdout
    shown = run("show", str(req.id))
    assert shown.returncode == 0 and "熊谷　花子" in shown.stdout and "********" + NUMBER[-4:] in shown.stdout
    assert NUMBER not in shown.stdout
    assert run("show", "999").returncode == 2
    assert "approve" not in run("--help").stdout
    with db.transaction() as s:
        views = s.execute(select(AuditEntry.actor_kind).where(AuditEntry.action == "approval.view")).scalars().all()
    assert views == ["os"]
