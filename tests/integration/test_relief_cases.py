"""健康被害救済: a case runs from claim to the third pension payment, each step dated and by whom; the
payment list of a month and its 全銀 file; only staff of the relief 事務 see the case."""
from __future__ import annotations

import io
from datetime import date

import pytest
import pyzipper
from sqlalchemy import select, text

from sesshu.actor import Actor
from sesshu.audit.models import AuditEntry
from sesshu.audit.service import verify_chain
from sesshu.auth.service import create_user
from sesshu.clock import utcnow
from sesshu.domain.errors import Conflict, Forbidden, InvalidInput
from sesshu.ledger.models import VaccinationRecord
from sesshu.payments.zengin import parse_zengin
from sesshu.registry.service import import_registry
from sesshu.relief import service as relief
from sesshu.relief.models import ReliefBenefit
from sesshu.retention import service as retention
from tests.helpers import REGISTRY_HEADER, write

ADMIN = Actor(login_id="setup", kind="os", role="operator")
ACCOUNT = {"bank_code": "0005", "bank_name": "ミツビシユーエフジェイ", "branch_code": "001", "branch_name": "ホンテン",
           "account_type": "1", "account_no": "7654321", "account_holder_kana": "キュウサイ ハハ"}
PASSWORD = "correct-horse-42"


@pytest.fixture
def staff(db, settings):
    def make(login_id: str, *tasks: str) -> Actor:
        create_user(db, settings, actor=ADMIN, login_id=login_id, display_name=login_id, role="clerk",
                    password="Kyusai-no-Sesshu-2026", tasks=tuple((task, "健康づくり課") for task in tasks))
        with db.transaction() as s:
            uid = s.execute(text("SELECT id FROM staff_user WHERE login_id = :l"), {"l": login_id}).scalar_one()
        return Actor(login_id=login_id, kind="user", role="clerk", user_id=uid)

    # A new claimant is received by staff who reach every person (the vaccination 事務 too); from then
    # on the relief-only clerk sees that claimant, and only the claimants.
    return {"relief": make("suzuki-k", "kenko_higai_kyusai"), "routine": make("tanaka-y", "yobo_sesshu"),
            "reception": make("sato-m", "kenko_higai_kyusai", "yobo_sesshu")}


@pytest.fixture
def claimant(db, settings, operator, tmp_path) -> tuple[str, int]:
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          "4001,,救済 太郎,キュウサイ タロウ,男,2020-04-01,,熊谷市本町1-1,,,,,,,\n"
          "4002,,別人 次郎,ベツジン ジロウ,男,2020-04-02,,熊谷市本町2-2,,,,,,,\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=operator)
    now = utcnow()
    with db.transaction() as s:
        r = VaccinationRecord(atena_no="4001", vaccine_code="MR", vaccinated_on=date(2021, 4, 10), dose_no=1,
                              category="routine_a", screening_result="vaccinated", lot_no="MR777", status="active",
                              created_at=now, created_by="setup", updated_at=now)
        s.add(r)
        s.flush()
        return "4001", r.id


def _step(db, actor, case, step, on, **detail):
    return relief.add_step(db, actor=actor, case_id=case.id, expected_version=case.version, step=step, on_date=on,
                           detail=detail)


def test_case_from_claim_to_the_third_pension_payment(db, settings, staff, claimant):
    atena_no, record_id = claimant
    k = staff["relief"]
    case = relief.open_case(db, actor=staff["reception"], atena_no=atena_no, record_id=record_id, vaccine_class="A",
                            claimant_name="救済 花子", claimant_relation="母", received_on=date(2026, 1, 15),
                            claimed=["medical_expenses", "child_disability_pension"],
                            documents=["claim_form", "medical_certificate", "vaccination_proof"], account=ACCOUNT)
    assert case.status == "claim_received" and case.steps[0].detail["documents"]["receipts"] is False
    with pytest.raises(Conflict, match="次に"):  # the national decision cannot come before the committee
        _step(db, k, case, "national_decision", date(2026, 2, 1), decision="certified")
    case = _step(db, k, case, "committee", date(2026, 3, 10), minutes="接種後の経過と診療録を確認した", result="因果関係を否定できない")
    case = _step(db, k, case, "sent_to_prefecture", date(2026, 3, 20))
    case = _step(db, k, case, "national_decision", date(2026, 8, 25), decision="certified", reference="厚生労働省発健0825第1号",
                 benefits=[{"kind": "medical_expenses", "amount": 180000},
                           {"kind": "child_disability_pension", "amount": 50000, "first_month": "2026-09"}])
    case = _step(db, k, case, "notified", date(2026, 9, 5))
    assert [s.step for s in case.steps] == ["claim_received", "committee", "sent_to_prefecture", "national_decision",
                                            "notified"]
    assert case.steps[0].done_by == "sato-m" and all(s.done_by == "suzuki-k" for s in case.steps[1:])
    case = _step(db, k, case, "note", date(2026, 9, 6), note="請求者に支給開始を電話で連絡")  # notes any time
    assert case.status == "notified"
    pension = next(b for b in case.benefits if b.periodic)

    # September: the pension's first month; the lump sum is paid the month after notification.
    sept = relief.month_payments(db, actor=k, month="2026-09")
    assert [(p.kind_label, p.amount) for p in sept] == [("障害児養育年金", 50000)]
    octo = relief.month_payments(db, actor=k, month="2026-10")
    assert sorted((p.kind_label, p.amount) for p in octo) == [("医療費", 180000), ("障害児養育年金", 50000)]
    nov = relief.month_payments(db, actor=k, month="2026-11")
    assert [(p.kind_label, p.amount) for p in nov] == [("障害児養育年金", 50000)]  # the third pension payment
    again = relief.month_payments(db, actor=k, month="2026-11")
    assert [p.id for p in again] == [p.id for p in nov]  # listed once

    packed, name, n = relief.zengin_for_month(db, actor=k, month="2026-11", transfer_date=date(2026, 11, 20),
                                              password=PASSWORD)
    assert name == "relief_zengin_202611.zip" and n == 1
    with pyzipper.AESZipFile(io.BytesIO(packed)) as z:
        z.setpassword(PASSWORD.encode())
        content = z.read("relief_zengin_202611.txt")
    parsed = parse_zengin(content, year=2026)
    assert [(t.payee_name.strip(), t.amount, t.account_no) for t in parsed.transfers] == [("ｷﾕｳｻｲ ﾊﾊ", 50000, "7654321")]

    case = relief.get_case(db, actor=k, case_id=case.id)
    case = _step(db, k, case, "benefit_ended", date(2026, 11, 30), benefit_id=pension.id, last_month="2026-12",
                 reason="18歳到達により障害年金へ移行")
    assert relief.month_payments(db, actor=k, month="2027-01") == []
    with db.transaction() as s:
        assert s.get(ReliefBenefit, pension.id).end_month == date(2026, 12, 1)
        actions = [a for a in s.execute(select(AuditEntry.action).where(AuditEntry.action.like("relief.%"))).scalars()]
    assert actions.count("relief.step") == 6 and "relief.open" in actions
    assert verify_chain(db, actor=ADMIN).ok


def test_only_relief_staff_see_the_case_and_only_for_claimants(db, settings, staff, claimant):
    atena_no, record_id = claimant
    case = relief.open_case(db, actor=staff["reception"], atena_no=atena_no, record_id=record_id, vaccine_class="B",
                            claimant_name="救済 太郎", claimant_relation="本人", received_on=date(2026, 2, 1),
                            claimed=["medical_expenses"], documents=["claim_form"])
    with pytest.raises(Forbidden):
        relief.get_case(db, actor=staff["routine"], case_id=case.id)
    with pytest.raises(Forbidden):
        relief.list_cases(db, actor=staff["routine"])
    assert [c.id for c in relief.list_cases(db, actor=staff["relief"])] == [case.id]
    with pytest.raises(InvalidInput, match="B類疾病の定期接種では請求できない"):
        relief.open_case(db, actor=staff["reception"], atena_no="4002", record_id=None, vaccine_class="B",
                         claimant_name="別人 次郎", claimant_relation="本人", received_on=date(2026, 2, 1),
                         claimed=["child_disability_pension"], documents=[])
    with pytest.raises(InvalidInput, match="この方の記録"):
        relief.open_case(db, actor=staff["reception"], atena_no="4002", record_id=record_id, vaccine_class="B",
                         claimant_name="別人 次郎", claimant_relation="本人", received_on=date(2026, 2, 1),
                         claimed=["medical_expenses"], documents=[])


def test_a_relief_only_clerk_cannot_open_a_case_for_a_person_outside_scope(db, settings, staff, claimant):
    """One POST must not link a stranger to the relief 事務 (and with it their history); the answer is the
    one for a number that does not exist, so the form tells nothing about who is registered."""
    from sesshu.access.models import PersonTask
    from sesshu.domain.errors import NotFound

    answers = []
    for atena_no in ("4002", "999999"):
        with pytest.raises(NotFound) as refused:
            relief.open_case(db, actor=staff["relief"], atena_no=atena_no, record_id=None, vaccine_class="A",
                             claimant_name="別人 次郎", claimant_relation="本人", received_on=date(2026, 2, 1),
                             claimed=["medical_expenses"], documents=[])
        answers.append(refused.value.message.replace(atena_no, "X"))
    assert answers[0] == answers[1]
    with db.transaction() as s:
        assert s.get(PersonTask, ("4002", "kenko_higai_kyusai")) is None
    assert relief.list_cases(db, actor=staff["relief"]) == []


def test_a_deceased_claimant_is_held_from_retention_erasure(db, settings, staff, claimant):
    atena_no, record_id = claimant
    relief.open_case(db, actor=staff["reception"], atena_no=atena_no, record_id=record_id, vaccine_class="B",
                     claimant_name="救済 花子", claimant_relation="配偶者", received_on=date(2014, 2, 1),
                     claimed=["survivor_pension"], documents=["claim_form", "death_certificate"])
    with db.transaction() as s:
        s.execute(text("UPDATE person SET registry_status = 'deceased', died_on = :d WHERE atena_no = :a"),
                  {"d": date(2014, 1, 1), "a": atena_no})
    due = {c.code: c for c in retention.due(db, actor=ADMIN, today=date(2026, 12, 3))}["ledger_deceased"]
    assert due.count == 0 and atena_no in due.held
