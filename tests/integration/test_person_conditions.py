"""The B類 60–64 criterion (designated_disability) on file: record, end, withdraw — each re-evaluates
the person's records, is audited with the change, and is refused for a person outside the actor's 事務.
The ledger's evaluation paths (person page, nightly batch, target selection) all use it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from sesshu.access.service import OutOfScope
from sesshu.actor import Actor
from sesshu.audit.models import AuditEntry
from sesshu.auth.service import create_user
from sesshu.clock import today_jst
from sesshu.conditions.models import PersonCondition
from sesshu.conditions.schemas import ConditionEntry
from sesshu.conditions.service import end_condition, record_condition
from sesshu.domain.errors import Conflict, InvalidInput
from sesshu.ledger.evaluation import queue_persons
from sesshu.ledger.models import VaccinationRecord
from sesshu.ledger.service import evaluate_pending, import_records, person_history
from sesshu.ledger.targets import select_targets
from sesshu.registry.service import import_registry
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, write

TODAY = today_jst()
# A day of the current (or last) influenza season (10/1–1/31), never in the future.
SEASON_DAY = date(TODAY.year if TODAY >= date(TODAY.year, 10, 1) else TODAY.year - 1, 10, 1)
# 62 on SEASON_DAY and 62 or 63 today: inside the 60–64 band either way.
BORN_62 = date(SEASON_DAY.year - 62, 1, 1)
HOLDER, OTHER, LATER, FRESH = "4001", "4002", "4003", "4005"
ADMIN = Actor(login_id="setup", kind="os", role="operator")
PASSWORD = "kumagaya-Sesshu-2026"


def _staff(db, settings, login_id: str, role: str, tasks) -> Actor:
    user = create_user(db, settings, actor=ADMIN, login_id=login_id, display_name=login_id, role=role,
                       password=PASSWORD, tasks=tasks)
    with db.transaction() as s:
        from sesshu.auth.models import StaffUser
        uid = s.execute(select(StaffUser.id).where(StaffUser.login_id == user.login_id)).scalar_one()
    return Actor(login_id=login_id, kind="user", role=role, user_id=uid)


@pytest.fixture
def supervisor(db, settings) -> Actor:
    return _staff(db, settings, "super1", "supervisor", (("yobo_sesshu", "健康づくり課"),))


@pytest.fixture
def relief_only(db, settings) -> Actor:
    """A supervisor whose only 事務 is injury relief: sees only persons linked to a claim."""
    return _staff(db, settings, "relief1", "supervisor", (("kenko_higai_kyusai", "健康づくり課"),))


@pytest.fixture
def town(db, settings, operator, tmp_path):
    b = BORN_62.isoformat()
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          f"{HOLDER},,障害 一郎,ショウガイ イチロウ,男,{b},,熊谷市本町,,,,,,,\n"
          f"{OTHER},,対象外 二郎,タイショウガイ ジロウ,男,{b},,熊谷市本町,,,,,,,\n"
          f"{LATER},,後日 三郎,ゴジツ サブロウ,男,{b},,熊谷市本町,,,,,,,\n"
          f"{FRESH},,未接種 五子,ミセッシュ イツコ,女,{b},,熊谷市本町,,,,,,,\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=operator)
    day = SEASON_DAY.isoformat()
    write(tmp_path / "rec.csv", RECORD_HEADER + "\n" + "".join(
        f"{a},FLU_ELDER,,1,,{day},,,,,,,,,,,,,,,\n" for a in (HOLDER, OTHER, LATER)))
    import_records(db, settings, path=tmp_path / "rec.csv", actor=operator)
    evaluate_pending(db, actor=operator)
    return db


def entry(**over) -> ConditionEntry:
    values = dict(condition_code="designated_disability", impairment="kidney", evidence_kind="handbook",
                  evidence_grade=1, evidence_no="埼玉第123456号", evidence_issued_on=date(2020, 4, 1),
                  confirmed_on=TODAY, reason="窓口で身体障害者手帳（1級）を確認")
    return ConditionEntry(**(values | over))


def flu(db, atena_no: str) -> VaccinationRecord:
    with db.transaction() as s:
        r = s.execute(select(VaccinationRecord).where(VaccinationRecord.atena_no == atena_no,
                                                      VaccinationRecord.vaccine_code == "FLU_ELDER")).scalar_one()
        s.expunge(r)
        return r


def verdict(db, settings, actor, atena_no: str):
    h = person_history(db, settings, actor=actor, atena_no=atena_no)
    (v,) = [h.verdicts[r.id] for r in h.records if r.vaccine_code == "FLU_ELDER"]
    return v


def audit_rows(db, action: str) -> list[AuditEntry]:
    with db.transaction() as s:
        rows = s.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).scalars().all()
        for r in rows:
            s.expunge(r)
        return rows


def test_a_62_year_olds_flu_dose_is_voluntary_until_the_condition_is_on_file(town, settings, supervisor):
    assert "W_NOT_TARGET_GROUP" in flu(town, HOLDER).error_code
    assert verdict(town, settings, supervisor, HOLDER).status == "voluntary"

    out = record_condition(town, actor=supervisor, atena_no=HOLDER, entry=entry())

    assert out.state == "holds" and out.label.startswith("60〜64歳")
    assert flu(town, HOLDER).error_code == ""  # re-evaluated in the same transaction
    v = verdict(town, settings, supervisor, HOLDER)
    assert (v.status, v.dose_number) == ("valid", 1)
    # The person without the condition is untouched: still 任意.
    assert "W_NOT_TARGET_GROUP" in flu(town, OTHER).error_code
    assert verdict(town, settings, supervisor, OTHER).status == "voluntary"


def test_target_selection_includes_60_64_holders_and_excludes_the_rest(town, supervisor, operator):
    before = {r.atena_no for r in select_targets(town, actor=operator, vaccine="FLU_ELDER", as_of=SEASON_DAY)}
    assert not before & {HOLDER, OTHER, LATER, FRESH}
    record_condition(town, actor=supervisor, atena_no=FRESH, entry=entry(impairment="heart"))
    record_condition(town, actor=supervisor, atena_no=HOLDER, entry=entry())

    flu_rows = {r.atena_no: r.line for r in select_targets(town, actor=operator, vaccine="FLU_ELDER", as_of=SEASON_DAY)}
    # FRESH has no dose this season; HOLDER's dose of SEASON_DAY already counts as this season's 定期 dose.
    assert FRESH in flu_rows and flu_rows[FRESH].status == "eligible"
    assert HOLDER not in flu_rows and OTHER not in flu_rows and LATER not in flu_rows
    ppsv = {r.atena_no for r in select_targets(town, actor=operator, vaccine="PCV20_ELDER", as_of=SEASON_DAY)}
    assert {FRESH, HOLDER} <= ppsv and not ppsv & {OTHER, LATER}


def test_a_condition_ended_before_the_as_of_date_no_longer_selects(town, supervisor, operator):
    out = record_condition(town, actor=supervisor, atena_no=FRESH, entry=entry())
    end_condition(town, actor=supervisor, atena_no=FRESH, condition_id=out.id, reason="手帳の返還",
                  ended_on=SEASON_DAY - timedelta(days=1))
    rows = select_targets(town, actor=operator, vaccine="FLU_ELDER", as_of=SEASON_DAY)
    assert FRESH not in {r.atena_no for r in rows}


def test_ending_the_condition_re_evaluates_by_the_date_of_each_dose(town, settings, supervisor):
    out = record_condition(town, actor=supervisor, atena_no=HOLDER, entry=entry())
    assert flu(town, HOLDER).error_code == ""

    # Ended on or after the dose: the dose was 定期 when given and stays so.
    kept = record_condition(town, actor=supervisor, atena_no=LATER, entry=entry())
    end_condition(town, actor=supervisor, atena_no=LATER, condition_id=kept.id, reason="等級の変更",
                  ended_on=SEASON_DAY)
    assert flu(town, LATER).error_code == ""

    # Ended the day before the dose: the dose becomes 任意 again.
    ended = end_condition(town, actor=supervisor, atena_no=HOLDER, condition_id=out.id, reason="手帳の返還",
                          ended_on=SEASON_DAY - timedelta(days=1))
    assert (ended.status, ended.state, ended.ended_on) == ("ended", "ended", SEASON_DAY - timedelta(days=1))
    assert "W_NOT_TARGET_GROUP" in flu(town, HOLDER).error_code
    assert verdict(town, settings, supervisor, HOLDER).status == "voluntary"
    with town.transaction() as s:  # kept as history, never deleted
        row = s.get(PersonCondition, out.id)
        assert (row.status, row.end_reason, row.ended_by) == ("ended", "手帳の返還", "super1")


def test_a_condition_that_starts_after_the_dose_does_not_make_it_routine(town, settings, supervisor):
    record_condition(town, actor=supervisor, atena_no=HOLDER,
                     entry=entry(valid_from=SEASON_DAY + timedelta(days=1)))
    assert "W_NOT_TARGET_GROUP" in flu(town, HOLDER).error_code
    assert verdict(town, settings, supervisor, HOLDER).status == "voluntary"


def test_withdrawing_a_mistaken_entry_means_it_never_held(town, settings, supervisor):
    out = record_condition(town, actor=supervisor, atena_no=HOLDER, entry=entry())
    end_condition(town, actor=supervisor, atena_no=HOLDER, condition_id=out.id, reason="別人の手帳を誤って登録",
                  withdraw=True)
    assert "W_NOT_TARGET_GROUP" in flu(town, HOLDER).error_code
    with town.transaction() as s:
        assert s.get(PersonCondition, out.id).status == "withdrawn"
    # A new, correct entry may follow the withdrawn one.
    record_condition(town, actor=supervisor, atena_no=HOLDER, entry=entry())
    assert flu(town, HOLDER).error_code == ""
    with pytest.raises(Conflict):
        end_condition(town, actor=supervisor, atena_no=HOLDER, condition_id=out.id, reason="再度", withdraw=True)


def test_the_nightly_evaluation_uses_the_conditions(town, supervisor, operator):
    record_condition(town, actor=supervisor, atena_no=HOLDER, entry=entry())
    # Reset the stored verdicts and let the queue path recompute them.
    with town.transaction() as s:
        for r in s.execute(select(VaccinationRecord)).scalars():
            r.error_code = "X"
        queue_persons(s, [HOLDER, OTHER], TODAY)
    summary = evaluate_pending(town, actor=operator)
    assert summary.persons == 2
    assert flu(town, HOLDER).error_code == ""
    assert "W_NOT_TARGET_GROUP" in flu(town, OTHER).error_code


def test_changes_are_audited_with_the_reason_but_not_the_evidence_number(town, supervisor):
    out = record_condition(town, actor=supervisor, atena_no=HOLDER, entry=entry())
    end_condition(town, actor=supervisor, atena_no=HOLDER, condition_id=out.id, reason="手帳の返還",
                  ended_on=SEASON_DAY - timedelta(days=1))
    (setting,) = audit_rows(town, "person.condition_set")
    assert (setting.atena_no, setting.actor, setting.purpose) == (HOLDER, "super1", "接種対象の要件の登録")
    detail = json.loads(setting.detail)
    assert detail["condition_id"] == out.id and detail["condition"] == "designated_disability"
    assert detail["reason"] == "窓口で身体障害者手帳（1級）を確認" and detail["records_changed"] == 1
    assert "123456" not in setting.detail and "kidney" not in setting.detail
    (ending,) = audit_rows(town, "person.condition_end")
    assert json.loads(ending.detail) == {"condition_id": out.id, "condition": "designated_disability",
                                         "ended_on": (SEASON_DAY - timedelta(days=1)).isoformat(),
                                         "reason": "手帳の返還", "records_changed": 1}
    assert ending.atena_no == HOLDER


def test_a_person_outside_the_actors_task_is_refused(town, supervisor, relief_only):
    with pytest.raises(OutOfScope):
        record_condition(town, actor=relief_only, atena_no=HOLDER, entry=entry())
    out = record_condition(town, actor=supervisor, atena_no=HOLDER, entry=entry())
    with pytest.raises(OutOfScope):
        end_condition(town, actor=relief_only, atena_no=HOLDER, condition_id=out.id, reason="範囲外")
    with town.transaction() as s:
        assert [r.status for r in s.execute(select(PersonCondition)).scalars()] == ["active"]
    assert audit_rows(town, "person.condition_end") == []


@pytest.mark.parametrize("over, message", [
    ({"evidence_grade": 2}, "1級相当"),
    ({"evidence_no": ""}, "番号"),
    ({"reason": "  "}, "登録理由"),
    ({"impairment": "liver"}, "障害の種類"),
    ({"condition_code": "pregnant"}, "要件の種類"),
    ({"evidence_kind": "medical_certificate", "evidence_grade": None}, "医療機関・医師"),
    ({"confirmed_on": TODAY + timedelta(days=1)}, "未来"),
    ({"valid_from": date(2025, 5, 1), "valid_until": date(2025, 4, 30)}, "開始日より前"),
])
def test_bad_entries_are_refused_in_japanese(town, supervisor, over, message):
    with pytest.raises(InvalidInput) as e:
        record_condition(town, actor=supervisor, atena_no=HOLDER, entry=entry(**over))
    assert message in e.value.message
    with town.transaction() as s:
        assert s.execute(select(PersonCondition)).first() is None


def test_a_second_active_entry_of_the_same_condition_is_refused(town, supervisor):
    record_condition(town, actor=supervisor, atena_no=HOLDER, entry=entry())
    with pytest.raises(Conflict):
        record_condition(town, actor=supervisor, atena_no=HOLDER, entry=entry(impairment="heart"))


def test_medical_certificate_is_accepted_with_its_issuer(town, supervisor):
    out = record_condition(town, actor=supervisor, atena_no=HOLDER, entry=entry(
        evidence_kind="medical_certificate", evidence_grade=None, evidence_no="",
        evidence_note="熊谷中央病院 腎臓内科 医師 熊谷花子（じん臓機能障害1級相当）"))
    assert out.evidence_label.startswith("医師の診断書") and flu(town, HOLDER).error_code == ""


def run(settings, *args):
    env = dict(os.environ, SESSHU_DATABASE_URL=settings.resolved_database_url, SESSHU_VAR_DIR=str(settings.var_dir))
    return subprocess.run([sys.executable, "-m", "sesshu", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def _cli(settings, *args):
    return run(settings, "person", "condition", *args)


def test_cli_sets_lists_and_ends_a_condition(town, settings):
    r = _cli(settings, HOLDER, "--set", "designated_disability", "--impairment", "respiratory", "--evidence",
             "handbook", "--grade", "1", "--evidence-no", "第777号", "--reason", "手帳を確認")
    assert r.returncode == 0, r.stderr
    assert "再判定しました" in r.stdout and flu(town, HOLDER).error_code == ""
    listed = json.loads(_cli(settings, HOLDER, "--json").stdout)
    assert [(c["condition_code"], c["state"], c["impairment"]) for c in listed] == [
        ("designated_disability", "holds", "respiratory")]
    shown = json.loads(run(settings, "person", "show", HOLDER, "--json").stdout)["conditions"]
    assert [(c["condition_code"], c["state"]) for c in shown] == [("designated_disability", "holds")]
    assert "respiratory" not in str(shown) and "第777号" not in str(shown)  # 手帳 details stay off the summary
    refused = _cli(settings, HOLDER, "--end", "designated_disability")
    assert refused.returncode == 2 and "終了理由を入力してください" in refused.stderr
    r = _cli(settings, HOLDER, "--end", "designated_disability", "--on", (SEASON_DAY - timedelta(days=1)).isoformat(),
             "--reason", "手帳の返還")
    assert r.returncode == 0, r.stderr
    assert "W_NOT_TARGET_GROUP" in flu(town, HOLDER).error_code
    (entry_row,) = audit_rows(town, "person.condition_end")
    assert entry_row.actor_kind == "os"


def test_an_end_date_in_the_future_is_refused_and_none_means_today(town, supervisor):
    out = record_condition(town, actor=supervisor, atena_no=HOLDER, entry=entry())
    with pytest.raises(InvalidInput) as e:
        end_condition(town, actor=supervisor, atena_no=HOLDER, condition_id=out.id, reason="予定",
                      ended_on=TODAY + timedelta(days=1))
    assert "未来" in e.value.message
    ended = end_condition(town, actor=supervisor, atena_no=HOLDER, condition_id=out.id, reason="手帳の返還")
    assert ended.ended_on == TODAY
    assert flu(town, HOLDER).error_code == ""  # the dose was given while the condition held


def test_batch_and_single_evaluation_agree_when_conditions_change_over_time():
    from types import SimpleNamespace

    from sesshu.conditions.facts import ConditionSpan
    from sesshu.domain.schedule.book import compile_book
    from sesshu.ledger.evaluation import evaluate_people, evaluate_rows

    book = compile_book(())  # the shipped rules only

    born = date(1962, 6, 1)
    doses = [SimpleNamespace(id=i, vaccine_code=v, vaccinated_on=d, screening_result="vaccinated") for i, (v, d) in enumerate([
        ("FLU_ELDER", date(2023, 11, 1)), ("FLU_ELDER", date(2024, 11, 1)), ("PPSV23", date(2024, 11, 2)),
        ("COVID", date(2025, 11, 1))], start=1)]
    ended_2024 = (ConditionSpan("designated_disability", date(2024, 1, 1), date(2024, 12, 31)),)
    always = (ConditionSpan("designated_disability", None, None),)
    people = [(born, "F", doses, ended_2024), (born, "F", doses, always), (born, "F", doses, ()), (born, "F", doses)]
    as_of = date(2025, 11, 26)
    batch = evaluate_people(people, as_of, book=book)
    single = [evaluate_rows(b, sx, rows, as_of, spans=p[3] if len(p) > 3 else (), book=book) for p in people
              for b, sx, rows in [p[:3]]]
    assert batch == single
    status = lambda ev: [ev.verdicts[d.id].status for d in doses]  # noqa: E731
    # Held only in 2024: the 2024 doses are 定期, the 2023 and 2025 ones 任意.
    assert status(batch[0]) == ["voluntary", "valid", "valid", "voluntary"]
    assert status(batch[1]) == ["valid"] * 4  # 61–63 throughout, condition without limits
    assert status(batch[2]) == status(batch[3]) == ["voluntary"] * 4


def test_condition_codes_are_data_with_their_source_and_must_be_known_to_the_engine():
    from sesshu.conditions.codes import catalog, parse_catalog

    kind = catalog().conditions["designated_disability"]
    assert "予防接種法施行令第3条第1項" in kind.source and kind.required_grade == 1
    assert set(kind.impairments) == {"heart", "kidney", "respiratory", "hiv_immune"}
    bad = {"schema": "sesshu.person_conditions/1", "evidence_kinds": {"handbook": {"label": "手帳", "needs": ["grade"]}},
           "conditions": {"pregnant": {"label": "妊娠", "source": "?", "impairments": {"x": "x"}}}}
    with pytest.raises(ValueError, match="schedule engine"):
        parse_catalog(bad)
