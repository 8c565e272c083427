"""住所地外接種: a 届出 from a person registered elsewhere is accepted only for a 住登外者 confirmed by two
staff, recorded with reason, home city and period, audited, and its 届出済証 is a real PDF in Japanese."""
from __future__ import annotations

import subprocess
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from sesshu.actor import Actor
from sesshu.approvals import service as approvals
from sesshu.audit.models import AuditEntry
from sesshu.auth.service import create_user
from sesshu.away.models import AwayNotice
from sesshu.away.service import AwayRequest, accept, notices_of
from sesshu.clock import today_jst
from sesshu.domain.errors import InvalidInput, NotFound
from sesshu.registry.service import import_registry
from tests.helpers import REGISTRY_HEADER, write

ADMIN = Actor(login_id="setup", kind="os", role="operator")
FORM = {"name": "里帰　花子", "name_kana": "サトガエリ　ハナコ", "sex": "F", "birth_date": "1995-06-15",
        "postal_code": "360-0042", "address": "熊谷市筑波2-2-2（実家）", "phone": ""}


def _staff(db, settings, login_id, role):
    create_user(db, settings, actor=ADMIN, login_id=login_id, display_name=login_id, role=role,
                password="kumagaya-Sesshu-2026", tasks=(("yobo_sesshu", "健康づくり課"),))
    with db.transaction() as s:
        uid = s.execute(text("SELECT id FROM staff_user WHERE login_id = :l"), {"l": login_id}).scalar_one()
    return Actor(login_id=login_id, kind="user", role=role, user_id=uid)


def _request(atena_no, **changes):
    today = today_jst()
    return AwayRequest(**{"atena_no": atena_no, "reason": "出産のために里帰りしている妊産婦",
                          "home_municipality": "横浜市", "home_municipality_code": "141003",
                          "period_from": today, "period_until": today + timedelta(days=90), "vaccine": "COVID",
                          "channel": "窓口", "home_ticket_no": "1" * 18, **changes})


@pytest.fixture
def non_resident(db, settings):
    clerk, boss = _staff(db, settings, "clerk-a", "clerk"), _staff(db, settings, "boss-a", "supervisor")
    req = approvals.request_approval(db, settings, actor=clerk, kind="non_resident_registration", raw=FORM,
                                     reason="住所地外接種の届出（出産のための里帰り）")
    out = approvals.approve(db, settings, actor=boss, approval_id=req.id, expected_version=req.version)
    return out.result_ref, clerk


def test_a_confirmed_non_resident_gets_a_recorded_notice_and_a_japanese_receipt(db, settings, tmp_path, non_resident):
    atena_no, clerk = non_resident
    done = accept(db, settings, actor=clerk, request=_request(atena_no))
    assert done.notice_no.startswith(str(today_jst().year)) and done.pdf.content.startswith(b"%PDF")
    with db.transaction() as s:
        row = s.execute(select(AwayNotice)).scalar_one()
        entries = s.execute(select(AuditEntry.action).where(AuditEntry.atena_no == atena_no)
                            .order_by(AuditEntry.seq)).scalars().all()
    assert (row.reason, row.home_municipality, row.vaccine, row.channel) == ("maternity", "横浜市", "COVID", "counter")
    assert row.period_until - row.period_from == timedelta(days=90)
    assert "away.accept" in entries and "print" in " ".join(entries)
    pdf = tmp_path / "receipt.pdf"
    pdf.write_bytes(done.pdf.content)
    body = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for words in ("住所地外接種届出済証", "里帰　花子", "横浜市", "出産のために里帰りしている妊産婦", "熊谷市長",
                  done.notice_no):
        assert words.replace("　", "") in body.replace("　", "").replace(" ", "").replace("\n", ""), words
    [listed] = notices_of(db, actor=clerk, atena_no=atena_no)
    assert listed.notice_no == done.notice_no


def test_residents_and_unknown_persons_are_refused(db, settings, tmp_path, non_resident):
    _, clerk = non_resident
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n1001,,熊谷　太郎,クマガヤ　タロウ,男,1990-01-01,,熊谷市本町1-1,,,,,,,\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=ADMIN)
    with pytest.raises(InvalidInput, match="この市の住民"):
        accept(db, settings, actor=clerk, request=_request("1001"))
    with pytest.raises(NotFound, match="住登外者の登録"):
        accept(db, settings, actor=clerk, request=_request("900000000000099"))
    with db.transaction() as s:
        assert s.execute(select(AwayNotice)).first() is None


def test_bad_requests_get_japanese_reasons(db, settings, non_resident):
    atena_no, clerk = non_resident
    today = today_jst()
    for changes, message in ((dict(reason="旅行"), "届出の理由"), (dict(home_municipality=""), "市町村名"),
                             (dict(home_municipality_code="141004"), "検査数字"),
                             (dict(period_until=today - timedelta(days=1), period_from=today - timedelta(days=9)),
                              "既に終わって"),
                             (dict(period_until=today, period_from=today + timedelta(days=3)), "始まりより前"),
                             (dict(vaccine="XYZ"), "接種種別"), (dict(home_ticket_no="123"), "接種券番号")):
        with pytest.raises(InvalidInput, match=message):
            accept(db, settings, actor=clerk, request=_request(atena_no, **changes))


def test_a_withdrawn_notice_voids_its_receipt_with_reason_and_audit(db, settings, non_resident):
    from sesshu.away.service import close, in_force, notice_in_force
    from sesshu.domain.errors import Conflict

    atena_no, clerk = non_resident
    done = accept(db, settings, actor=clerk, request=_request(atena_no))
    today = today_jst()
    with db.transaction() as s:
        assert notice_in_force(s, atena_no, "COVID", today)
    with pytest.raises(InvalidInput, match="取下げの理由"):
        close(db, actor=clerk, notice_no=done.notice_no, kind="withdrawn", reason="  ")
    row = close(db, actor=clerk, notice_no=done.notice_no, kind="withdrawn", reason="住所地で接種するため本人が取下げ")
    assert (row.status, row.closed_on, row.closed_by, row.close_reason) == (
        "withdrawn", today, "clerk-a", "住所地で接種するため本人が取下げ")
    assert not in_force(row, today) and not in_force(row, row.period_from)
    with db.transaction() as s:
        assert not notice_in_force(s, atena_no, "COVID", today)
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "away.withdraw")).scalar_one()
    assert entry.atena_no == atena_no and done.notice_no in entry.detail and "本人が取下げ" in entry.detail
    with pytest.raises(Conflict, match="既に取下げ"):
        close(db, actor=clerk, notice_no=done.notice_no, kind="ended", reason="二度目")
    with pytest.raises(NotFound):
        close(db, actor=clerk, notice_no="999999999999", kind="withdrawn", reason="x")


def test_an_ended_notice_holds_until_the_day_it_ended(db, settings, non_resident):
    from sesshu.away.service import close, in_force

    atena_no, clerk = non_resident
    done = accept(db, settings, actor=clerk, request=_request(atena_no))
    today = today_jst()
    with pytest.raises(InvalidInput, match="滞在期間"):
        close(db, actor=clerk, notice_no=done.notice_no, kind="ended", reason="帰宅", closed_on=today + timedelta(days=200))
    row = close(db, actor=clerk, notice_no=done.notice_no, kind="ended", reason="予定より早く住所地に戻った",
                closed_on=today + timedelta(days=10))
    assert in_force(row, today + timedelta(days=9)) and not in_force(row, today + timedelta(days=10))
    with db.transaction() as s:
        assert s.execute(select(AuditEntry.action).where(AuditEntry.action == "away.end")).scalar_one() == "away.end"
    [listed] = notices_of(db, actor=clerk, atena_no=atena_no)
    assert (listed.status, listed.close_reason) == ("ended", "予定より早く住所地に戻った")
