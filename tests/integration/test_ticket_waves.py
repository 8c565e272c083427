"""接種券 in waves: the next N persons of an age band or a group, oldest first, as a resumable notice batch."""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import func, select

from sesshu.audit.models import AuditEntry
from sesshu.conditions.schemas import ConditionEntry
from sesshu.conditions.service import record_condition
from sesshu.domain.errors import InvalidInput
from sesshu.jobs.models import BatchJob, BatchJobUnit
from sesshu.registry.models import Person
from sesshu.tickets import waves
from sesshu.tickets.models import NoticeItem, Ticket
from sesshu.tickets.waves import Wave, in_band, run_wave
from tests.integration.notices_city import AS_OF, OPERATOR, load_city
from tests.helpers import REGISTRY_HEADER, write


def _tickets(db, vaccine="MR"):
    with db.transaction() as s:
        return s.execute(select(Ticket.atena_no, Ticket.state).where(Ticket.vaccine == vaccine)
                         .order_by(Ticket.atena_no)).all()


def _mailing(path):
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))


def test_waves_take_the_oldest_first_and_the_next_wave_the_next_persons(db, settings, tmp_path):
    children = load_city(db, settings, tmp_path)  # born 2025-11-02 … 2025-11-09: 2001 is the oldest
    out = tmp_path / "waves"
    first = run_wave(db, settings, actor=OPERATOR, out_dir=out, per_file=2,
                     wave=Wave(vaccine="mr", as_of=AS_OF, number=1, size=3))
    assert first.status == "done" and first.result["persons"] == 3
    assert {a for a, _ in _tickets(db)} == set(children[:3])
    second = run_wave(db, settings, actor=OPERATOR, out_dir=out, per_file=2,
                      wave=Wave(vaccine="MR", as_of=AS_OF, number=2, size=3))
    assert {a for a, _ in _tickets(db)} == set(children[:6])
    assert second.result["mailing_csv"]["name"] == "mailing_wave002.csv"
    rows = _mailing(out / "mailing_wave002.csv")[1:]
    assert sorted(r[3] for r in rows) == children[3:6] and all(len(r[9]) == 18 for r in rows)
    assert sorted(f.name for f in out.glob("*wave001*.pdf")) == ["notices_MR_20261201_wave001-001.pdf",
                                                                  "notices_MR_20261201_wave001-002.pdf"]
    # Running wave 1 again changes nothing.
    again = run_wave(db, settings, actor=OPERATOR, out_dir=out, per_file=2,
                     wave=Wave(vaccine="MR", as_of=AS_OF, number=1, size=3))
    assert again.already_done and len(_tickets(db)) == 6
    with db.transaction() as s:
        plan = s.execute(select(AuditEntry).where(AuditEntry.action == "ticket_waves.plan")
                         .order_by(AuditEntry.seq)).scalars().all()
    assert len(plan) == 2 and '"left_for_later_waves": 2' in plan[1].detail


def test_the_plan_streams_birth_date_by_birth_date_and_still_takes_the_oldest_in_post_order(
        db, settings, tmp_path, monkeypatch):
    children = load_city(db, settings, tmp_path)  # eight birth dates: eight steps of one date each
    monkeypatch.setattr(waves, "PERSONS_PER_BATCH", 1)
    done = run_wave(db, settings, actor=OPERATOR, out_dir=tmp_path / "w", per_file=2,
                    wave=Wave(vaccine="MR", as_of=AS_OF, number=1, size=5))
    assert done.result["persons"] == 5
    with db.transaction() as s:
        items = s.execute(select(NoticeItem.seq, NoticeItem.atena_no, Person.postal_code)
                          .join(Person, Person.atena_no == NoticeItem.atena_no)
                          .where(NoticeItem.job_id == done.job_id).order_by(NoticeItem.seq)).all()
        units = s.execute(select(BatchJobUnit.seq, BatchJobUnit.unit_key).where(BatchJobUnit.job_id == done.job_id)
                          .order_by(BatchJobUnit.seq)).all()
        plan = s.execute(select(AuditEntry.detail).where(AuditEntry.action == "ticket_waves.plan")).scalar_one()
        selects = s.execute(select(AuditEntry.atena_no).where(AuditEntry.action == "notice.select")
                            .order_by(AuditEntry.seq)).scalars().all()
    assert sorted(a for _seq, a, _pc in items) == children[:5]  # the five oldest of the whole line
    assert [seq for seq, _a, _pc in items] == list(range(5))  # renumbered 0…4, no staged row left
    assert [pc for _seq, _a, pc in items] == sorted(pc for _seq, _a, pc in items)  # post order
    assert units == [(seq, a) for seq, a, _pc in items] and selects == [a for _seq, a, _pc in items]
    assert '"in_selection": 8' in plan and '"left_for_later_waves": 3' in plan


def test_a_wave_killed_while_planning_leaves_nothing_and_plans_again(db, settings, tmp_path, monkeypatch):
    children = load_city(db, settings, tmp_path)
    monkeypatch.setattr(waves, "PERSONS_PER_BATCH", 2)
    wave = Wave(vaccine="MR", as_of=AS_OF, number=1, size=6)

    def killed(name, session=None):
        if name == "plan":
            session.flush()  # the first step's persons are in the database, uncommitted
            raise KeyboardInterrupt  # in-process stand-in for the SIGKILL of the subprocess tests
    monkeypatch.setattr(waves, "crash_point", killed)
    with pytest.raises(KeyboardInterrupt):
        run_wave(db, settings, actor=OPERATOR, out_dir=tmp_path / "w", per_file=4, wave=wave)
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(NoticeItem)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(BatchJob)).scalar_one() == 0
    monkeypatch.setattr(waves, "crash_point", lambda name, session=None: None)
    done = run_wave(db, settings, actor=OPERATOR, out_dir=tmp_path / "w", per_file=4, wave=wave)
    assert done.status == "done" and [a for a, _ in _tickets(db)] == children[:6]


def test_an_interrupted_wave_resumes_without_a_second_ticket(db, settings, tmp_path):
    children = load_city(db, settings, tmp_path)
    wave = Wave(vaccine="MR", as_of=AS_OF, number=1, size=8)
    part = run_wave(db, settings, actor=OPERATOR, out_dir=tmp_path / "w", per_file=3, wave=wave, max_chunks=1)
    assert part.status != "done" and len(_tickets(db)) == 3
    rest = run_wave(db, settings, actor=OPERATOR, out_dir=tmp_path / "w", per_file=3, wave=wave)
    assert rest.status == "done" and rest.resumed and rest.result["persons"] == 8
    assert [a for a, _ in _tickets(db)] == sorted(children)


def test_an_age_band_and_a_group_from_the_persons_conditions(db, settings, tmp_path):
    # 高齢者インフルエンザ on 2026-11-01: 65+ by age, 60–64 only with the designated disability.
    write(tmp_path / "elder.csv", REGISTRY_HEADER + "\n"
          "5001,,高齢　一,コウレイ　ハジメ,男,1940-05-01,360-0001,熊谷市本町1-1,,5001,世帯主,,住民,,\n"
          "5002,,高齢　二,コウレイ　ジ,女,1950-05-01,360-0001,熊谷市本町1-2,,5002,世帯主,,住民,,\n"
          "5003,,高齢　三,コウレイ　サン,男,1960-05-01,360-0001,熊谷市本町1-3,,5003,世帯主,,住民,,\n"
          "5004,,障害　四,ショウガイ　シ,女,1964-05-01,360-0001,熊谷市本町1-4,,5004,世帯主,,住民,,\n")
    from sesshu.registry.service import import_registry

    import_registry(db, settings, path=tmp_path / "elder.csv", actor=OPERATOR)
    record_condition(db, actor=OPERATOR, atena_no="5004", entry=ConditionEntry(
        condition_code="designated_disability", impairment="heart", evidence_kind="handbook", evidence_grade=1,
        evidence_no="第1号", confirmed_on=date(2026, 10, 1), reason="手帳の確認"))
    as_of = date(2026, 11, 1)
    band = run_wave(db, settings, actor=OPERATOR, out_dir=tmp_path / "band", wave=Wave(
        vaccine="FLU_ELDER", as_of=as_of, number=1, size=100, age_from=70, age_to=79))
    assert band.result["persons"] == 1 and [a for a, _ in _tickets(db, "FLU_ELDER")] == ["5002"]
    group = run_wave(db, settings, actor=OPERATOR, out_dir=tmp_path / "group", wave=Wave(
        vaccine="FLU_ELDER", as_of=as_of, number=1, size=100, group="designated_disability"))
    assert group.result["persons"] == 1 and "5004" in {a for a, _ in _tickets(db, "FLU_ELDER")}


def test_age_band_counts_from_the_day_before_the_birthday():
    assert in_band(date(1961, 11, 2), date(2026, 11, 1), 65, None)  # turns 65 at the end of 11/1
    assert not in_band(date(1961, 11, 3), date(2026, 11, 1), 65, None)
    assert in_band(date(1961, 11, 3), date(2026, 11, 1), None, 64)


def test_bad_waves_are_refused_in_japanese(db, settings, tmp_path):
    with pytest.raises(InvalidInput, match="発送人数"):
        run_wave(db, settings, actor=OPERATOR, out_dir=tmp_path, wave=Wave(vaccine="MR", as_of=AS_OF, number=1, size=0))
    with pytest.raises(InvalidInput, match="年齢の範囲"):
        run_wave(db, settings, actor=OPERATOR, out_dir=tmp_path,
                 wave=Wave(vaccine="MR", as_of=AS_OF, number=1, size=5, age_from=70, age_to=60))


def test_a_person_who_asked_for_suspension_gets_no_ticket_in_a_wave(db, settings, tmp_path):
    """利用停止 holds for waves as for any notice batch (the plan is tickets.notices.mailable_targets)."""
    from sesshu.disclosure.service import receive, suspend_use

    children = load_city(db, settings, tmp_path)
    inquiry = receive(db, actor=OPERATOR, kind="suspension", atena_no=children[0], channel="counter",
                      requester_name="保護者", requester_relation="legal_proxy",
                      identity_method="mynumber_card", question="利用停止の請求")
    suspend_use(db, actor=OPERATOR, inquiry_id=inquiry.id)
    done = run_wave(db, settings, actor=OPERATOR, out_dir=tmp_path / "waves", per_file=10,
                    wave=Wave(vaccine="MR", as_of=AS_OF, number=1, size=3))
    assert done.result["persons"] == 3 and {a for a, _ in _tickets(db)} == set(children[1:4])
