"""開示・訂正・利用停止請求 (seed IV): every inquiry gets a 受付票 with its deadline; a 開示請求 produces a
package listing the staff's views (department and role, not names); a 訂正請求 goes through the
correction flow; a 利用停止請求 keeps the person out of target lists and exports, each refusal logged."""
from __future__ import annotations

import json
import re
import subprocess
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from sesshu.actor import Actor
from sesshu.audit.models import AuditEntry
from sesshu.audit.service import verify_chain
from sesshu.auth.service import create_user
from sesshu.clock import today_jst
from sesshu.disclosure import service as disclosure
from sesshu.disclosure.package import disclosure_package
from sesshu.domain.errors import InvalidInput
from sesshu.clock import utcnow
from sesshu.ledger.models import Institution, VaccinationRecord, VaccinationRecordHistory
from sesshu.ledger.service import person_history
from sesshu.ledger.targets import select_targets
from sesshu.registry.service import import_registry
from sesshu.search.service import SearchCriteria, export_persons
from tests.helpers import REGISTRY_HEADER, my_number, write

ADMIN = Actor(login_id="setup", kind="os", role="operator")
NUMBER = my_number("12312312312")


@pytest.fixture
def staff(db, settings):
    def make(login_id: str, role: str, name: str) -> Actor:
        create_user(db, settings, actor=ADMIN, login_id=login_id, display_name=name, role=role,
                    password="kumagaya-Sesshu-2026", tasks=(("yobo_sesshu", "健康づくり課"),))
        with db.transaction() as s:
            uid = s.execute(text("SELECT id FROM staff_user WHERE login_id = :l"), {"l": login_id}).scalar_one()
        return Actor(login_id=login_id, kind="user", role=role, user_id=uid)

    return {"clerk": make("clerk-d", "clerk", "窓口 太郎"), "boss": make("boss-d", "supervisor", "係長 次郎")}


@pytest.fixture
def city(db, settings, operator, tmp_path):
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          f"3001,{NUMBER},開示 花子,カイジ ハナコ,女,2024-05-10,360-0001,熊谷市本町1-1,,,,,,,\n"
          "3002,,停止 一郎,テイシ イチロウ,男,2024-05-11,,熊谷市本町2-2,,,,,,,\n"
          "3003,,普通 三郎,フツウ サブロウ,男,2024-05-12,,熊谷市本町3-3,,,,,,,\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=operator)
    now = utcnow()
    with db.transaction() as s:
        s.add(Institution(code="C001", name="熊谷こどもクリニック"))
        s.add(VaccinationRecord(atena_no="3001", vaccine_code="BCG", vaccinated_on=date(2024, 11, 20), dose_no=1,
                                category="routine_a", screening_result="vaccinated", lot_no="BCG01", status="active",
                                created_at=now, created_by="setup", updated_at=now))
        s.add(VaccinationRecord(atena_no="3001", vaccine_code="DPTIPV", vaccinated_on=date(2024, 8, 2), dose_no=1,
                                term="初回", category="routine_a", screening_result="vaccinated", lot_no="Q1",
                                institution_code="C001", status="active", created_at=now, created_by="setup",
                                updated_at=now))
    return db


def _receive(db, actor, kind, atena_no="3001", **kw):
    return disclosure.receive(db, actor=actor, kind=kind, atena_no=atena_no, channel="counter",
                              requester_name="開示 花子の母", requester_relation="legal_proxy",
                              identity_method="mynumber_card", question=kw.pop("question", "接種記録を見たい"), **kw)


def _pdf_text(content: bytes, tmp_path) -> str:
    path = tmp_path / "package.pdf"
    path.write_bytes(content)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_every_inquiry_gets_a_receipt_and_requests_a_30_day_deadline(city, staff):
    q = disclosure.receive(city, actor=staff["clerk"], kind="inquiry", channel="phone", requester_name="匿名の方",
                           requester_relation="other", identity_method="none", question="接種券の再発行の方法")
    assert q.due_on is None and q.status == "open" and q.atena_no is None
    req = _receive(city, staff["clerk"], "disclosure", received_on=today_jst() - timedelta(days=3))
    assert req.due_on == today_jst() + timedelta(days=27) and req.days_left == 27
    with pytest.raises(InvalidInput, match="本人確認"):
        disclosure.receive(city, actor=staff["clerk"], kind="suspension", atena_no="3001", channel="counter",
                           requester_name="誰か", requester_relation="self", identity_method="none", question="止めて")
    listed = disclosure.list_inquiries(city, actor=staff["clerk"])
    assert [i.id for i in listed] == [req.id, q.id]  # nearest deadline first
    done = disclosure.answer(city, actor=staff["clerk"], inquiry_id=q.id, expected_version=q.version,
                             text="窓口での再発行手続を案内した")
    assert done.status == "answered" and done.answered_by == "clerk-d"
    with city.transaction() as s:
        actions = list(s.execute(select(AuditEntry.action).where(AuditEntry.action.like("inquiry.%"))).scalars())
    assert actions.count("inquiry.receive") == 2 and "inquiry.answer" in actions


def test_disclosure_package_lists_our_views_and_corrections_without_staff_names(city, settings, staff, tmp_path):
    person_history(city, settings, actor=staff["clerk"], atena_no="3001")
    fix = _receive(city, staff["clerk"], "correction", question="BCGのロット番号が母子手帳と違う（正しくは BCG02）")
    with city.transaction() as s:
        rec = s.execute(text("SELECT id, version FROM vaccination_record WHERE atena_no = '3001' "
                             "AND vaccine_code = 'BCG'")).one()
    out = disclosure.correct_by_request(city, settings, actor=staff["boss"], inquiry_id=fix.id, record_id=rec.id,
                                        expected_version=rec.version, changes={"lot_no": "BCG02"})
    assert out.result_ref == f"record:{rec.id}"
    with city.transaction() as s:
        h = s.execute(select(VaccinationRecordHistory).where(VaccinationRecordHistory.record_id == rec.id)).scalar_one()
    assert h.reason.startswith(f"訂正請求（受付番号 {fix.id}") and "BCG02" in h.reason

    req = _receive(city, staff["clerk"], "disclosure", question="自分の記録と閲覧履歴の開示")
    pdf = disclosure_package(city, settings, actor=staff["clerk"], inquiry_id=req.id)
    body = _pdf_text(pdf.content, tmp_path)
    assert re.search(r"氏名\s+開示\s+花子", body) and "BCG02" in body
    assert NUMBER not in body and NUMBER[-4:] in body  # masked: not asked for
    assert "個人の情報の閲覧" in body and "接種記録の職権修正" in body
    assert "健康づくり課" in body and "担当職員" in body and "上長" in body
    assert "窓口 太郎" not in body and "係長 次郎" not in body
    assert "4. 情報連携" in body and "記録はありません" in body
    # Plain Japanese for the resident (issue 22 item 9): names not codes, 和暦 dates, no action codes.
    assert "四種混合" in body and "DPTIPV" not in body and "熊谷こどもクリニック" in body and "C001" not in body
    assert "令和6年8月2日" in body and "令和6年5月10日" in body and "初回 1回目" in body
    assert not re.search(r"\d{4}-\d{2}-\d{2}", body), "an ISO date in the package"
    assert not re.search(r"\b[a-z_]+\.[a-z_]+\b", body), "an internal action code in the package"
    with city.transaction() as s:
        printed = s.execute(select(AuditEntry).where(AuditEntry.action == "print")).scalar_one()
    assert printed.atena_no == "3001" and json.loads(printed.detail)["sha256"] == pdf.sha256

    # A request that covers the 個人番号 shows it; a city that allows it shows staff names.
    full = _receive(city, staff["clerk"], "disclosure", covers_my_number=True)
    named = disclosure_package(city, settings.__class__(**{**settings.__dict__, "disclosure_show_staff_names": True}),
                               actor=staff["clerk"], inquiry_id=full.id)
    body = _pdf_text(named.content, tmp_path)
    assert NUMBER in body and "窓口 太郎" in body
    assert verify_chain(city, actor=ADMIN).ok


def test_suspended_person_is_left_out_of_targets_and_exports_and_each_refusal_logged(city, staff, operator):
    as_of = date(2025, 6, 1)
    before = {r.atena_no for r in select_targets(city, actor=operator, vaccine="MR", as_of=as_of)}
    assert "3002" in before
    req = _receive(city, staff["clerk"], "suspension", atena_no="3002", question="勧奨通知等への利用をやめてほしい")
    out = disclosure.suspend_use(city, actor=staff["clerk"], inquiry_id=req.id)
    assert out.result_ref == "suspended"
    after = {r.atena_no for r in select_targets(city, actor=operator, vaccine="MR", as_of=as_of)}
    assert after == before - {"3002"}
    exported = export_persons(city, actor=staff["boss"], criteria=SearchCriteria(kana="テイシ"), purpose="確認",
                              password="correct-horse-42", password_confirmation="correct-horse-42")
    assert exported.rows == 0
    with city.transaction() as s:
        refusals = s.execute(select(AuditEntry).where(AuditEntry.action == "suspension.refused")).scalars().all()
    assert [(e.atena_no, json.loads(e.detail)["use"]) for e in refusals] == [("3002", "targets.select"),
                                                                          ("3002", "person.export")]


def test_disclosure_package_lists_the_persons_linkage_exchanges(city, settings, staff, tmp_path):
    from datetime import date, datetime

    from sesshu.linkage.models import LinkageExchange

    with city.transaction() as s:
        s.add(LinkageExchange(atena_no="3001", direction="provision", counterpart="113018", task="yobo_sesshu",
                              info="vaccination_history", permit_id="P-1", outcome="provided", records=2,
                              actor="os:hub", occurred_at=datetime(2026, 11, 30, 1, 0), detail="",
                              keep_until=date(2033, 11, 30)))
    req = _receive(city, staff["clerk"], "disclosure", question="情報連携の記録も見たい")
    body = _pdf_text(disclosure_package(city, settings, actor=staff["clerk"], inquiry_id=req.id).content, tmp_path)
    assert "4. 情報連携" in body and "令和8年11月30日 10:00" in body and "113018" in body and "提供" in body
    assert "記録はありません" not in body.split("4. 情報連携")[1]
