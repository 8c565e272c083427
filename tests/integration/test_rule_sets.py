"""Uploaded rule files (sesshu.rulesets): a campaign or an amendment is checked (line-numbered
Japanese errors, a preview of the verdicts it would change) without changing anything, proposed by one
supervisor, activated only when another approves, and then every path judges with it: stored
verdicts are re-evaluated through the queue, doses before its effective date keep their verdict."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, select, text

from sesshu.actor import Actor
from sesshu.approvals import service as approvals
from sesshu.audit.models import AuditEntry
from sesshu.domain.errors import Forbidden, InvalidInput
from sesshu.domain.schedule import PANDEMIC_DIR
from sesshu.ledger.evaluation import VerdictChange
from sesshu.ledger.models import EvaluationQueue, VaccinationRecord, Vaccine
from sesshu.ledger.service import evaluate_pending
from sesshu.ledger.targets import select_targets
from sesshu.registry.service import import_registry
from sesshu.rulesets import service as rulesets
from sesshu.rulesets.active import rule_book
from sesshu.rulesets.models import RuleSetVersion
from tests.helpers import REGISTRY_HEADER, staff_actor, write

ADMIN = Actor(login_id="setup", kind="os", role="operator")
EXAMPLE = (PANDEMIC_DIR / "example.yaml").read_text(encoding="utf-8")
# The hypothetical campaign moved two years back, so that doses can be on record before today.
CAMPAIGN = (EXAMPLE.replace("2027-", "2025-").replace("2028-", "2026-"))


@pytest.fixture
def staff(db, settings):
    return {"clerk": staff_actor(db, settings, "clerk-a", "clerk")[0], "boss": staff_actor(db, settings, "boss-a")[0],
            "boss2": staff_actor(db, settings, "boss-b")[0]}


@pytest.fixture
def residents(db, settings, tmp_path):
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          "2001,,高齢 一郎,コウレイ イチロウ,男,1950-05-01,,熊谷市本町1-1,,,,,,,\n"
          "2002,,若手 花子,ワカテ ハナコ,女,1990-05-01,,熊谷市宮町2-2,,,,,,,\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=ADMIN)


def _add_dose(db, atena_no: str, code: str, on: date, error_code: str = "") -> int:
    now = datetime(2026, 1, 1)
    with db.transaction() as s:
        r = VaccinationRecord(atena_no=atena_no, vaccine_code=code, vaccinated_on=on, screening_result="vaccinated",
                              category="pandemic_resident", error_code=error_code, created_at=now,
                              created_by="test", updated_at=now)
        s.add(r)
        s.flush()
        return r.id


def _activate(db, settings, staff, text_: str, reason: str = "政府対策本部決定") -> RuleSetVersion:
    row = rulesets.propose(db, settings, actor=staff["boss"], raw=text_, reason=reason)
    req = approvals.get_approval(db, settings, actor=staff["boss2"], approval_id=row.approval_id)
    approvals.approve(db, settings, actor=staff["boss2"], approval_id=row.approval_id,
                      expected_version=req.approval.version)
    with db.transaction() as s:
        out = s.get(RuleSetVersion, row.id)
        s.expunge(out)
        return out


def _count(db, model) -> int:
    with db.transaction() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_a_bad_file_is_refused_with_the_line_and_field_in_japanese_and_nothing_is_stored(db, settings, staff):
    bad = CAMPAIGN.replace("days: 20}", "dayz: 20}")
    line = next(i for i, x in enumerate(bad.splitlines(), start=1) if "dayz" in x)
    with pytest.raises(rulesets.RuleFileInvalid) as e:
        rulesets.preview(db, actor=staff["boss"], raw=bad)
    assert f"{line}行目" in e.value.message and "dayz" in e.value.message and "使えない項目" in e.value.message
    assert e.value.problems[0].line == line
    with pytest.raises(rulesets.RuleFileInvalid) as e:
        rulesets.propose(db, settings, actor=staff["boss"], raw=bad, reason="テスト")
    assert _count(db, RuleSetVersion) == 0
    broken = CAMPAIGN.replace("version: 1", "version: ぜろ")
    with pytest.raises(rulesets.RuleFileInvalid) as e:
        rulesets.preview(db, actor=staff["boss"], raw=broken)
    assert "release.version" in e.value.message and "版は1以上の整数" in e.value.message


def test_a_campaign_is_in_force_only_after_a_second_supervisor_approves(db, settings, staff, residents):
    row = rulesets.propose(db, settings, actor=staff["boss"], raw=CAMPAIGN, reason="政府対策本部決定（仮想例）")
    assert row.status == "proposed" and row.approval_id
    with db.transaction() as s:
        assert "PANDEMIC_EXAMPLE" not in rule_book(s).at(date(2026, 1, 15)).vaccines
    with pytest.raises(Forbidden):
        approvals.approve(db, settings, actor=staff["boss"], approval_id=row.approval_id, expected_version=1)
    approvals.approve(db, settings, actor=staff["boss2"], approval_id=row.approval_id, expected_version=1)
    with db.transaction() as s:
        stored = s.get(RuleSetVersion, row.id)
        assert (stored.status, stored.approved_by, stored.proposed_by) == ("active", "boss-b", "boss-a")
        book = rule_book(s)
        assert "PANDEMIC_EXAMPLE" in book.at(date(2026, 1, 15)).vaccines
        assert "PANDEMIC_EXAMPLE" not in book.at(date(2025, 10, 31)).vaccines  # before its effective date
        assert s.get(Vaccine, "PANDEMIC_EXAMPLE").default_category == "pandemic_resident"
    listed = rulesets.list_rule_sets(db, actor=ADMIN)
    assert [(r.name, r.version, r.status, r.vaccine_codes, r.group_ids, r.effective_from) for r in listed] == [
        ("h9n9-example", 1, "active", ["PANDEMIC_EXAMPLE"], ["medical_high_risk", "healthcare_worker"],
         "2025-11-01")]
    # 65+ opened on 2026-01-01 in the (moved) example: the elderly resident is a target, the young one not.
    rows = select_targets(db, actor=ADMIN, vaccine="PANDEMIC_EXAMPLE", as_of=date(2026, 1, 10))
    assert [r.atena_no for r in rows] == ["2001"]


def test_activation_queues_the_affected_persons_and_their_verdicts_name_the_version(db, settings, staff, residents):
    rid = _add_dose(db, "2001", "FLU_ELDER", date(2025, 2, 15))  # after the default season (1/31): 任意
    _add_dose(db, "2002", "MR", date(1991, 6, 1))
    evaluate_pending(db, actor=ADMIN, as_of=date(2026, 12, 1))  # nothing queued yet: no change
    with db.transaction() as s:
        s.execute(text("UPDATE vaccination_record SET error_code = 'W_OUTSIDE_SEASON' WHERE id = :i"), {"i": rid})
    settings_file = """schema: sesshu.settings/1
release: {kind: settings, id: kumagaya, version: 1, effective_from: 2024-04-01, source: 熊谷市予防接種実施要綱}
name: 熊谷市の設定
source: 熊谷市予防接種実施要綱（テスト）
series:
  FLU_ELDER:
    season: {from: "10-01", to: "02-28", source: 熊谷市予防接種実施要綱 第3条（テスト）}
"""
    p = rulesets.preview(db, actor=staff["boss"], raw=settings_file)
    assert p.persons_judged == 1 and p.changed == 1
    assert isinstance(p.examples[0], VerdictChange) and p.examples[0].record_id == rid
    assert "熊谷市の設定" not in p.examples[0].after.rules and "kumagaya" in p.examples[0].after.rules
    assert _count(db, RuleSetVersion) == 0 and _count(db, EvaluationQueue) == 0  # a check changes nothing
    row = rulesets.propose(db, settings, actor=staff["boss"], raw=settings_file, reason="実施要綱の改正")
    shown = dict((r.label, r.value) for r in approvals.get_approval(
        db, settings, actor=staff["boss2"], approval_id=row.approval_id).details)
    assert "判定が変わる記録 1 件" in shown["申請時の影響"] and "W_OUTSIDE_SEASON → 正常" in shown["申請時の影響"]
    approvals.approve(db, settings, actor=staff["boss2"], approval_id=row.approval_id, expected_version=1)
    with db.transaction() as s:
        assert list(s.execute(select(EvaluationQueue.atena_no)).scalars()) == ["2001"]
    ev = evaluate_pending(db, actor=ADMIN, as_of=date(2026, 12, 1))
    assert ev.records_changed == 1
    with db.transaction() as s:
        assert s.get(VaccinationRecord, rid).error_code == ""
        actions = list(s.execute(select(AuditEntry.action)).scalars())
    assert {"rule_set.check", "rule_set.propose", "rule_set.activate"} <= set(actions)


def test_a_later_version_supersedes_from_its_date_and_earlier_doses_keep_their_verdict(db, settings, staff,
                                                                                      residents):
    _activate(db, settings, staff, CAMPAIGN)
    # Version 2 (from 2026-02-01): 4 weeks between the doses instead of 3.
    v2 = CAMPAIGN.replace("version: 1", "version: 2").replace("effective_from: 2025-11-01",
                                                              "effective_from: 2026-02-01") \
        .replace("{after: previous, days: 20}", "{after: previous, days: 27}")
    first = _add_dose(db, "2001", "PANDEMIC_EXAMPLE", date(2026, 1, 2))
    early = _add_dose(db, "2001", "PANDEMIC_EXAMPLE", date(2026, 1, 25))  # 23 days: fine under v1
    _activate(db, settings, staff, v2)
    evaluate_pending(db, actor=ADMIN, as_of=date(2026, 12, 1))
    with db.transaction() as s:
        assert s.get(VaccinationRecord, first).error_code == ""
        assert s.get(VaccinationRecord, early).error_code == ""  # judged by v1, in force on its date
    late = _add_dose(db, "2001", "PANDEMIC_EXAMPLE", date(2026, 2, 10))  # 3rd dose: counts in no series
    with db.transaction() as s:
        from sesshu.ledger.evaluation import reevaluate_persons

        reevaluate_persons(s, ["2001"], date(2026, 12, 1))
        assert s.get(VaccinationRecord, late).error_code != ""
    listed = {r.version: r for r in rulesets.list_rule_sets(db, actor=ADMIN)}
    assert listed[1].status == "active" and listed[1].effective_until == "2026-01-31"
    assert listed[2].status == "active" and listed[2].effective_until is None


def test_a_version_starting_no_later_replaces_the_earlier_one_entirely(db, settings, staff, residents):
    _activate(db, settings, staff, CAMPAIGN)
    _activate(db, settings, staff, CAMPAIGN.replace("version: 1", "version: 2"))
    listed = {r.version: r.status for r in rulesets.list_rule_sets(db, actor=ADMIN)}
    assert listed == {1: "superseded", 2: "active"}
    with pytest.raises(rulesets.RuleFileInvalid) as e:
        rulesets.preview(db, actor=staff["boss"], raw=CAMPAIGN)  # version 1 again
    assert "より大きい版番号" in e.value.message


def test_a_campaign_group_is_a_person_condition_and_targets_are_listed_by_group(db, settings, staff, residents):
    from sesshu.conditions.schemas import ConditionEntry
    from sesshu.conditions.service import record_condition

    for f in ("covid-2021.yaml", "covid-2021-v2.yaml"):
        _activate(db, settings, staff, (PANDEMIC_DIR / f).read_text(encoding="utf-8"))
    entry = ConditionEntry(condition_code="underlying_condition", impairment="", evidence_kind="handbook",
                           evidence_grade=None, evidence_no="", evidence_issued_on=None, evidence_note="",
                           confirmed_on=date(2021, 6, 1), valid_from=date(2021, 6, 1), valid_until=None,
                           reason="予診票の申告")
    with pytest.raises(InvalidInput) as e:  # the campaign says: self-declared on the 予診票
        record_condition(db, actor=staff["clerk"], atena_no="2002", entry=entry)
    assert "self_declared" in e.value.message
    import dataclasses
    out = record_condition(db, actor=staff["clerk"], atena_no="2002", entry=dataclasses.replace(
        entry, evidence_kind="self_declared", evidence_note="予診票に慢性の心臓病と記載"))
    assert out.label == "基礎疾患を有する者（65歳未満）"
    by_group = {r.atena_no: r.group for r in select_targets(db, actor=ADMIN, vaccine="C19_PFIZER",
                                                            as_of=date(2021, 6, 10))}
    assert by_group == {"2001": "65歳以上", "2002": "基礎疾患を有する者"}
    assert [r.atena_no for r in select_targets(db, actor=ADMIN, vaccine="C19_PFIZER", as_of=date(2021, 5, 10))] \
        == ["2001"]


def test_an_institution_list_is_matched_to_persons_and_unmatched_rows_come_back(db, settings, staff, residents,
                                                                                tmp_path):
    from sesshu.conditions.group_list import import_group_list

    _activate(db, settings, staff, (PANDEMIC_DIR / "covid-2021.yaml").read_text(encoding="utf-8"))
    lst = write(tmp_path / "list.csv", "宛名番号,氏名カナ,生年月日,性別,所属\n"
                ",わかて　はなこ,平成2年5月1日,女,熊谷総合病院\n"           # matched by kana + birth + sex
                "2001,,,,熊谷総合病院\n"                                    # matched by 宛名番号
                ",ヤマダ タロウ,1980-01-01,男,熊谷総合病院\n"               # nobody
                "9999,,,,熊谷総合病院\n"                                    # unknown number
                ",ワカテ ハナコ,1990-05-01,女,\n", "cp932")                   # no institution
    out = import_group_list(db, actor=ADMIN, path=lst, group="healthcare_worker", reason="熊谷総合病院の名簿")
    assert (out.read, out.recorded, out.already) == (5, 2, 0)
    assert [line for line, _ in out.rejected] == [4, 5, 6]
    assert "一致する方が" in out.rejected[0][1] and "9999" in out.rejected[1][1] and "所属" in out.rejected[2][1]
    rows = select_targets(db, actor=ADMIN, vaccine="C19_PFIZER", as_of=date(2021, 3, 1))
    assert {(r.atena_no, r.group) for r in rows} == {("2001", "医療従事者等"), ("2002", "医療従事者等")}
    again = import_group_list(db, actor=ADMIN, path=lst, group="healthcare_worker", reason="再送")
    assert (again.recorded, again.already) == (0, 2)
    with pytest.raises(InvalidInput):
        import_group_list(db, actor=ADMIN, path=lst, group="underlying_condition", reason="x")  # self-declared


def test_a_rejected_proposal_is_listed_as_rejected_and_never_in_force(db, settings, staff, residents):
    row = rulesets.propose(db, settings, actor=staff["boss"], raw=CAMPAIGN, reason="政府対策本部決定（仮想例）")
    approvals.reject(db, settings, actor=staff["boss2"], approval_id=row.approval_id, expected_version=1,
                     comment="接種順位の日付が決定と違います")
    [listed] = rulesets.list_rule_sets(db, actor=ADMIN)
    assert (listed.status, listed.status_label) == ("rejected", "却下・取下げ")
    with db.transaction() as s:
        assert "PANDEMIC_EXAMPLE" not in rule_book(s).at(date(2026, 1, 15)).vaccines
