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
from sesshu.clock import today_jst, utcnow
from sesshu.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
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
    case = relief.open_case(db, actor=staff["reception"], atena_no=atena_no, record_id=record_id,
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

    with pytest.raises(Forbidden, match="出力する権限"):  # a file with payees' accounts: person.export only
        relief.zengin_for_month(db, actor=k, month="2026-11", transfer_date=date(2026, 11, 20), password=PASSWORD)
    packed, name, n = relief.zengin_for_month(db, actor=ADMIN, month="2026-11", transfer_date=date(2026, 11, 20),
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
    case = relief.open_case(db, actor=staff["reception"], atena_no=atena_no, record_id=record_id,
                            claimant_name="救済 太郎", claimant_relation="本人", received_on=date(2026, 2, 1),
                            claimed=["medical_expenses"], documents=["claim_form"])
    with pytest.raises(Forbidden):
        relief.get_case(db, actor=staff["routine"], case_id=case.id)
    with pytest.raises(Forbidden):
        relief.list_cases(db, actor=staff["routine"])
    assert [c.id for c in relief.list_cases(db, actor=staff["relief"])] == [case.id]
    flu = _record(db, "4002", "FLU_ELDER", "routine_b", date(2025, 11, 1))
    with pytest.raises(InvalidInput, match="B類疾病の定期接種では請求できない"):  # B類: 遺族年金・遺族一時金 instead
        relief.open_case(db, actor=staff["reception"], atena_no="4002", record_id=flu, claimant_name="別人 次郎",
                         claimant_relation="本人", received_on=date(2026, 2, 1),
                         claimed=["death_lump_sum"], documents=[])
    with pytest.raises(InvalidInput, match="この方の記録"):
        relief.open_case(db, actor=staff["reception"], atena_no="4002", record_id=record_id,
                         claimant_name="別人 次郎", claimant_relation="本人", received_on=date(2026, 2, 1),
                         claimed=["medical_expenses"], documents=[])


def test_a_relief_only_clerk_cannot_open_a_case_for_a_person_outside_scope(db, settings, staff, claimant):
    """One POST must not link a stranger to the relief 事務 (and with it their history); the answer is the
    one for a number that does not exist, so the form tells nothing about who is registered."""
    from sesshu.access.models import PersonTask
    from sesshu.domain.errors import NotFound

    answers = []
    record_id = claimant[1]  # any record: the scope is refused before the record is looked at
    for atena_no in ("4002", "999999"):
        with pytest.raises(NotFound) as refused:
            relief.open_case(db, actor=staff["relief"], atena_no=atena_no, record_id=record_id,
                             claimant_name="別人 次郎", claimant_relation="本人", received_on=date(2026, 2, 1),
                             claimed=["medical_expenses"], documents=[])
        answers.append(refused.value.message.replace(atena_no, "X"))
    assert answers[0] == answers[1]
    with db.transaction() as s:
        assert s.get(PersonTask, ("4002", "kenko_higai_kyusai")) is None
    assert relief.list_cases(db, actor=staff["relief"]) == []


def test_a_deceased_claimant_is_held_from_retention_erasure(db, settings, staff, claimant):
    atena_no, _ = claimant
    flu = _record(db, atena_no, "FLU_ELDER", "routine_b", date(2013, 11, 1))
    with db.transaction() as s:
        s.execute(text("UPDATE person SET registry_status = 'deceased', died_on = :d WHERE atena_no = :a"),
                  {"d": date(2014, 1, 1), "a": atena_no})
    relief.open_case(db, actor=staff["reception"], atena_no=atena_no, record_id=flu,
                     claimant_name="救済 花子", claimant_relation="配偶者", received_on=date(2014, 2, 1),
                     claimed=["survivor_pension"], documents=["claim_form", "death_certificate"])
    due = {c.code: c for c in retention.due(db, actor=ADMIN, today=date(2026, 12, 3))}["ledger_deceased"]
    assert due.count == 0 and atena_no in due.held


def _record(db, atena_no: str, vaccine: str, category: str, on: date) -> int:
    now = utcnow()
    with db.transaction() as s:
        r = VaccinationRecord(atena_no=atena_no, vaccine_code=vaccine, vaccinated_on=on, dose_no=1, category=category,
                              screening_result="vaccinated", lot_no="L1", status="active", created_at=now,
                              created_by="setup", updated_at=now)
        s.add(r)
        s.flush()
        return r.id


# --- the law, the claim and the person (issue 25) -------------------------------------------------------

def _supervisor(db, settings, login_id: str) -> Actor:
    create_user(db, settings, actor=ADMIN, login_id=login_id, display_name=login_id, role="supervisor",
                password="kumagaya-Sesshu-2026", tasks=(("kenko_higai_kyusai", "健康づくり課"),))
    with db.transaction() as s:
        uid = s.execute(text("SELECT id FROM staff_user WHERE login_id = :l"), {"l": login_id}).scalar_one()
    return Actor(login_id=login_id, kind="user", role="supervisor", user_id=uid)


def _to_decision(db, k, case, on=date(2026, 3, 20)):
    case = _step(db, k, case, "committee", date(2026, 3, 10), minutes="診療録を確認", result="因果関係を否定できない")
    return _step(db, k, case, "sent_to_prefecture", on)


def test_a_decision_is_checked_against_the_claim_the_person_and_the_law(db, settings, staff, claimant):
    atena_no, record_id = claimant
    k = staff["relief"]
    with pytest.raises(InvalidInput, match="死亡の記録がない"):  # a living child: no death benefit can be claimed
        relief.open_case(db, actor=staff["reception"], atena_no=atena_no, record_id=record_id, claimant_name="救済 花子",
                         claimant_relation="母", received_on=date(2026, 1, 15), claimed=["death_lump_sum"], documents=[])
    case = relief.open_case(db, actor=staff["reception"], atena_no=atena_no, record_id=record_id, claimant_name="救済 花子",
                            claimant_relation="母", received_on=date(2026, 1, 15), claimed=["medical_expenses"],
                            documents=[], account=ACCOUNT)
    assert case.vaccine_class == "A" and case.class_label == "A類疾病の定期接種"  # from the MR record, not typed
    case = _to_decision(db, k, case)
    # The case: a 4,000,000円 死亡一時金 for a living child, never claimed.
    with pytest.raises(InvalidInput) as e:
        _step(db, k, case, "national_decision", date(2026, 8, 25), decision="certified",
              benefits=[{"kind": "death_lump_sum", "amount": "4000000"}])
    assert "請求されていません" in e.value.message and "死亡の記録がありません" in e.value.message
    with pytest.raises(InvalidInput, match="障害児養育年金として認定"):  # unclaimed and wrong for a 6-year-old
        _step(db, k, case, "national_decision", date(2026, 8, 25), decision="certified",
              benefits=[{"kind": "disability_pension", "amount": "10000"}])
    with pytest.raises(InvalidInput, match="追加請求"):
        _step(db, k, case, "national_decision", date(2026, 8, 25), decision="certified",
              benefits=[{"kind": "child_disability_pension", "amount": "10000"}])
    case = _step(db, k, case, "additional_claim", date(2026, 4, 1), benefits=["child_disability_pension"])
    assert case.claimed == ["medical_expenses", "child_disability_pension"] and case.status == "sent_to_prefecture"
    # From R8.9 (令和8年度, no table found): 障害児養育年金 1級 1,669,200 (令和6年度) and 介護加算 846,200
    # (令和5年度) raised by 4% a year to 1,805,500 + 951,900, / 12.
    with pytest.raises(InvalidInput, match="法令の上限 229,783円"):
        _step(db, k, case, "national_decision", date(2026, 8, 25), decision="certified",
              benefits=[{"kind": "child_disability_pension", "amount": "３００,０００円"}])
    case = _step(db, k, case, "national_decision", date(2026, 8, 25), decision="certified",
                 benefits=[{"kind": "child_disability_pension", "amount": "１３４,８００", "first_month": "R8.9"},
                           {"kind": "medical_expenses", "amount": "52,000"}])
    pension = next(b for b in case.benefits if b.periodic)
    # 障害児養育年金 ends in the month the child (born 2020-04-01) reaches 18: 2038-03.
    assert (pension.amount, pension.first_month, pension.end_month) == (134800, date(2026, 9, 1), date(2038, 3, 1))
    decision = next(s for s in case.steps if s.step == "national_decision")
    assert all("予防接種法施行令" in b["basis"] for b in decision.detail["benefits"])


def test_the_class_comes_from_the_record_and_a_claim_is_not_filed_twice(db, settings, staff, claimant):
    atena_no, record_id = claimant
    k = staff["relief"]
    voluntary = _record(db, atena_no, "MR", "voluntary", date(2025, 4, 1))
    with pytest.raises(InvalidInput, match="任意接種は医薬品副作用被害救済制度"):
        relief.open_case(db, actor=staff["reception"], atena_no=atena_no, record_id=voluntary, claimant_name="救済 花子",
                         claimant_relation="母", received_on=date(2026, 1, 15), claimed=["medical_expenses"], documents=[])
    flu = _record(db, atena_no, "FLU_ELDER", "routine_b", date(2025, 11, 1))
    b_case = relief.open_case(db, actor=staff["reception"], atena_no=atena_no, record_id=flu, claimant_name="救済 花子",
                              claimant_relation="母", received_on=date(2026, 1, 15), claimed=["medical_expenses"],
                              documents=[])
    assert b_case.vaccine_class == "B"  # a B類 influenza record cannot be an A類 case
    choices = {c.id: c for c in relief.claim_records(db, actor=k, atena_no=atena_no)}
    assert choices[flu].relief_class == "B" and choices[voluntary].relief_class is None
    assert choices[record_id].vaccine_name.startswith("麻しん風しん混合")
    with pytest.raises(Conflict, match="追加請求"):
        relief.open_case(db, actor=staff["reception"], atena_no=atena_no, record_id=flu, claimant_name="救済 花子",
                         claimant_relation="母", received_on=date(2026, 1, 16), claimed=["medical_allowance"],
                         documents=[])
    with pytest.raises(InvalidInput, match="取下げの理由"):
        _step(db, k, b_case, "withdrawn", date(2026, 1, 20))
    b_case = _step(db, k, b_case, "withdrawn", date(2026, 1, 20), reason="請求者から取下げの申出")
    assert b_case.status == "withdrawn" and b_case.status_label == "請求の取下げ"
    with pytest.raises(Conflict, match="手続は記録できません"):
        _step(db, k, b_case, "committee", date(2026, 1, 21), minutes="x", result="y")
    again = relief.open_case(db, actor=staff["reception"], atena_no=atena_no, record_id=flu, claimant_name="救済 花子",
                             claimant_relation="母", received_on=date(2026, 1, 22), claimed=["medical_allowance"],
                             documents=[])  # a withdrawn claim does not block a new one
    assert again.id != b_case.id


def test_a_recorded_decision_is_corrected_with_a_second_persons_approval_and_past_payments_adjusted(
        db, settings, staff, claimant):
    from sesshu.approvals import service as approvals
    from sesshu.relief.models import ReliefAdjustment

    atena_no, record_id = claimant
    first, second = _supervisor(db, settings, "kyusai-a"), _supervisor(db, settings, "kyusai-b")
    case = relief.open_case(db, actor=staff["reception"], atena_no=atena_no, record_id=record_id, claimant_name="救済 花子",
                            claimant_relation="母", received_on=date(2026, 1, 15),
                            claimed=["medical_expenses", "child_disability_pension"], documents=[], account=ACCOUNT)
    case = _to_decision(db, first, case)
    case = _step(db, first, case, "national_decision", date(2026, 8, 25), decision="certified",
                 benefits=[{"kind": "child_disability_pension", "amount": "100000", "first_month": "2026-09"},
                           {"kind": "medical_expenses", "amount": "52000"}])
    case = _step(db, first, case, "notified", date(2026, 9, 5))
    pension = next(b for b in case.benefits if b.periodic)
    medical = next(b for b in case.benefits if not b.periodic)
    relief.month_payments(db, actor=first, month="2026-09")
    relief.zengin_for_month(db, actor=ADMIN, month="2026-09", transfer_date=date(2026, 9, 20), password=PASSWORD)
    relief.zengin_for_month(db, actor=ADMIN, month="2026-10", transfer_date=date(2026, 10, 20), password=PASSWORD)
    # Paid: 2 pension months at 100,000 and the 52,000 medical expenses. The decision said 80,000 a month.
    with pytest.raises(InvalidInput, match="上限"):
        approvals.request_approval(db, settings, actor=first, kind="relief_decision_correction",
                                   raw={"case_id": case.id, "benefit_id": pension.id, "amount": "999999"},
                                   reason="通知書の金額の転記誤り")
    req = approvals.request_approval(db, settings, actor=first, kind="relief_decision_correction",
                                     raw={"case_id": case.id, "benefit_id": pension.id, "amount": "８０,０００"},
                                     reason="通知書の金額の転記誤り")
    detail = approvals.get_approval(db, settings, actor=second, approval_id=req.id)
    shown = dict((r.label, r.value) for r in detail.details)
    assert shown["記録されている決定"] == "100,000円（月額）・2026年9月から" and shown["訂正後"].startswith("80,000円（月額）")
    assert shown["これまでに振り込んだ額"].startswith("200,000円")  # this benefit: two months at 100,000
    with pytest.raises(Forbidden, match="ご自身の申請"):
        approvals.approve(db, settings, actor=first, approval_id=req.id, expected_version=req.version)
    approvals.approve(db, settings, actor=second, approval_id=req.id, expected_version=req.version)
    case = relief.get_case(db, actor=first, case_id=case.id)
    assert next(b for b in case.benefits if b.id == pension.id).amount == 80000
    assert case.steps[-1].step == "decision_corrected"
    # November (not listed yet): the pension at the new amount. The 過誤調整 made today (2026-12) goes into
    # December's list: the pension less the 40,000 paid too much in September and October.
    assert [(p.kind_label, p.amount) for p in relief.month_payments(db, actor=first, month="2026-11")] == [
        ("障害児養育年金", 80000)]
    dec = relief.month_payments(db, actor=first, month="2026-12")
    assert sorted((p.kind_label, p.amount) for p in dec) == [("過誤調整（障害児養育年金）", -40000), ("障害児養育年金", 80000)]
    packed, _, n = relief.zengin_for_month(db, actor=ADMIN, month="2026-12", transfer_date=date(2026, 12, 20),
                                           password=PASSWORD)
    with pyzipper.AESZipFile(io.BytesIO(packed)) as z:
        z.setpassword(PASSWORD.encode())
        parsed = parse_zengin(z.read("relief_zengin_202612.txt"), year=2026)
    assert n == 1 and [t.amount for t in parsed.transfers] == [40000]
    with db.transaction() as s:
        assert s.execute(select(ReliefAdjustment.status)).scalars().all() == ["sent"]
    assert [p.amount for p in relief.month_payments(db, actor=first, month="2027-01")] == [80000]  # adjusted once
    # The medical expenses are cancelled: what was paid is claimed back (no transfer when the net is negative).
    req = approvals.request_approval(db, settings, actor=first, kind="relief_decision_correction",
                                     raw={"case_id": case.id, "benefit_id": medical.id, "cancel": "1"},
                                     reason="国の通知の訂正（医療費は不支給）")
    approvals.approve(db, settings, actor=second, approval_id=req.id, expected_version=req.version)
    with pytest.raises(Conflict, match="支給中の年金"):
        _step(db, first, relief.get_case(db, actor=first, case_id=case.id), "closed", today_jst(), reason="完了")
    assert verify_chain(db, actor=ADMIN).ok


def test_the_zengin_command_says_how_the_zip_password_is_given():
    from typer.testing import CliRunner

    from sesshu.cli import app

    out = CliRunner().invoke(app, ["relief", "zengin", "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0
    assert "パスワード付きZIP（AES-256）" in out.output and "ZIPのパスワードは実行後に画面で尋ねます" in out.output


def test_only_an_approver_of_the_relief_task_decides_a_relief_correction(db, settings, staff, claimant):
    from sesshu.approvals import service as approvals

    atena_no, record_id = claimant
    asker = _supervisor(db, settings, "kyusai-c")
    create_user(db, settings, actor=ADMIN, login_id="yobo-boss", display_name="yobo-boss", role="supervisor",
                password="kumagaya-Sesshu-2026", tasks=(("yobo_sesshu", "健康づくり課"),))
    with db.transaction() as s:
        uid = s.execute(text("SELECT id FROM staff_user WHERE login_id = 'yobo-boss'")).scalar_one()
    outsider = Actor(login_id="yobo-boss", kind="user", role="supervisor", user_id=uid)
    case = relief.open_case(db, actor=staff["reception"], atena_no=atena_no, record_id=record_id, claimant_name="救済 花子",
                            claimant_relation="母", received_on=date(2026, 1, 15), claimed=["medical_expenses"],
                            documents=[])
    case = _to_decision(db, asker, case)
    case = _step(db, asker, case, "national_decision", date(2026, 8, 25), decision="certified",
                 benefits=[{"kind": "medical_expenses", "amount": "52000"}])
    req = approvals.request_approval(db, settings, actor=asker, kind="relief_decision_correction",
                                     raw={"case_id": case.id, "benefit_id": case.benefits[0].id, "amount": "50000"},
                                     reason="領収書の再計算")
    # An approver outside the relief 事務 finds no such request (the kind's tasks: sesshu.access scope).
    with pytest.raises(NotFound):
        approvals.get_approval(db, settings, actor=outsider, approval_id=req.id)
    with pytest.raises(NotFound):
        approvals.approve(db, settings, actor=outsider, approval_id=req.id, expected_version=req.version)
    assert approvals.get_approval(db, settings, actor=asker, approval_id=req.id).approval.status == "requested"


def test_a_b_class_death_is_decided_against_the_b_class_table(db, settings, staff, claimant):
    """B類 (定期のインフルエンザ): 遺族一時金 by 予防接種法施行令 第26条 (令和6年度 7,783,200円), not the A類
    死亡一時金; the year is that of the date of death, not of the decision."""
    k = staff["relief"]
    flu = _record(db, "4002", "FLU_ELDER", "routine_b", date(2023, 11, 1))
    with db.transaction() as s:
        s.execute(text("UPDATE person SET registry_status = 'deceased', died_on = :d WHERE atena_no = '4002'"),
                  {"d": date(2024, 5, 10)})
    case = relief.open_case(db, actor=staff["reception"], atena_no="4002", record_id=flu, claimant_name="別人 花子",
                            claimant_relation="配偶者", received_on=date(2024, 6, 1),
                            claimed=["survivor_lump_sum", "funeral"], documents=["claim_form", "death_certificate"])
    assert case.vaccine_class == "B"
    case = _to_decision(db, k, case, on=date(2026, 3, 20))
    with pytest.raises(InvalidInput, match="法令の上限 7,783,200円") as e:
        _step(db, k, case, "national_decision", date(2026, 8, 25), decision="certified",
              benefits=[{"kind": "survivor_lump_sum", "amount": "7,800,000"}])
    assert "第26条" in e.value.message and "令和6年度" in e.value.message
    case = _step(db, k, case, "national_decision", date(2026, 8, 25), decision="certified",
                 benefits=[{"kind": "survivor_lump_sum", "amount": "7,783,200"}, {"kind": "funeral", "amount": "212,000"}])
    decision = next(s for s in case.steps if s.step == "national_decision")
    basis = {b["kind"]: b["basis"] for b in decision.detail["benefits"]}
    assert "第26条" in basis["survivor_lump_sum"] and "令和6年度の額 7,783,200円" in basis["survivor_lump_sum"]
    assert "B類の葬祭料" in basis["funeral"] and "令和6年度の額は未確認" in basis["funeral"]


def test_a_b_class_survivor_pension_ends_after_ten_years(db, settings, staff, claimant):
    k = staff["relief"]
    flu = _record(db, "4002", "FLU_ELDER", "routine_b", date(2023, 11, 1))
    with db.transaction() as s:
        s.execute(text("UPDATE person SET registry_status = 'deceased', died_on = :d WHERE atena_no = '4002'"),
                  {"d": date(2024, 5, 10)})
    case = relief.open_case(db, actor=staff["reception"], atena_no="4002", record_id=flu, claimant_name="別人 花子",
                            claimant_relation="配偶者", received_on=date(2024, 6, 1), claimed=["survivor_pension"],
                            documents=["claim_form", "death_certificate"])
    case = _to_decision(db, k, case, on=date(2026, 3, 20))
    with pytest.raises(InvalidInput, match="法令の上限 216,200円"):  # 2,594,400 / 12 (第24条, 令和6年度)
        _step(db, k, case, "national_decision", date(2026, 8, 25), decision="certified",
              benefits=[{"kind": "survivor_pension", "amount": "216,201", "first_month": "2024-06"}])
    case = _step(db, k, case, "national_decision", date(2026, 8, 25), decision="certified",
                 benefits=[{"kind": "survivor_pension", "amount": "216,200", "first_month": "2024-06"}])
    pension = case.benefits[0]
    assert pension.end_month == date(2034, 5, 1) and "第24条" in pension.ended_reason
    # A corrected first month moves the ten years with it.
    from sesshu.approvals import service as approvals

    first, second = _supervisor(db, settings, "kyusai-f"), _supervisor(db, settings, "kyusai-g")
    req = approvals.request_approval(db, settings, actor=first, kind="relief_decision_correction",
                                     raw={"case_id": case.id, "benefit_id": pension.id, "amount": "216200",
                                          "first_month": "2024-07"}, reason="支給開始の月の転記誤り")
    approvals.approve(db, settings, actor=second, approval_id=req.id, expected_version=req.version)
    assert relief.get_case(db, actor=first, case_id=case.id).benefits[0].end_month == date(2034, 6, 1)


def test_a_medical_allowance_is_decided_and_corrected_by_its_months_days(db, settings, staff, claimant):
    from sesshu.approvals import service as approvals

    atena_no, record_id = claimant
    first, second = _supervisor(db, settings, "kyusai-d"), _supervisor(db, settings, "kyusai-e")
    case = relief.open_case(db, actor=staff["reception"], atena_no=atena_no, record_id=record_id, claimant_name="救済 花子",
                            claimant_relation="母", received_on=date(2026, 1, 15), claimed=["medical_allowance"],
                            documents=[], account=ACCOUNT)
    case = _to_decision(db, first, case)

    def decide(**item):
        return _step(db, first, case, "national_decision", date(2026, 8, 25), decision="certified",
                     benefits=[{"kind": "medical_allowance", **item}])

    with pytest.raises(InvalidInput, match="対象の月"):
        decide(amount="36900", outpatient_days="2")
    with pytest.raises(InvalidInput, match="通院日数・入院日数を入力"):
        decide(amount="36900", first_month="R6.5")
    with pytest.raises(InvalidInput, match="通院日数を0〜31の数字"):
        decide(amount="36900", first_month="R6.5", outpatient_days="二")
    # May 2024 (令和6年度, 施行令 第11条): 通院 2 days → 36,900円, not 38,900円.
    with pytest.raises(InvalidInput, match="通院2日（3日未満）のため、月額 36,900円"):
        decide(amount="38,900", first_month="R6.5", outpatient_days="２", inpatient_days="")
    with pytest.raises(InvalidInput, match="接種の月より前"):  # vaccinated 2021-04-10
        decide(amount="36900", first_month="2021-03", outpatient_days="2")
    case = decide(amount="36,900", first_month="R6.5", outpatient_days="２", inpatient_days="0")
    allowance = case.benefits[0]
    assert (allowance.amount, allowance.first_month) == (36900, date(2024, 5, 1))
    entry = next(s for s in case.steps if s.step == "national_decision").detail["benefits"][0]
    assert (entry["outpatient_days"], entry["inpatient_days"], entry["benefit_id"]) == (2, 0, allowance.id)
    # The hospital's certificate shows a third day: the correction carries the days and the new amount.
    raw = {"case_id": case.id, "benefit_id": allowance.id, "amount": "38900"}
    with pytest.raises(InvalidInput, match="月額 36,900円"):  # the recorded days (2) still give 36,900円
        approvals.request_approval(db, settings, actor=first, kind="relief_decision_correction", raw=raw,
                                   reason="受診証明書の再確認")
    req = approvals.request_approval(db, settings, actor=first, kind="relief_decision_correction",
                                     raw={**raw, "outpatient_days": "3"}, reason="受診証明書の再確認（通院3日）")
    shown = dict((r.label, r.value) for r in approvals.get_approval(db, settings, actor=second, approval_id=req.id).details)
    assert shown["医療手当の対象の月と日数"] == "2024年5月・通院3日・入院0日"
    approvals.approve(db, settings, actor=second, approval_id=req.id, expected_version=req.version)
    case = relief.get_case(db, actor=first, case_id=case.id)
    assert case.benefits[0].amount == 38900
    corrected = case.steps[-1]
    assert corrected.step == "decision_corrected" and corrected.detail["outpatient_days"] == 3
    # A second claim for the same vaccination cannot certify May 2024 again.
    today = today_jst()  # the correction's step is dated today
    case = _step(db, first, case, "notified", today)
    case = _step(db, first, case, "closed", today, reason="支払済み")
    again = relief.open_case(db, actor=staff["reception"], atena_no=atena_no, record_id=record_id,
                             claimant_name="救済 花子", claimant_relation="母", received_on=today,
                             claimed=["medical_allowance"], documents=[], account=ACCOUNT)
    again = _step(db, first, again, "committee", today, minutes="受診証明書を確認", result="因果関係を否定できない")
    again = _step(db, first, again, "sent_to_prefecture", today)
    with pytest.raises(InvalidInput, match=f"2024年5月分は、案件 {case.id} で既に認定"):
        _step(db, first, again, "national_decision", today, decision="certified",
              benefits=[{"kind": "medical_allowance", "amount": "38900", "first_month": "2024-05",
                         "outpatient_days": "3"}])
