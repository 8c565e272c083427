"""特定接種 (特措法第28条): the city's staff list for a campaign's tokutei group is imported all-or-nothing
(CP932, 和暦, full-width digits, a 職種区分 the campaign names, row-numbered Japanese rejects); staff who live
elsewhere must first be 住登外者 (two-person check); the listed staff are the targets of the 特定接種 line,
their doses are recorded under 接種区分 特定接種, counted apart from 住民接種 and paid by the city."""
from __future__ import annotations

import csv
import io
import json
from datetime import date

from sqlalchemy import select

from sesshu.actor import Actor
from sesshu.approvals import service as approvals
from sesshu.audit.models import AuditEntry
from sesshu.billing.models import PaymentLine
from sesshu.billing.service import run_month
from sesshu.conditions.group_list import import_group_list
from sesshu.conditions.models import PersonCondition
from sesshu.domain.schedule import PANDEMIC_DIR
from sesshu.ledger.models import VaccinationRecord, Vaccine
from sesshu.ledger.service import evaluate_pending, import_records
from sesshu.ledger.targets import select_targets
from sesshu.rulesets import service as rulesets
from tests.integration.billing.city import C1, _csv, build_city
from tests.helpers import staff_actor, write
from tests.integration.test_cli import run

ADMIN = Actor(login_id="setup", kind="os", role="operator")
# The hypothetical campaign two years back, so that its 特定接種 starts on 2025-11-01.
CAMPAIGN = ((PANDEMIC_DIR / "example-tokutei.yaml").read_text(encoding="utf-8")
            .replace("2027-", "2025-").replace("2028-", "2026-"))
HEAD = "宛名番号,氏名カナ,生年月日,性別,所属,職種区分\n"


def _activate(db, settings):
    boss, boss2 = staff_actor(db, settings, "boss-a")[0], staff_actor(db, settings, "boss-b")[0]
    row = rulesets.propose(db, settings, actor=boss, raw=CAMPAIGN, reason="政府対策本部決定（仮想例）")
    approvals.approve(db, settings, actor=boss2, approval_id=row.approval_id, expected_version=1)
    return boss, boss2


def _register_elsewhere(db, settings, clerk, boss) -> str:
    """A staff member living in another city becomes a person only through the 住登外 two-person check."""
    req = approvals.request_approval(db, settings, actor=clerk, kind="non_resident_registration", reason="特定接種の名簿",
                                     raw={"name": "余所　住子", "name_kana": "ヨソ　スムコ", "sex": "F",
                                          "birth_date": "1980-01-01", "postal_code": "360-0042",
                                          "address": "行田市本丸2-5", "phone": "", "my_number": ""})
    return approvals.approve(db, settings, actor=boss, approval_id=req.id, expected_version=req.version).result_ref


def _held(db) -> dict[str, str]:
    with db.transaction() as s:
        return {c.atena_no: c.evidence_note for c in s.execute(select(PersonCondition).where(
            PersonCondition.condition_code == "tokutei_city_staff")).scalars()}


def test_a_staff_list_is_all_or_nothing_and_its_staff_are_the_tokutei_targets_paid_by_the_city(db, settings, tmp_path):
    build_city(db, settings, tmp_path)
    boss, _boss2 = _activate(db, settings)
    bad = write(tmp_path / "staff-bad.csv", HEAD +
                ",タカハシ　カズコ,昭和３２年７月７日,女,健康づくり課,１\n"   # full-width digits, 和暦: matched
                "2004,,,,消防本部,2\n"                                          # matched by 宛名番号
                ",ヨソ　スムコ,1980-01-01,女,危機管理課,1\n"                    # lives elsewhere, not a 住登外者 yet
                "2003,,,,市立病院,9\n", "cp932")                                # no such 職種区分
    out = import_group_list(db, actor=ADMIN, path=bad, group="tokutei_city_staff", reason="特定接種対象職員名簿 第1回")
    assert (out.read, out.recorded) == (4, 0)
    assert [line for line, _ in out.rejected] == [4, 5]
    assert "住登外者の登録" in out.rejected[0][1] and "二人確認" in out.rejected[0][1]
    assert "職種区分「9」は実施計画にありません" in out.rejected[1][1] and "区分1" in out.rejected[1][1]
    assert _held(db) == {}  # all-or-nothing: nobody recorded

    clerk = staff_actor(db, settings, "clerk-a", "clerk")[0]
    elsewhere = _register_elsewhere(db, settings, clerk, boss)
    good = write(tmp_path / "staff.csv", HEAD + ",タカハシ　カズコ,昭和３２年７月７日,女,健康づくり課,１\n"
                 "2004,,,,消防本部,2\n,ヨソ　スムコ,1980-01-01,女,危機管理課,1\n", "cp932")
    out = import_group_list(db, actor=ADMIN, path=good, group="tokutei_city_staff", reason="特定接種対象職員名簿 第2回")
    assert (out.recorded, out.rejected, out.by_job_category) == (3, [], {"1": 2, "2": 1})
    held = _held(db)
    assert set(held) == {"2014", "2004", elsewhere} and "職種区分 2（区分2" in held["2004"]
    with db.transaction() as s:
        entries = s.execute(select(AuditEntry.atena_no, AuditEntry.detail).where(
            AuditEntry.action == "person.condition_import")).all()
        assert {a for a, _d in entries} == {None, "2014", "2004", elsewhere}  # the refused attempt is on record too
        assert s.get(Vaccine, "PREPANDEMIC_EXAMPLE").default_category == "designated"

    # Targets of the 特定接種 line: the listed staff only, wherever they live (2003 is an adult resident, not listed).
    rows = select_targets(db, actor=ADMIN, vaccine="PREPANDEMIC_EXAMPLE", as_of=date(2025, 11, 1))
    assert {(r.atena_no, r.group) for r in rows} == {("2004", "特定接種 市職員"), ("2014", "特定接種 市職員"),
                                                     (elsewhere, "特定接種 市職員")}

    month = "2025-11"
    doses = [("2004", "PREPANDEMIC_EXAMPLE", "", "1", "特定接種", "令和7年11月4日", "接種", C1, month),
             ("2014", "PREPANDEMIC_EXAMPLE", "", "1", "特定接種", "2025-11-05", "接種", C1, month),
             ("2003", "PREPANDEMIC_EXAMPLE", "", "1", "特定接種", "2025-11-05", "接種", C1, month)]  # not on the list
    assert import_records(db, settings, path=write(tmp_path / "t.csv", _csv(doses), "cp932"), actor=ADMIN).accepted == 3
    evaluate_pending(db, actor=ADMIN)
    with db.transaction() as s:
        got = {r.atena_no: (r.category, r.error_code) for r in s.execute(
            select(VaccinationRecord).where(VaccinationRecord.vaccine_code == "PREPANDEMIC_EXAMPLE")).scalars()}
    assert got["2004"] == ("designated", "") and got["2014"] == ("designated", "")
    assert got["2003"][0] == "designated" and got["2003"][1] != ""  # not a target: judged invalid, not paid
    run_month(db, actor=ADMIN, month=month, transfer_date=date(2025, 12, 19))
    with db.transaction() as s:
        paid = sorted((ln.category, ln.unit_fee) for ln in s.execute(
            select(PaymentLine).where(PaymentLine.month == month, PaymentLine.kind == "fee")).scalars())
    assert paid == [("designated", 2277), ("designated", 2277)]

    # Counted apart from 住民接種, as the operator types it (和暦 dates); the list import through the CLI.
    r = run(settings, "tokutei", "counts", "--from", "令和7年11月1日", "--to", "R7.11.30", "--json")
    assert r.returncode == 0, r.stderr
    assert [(c["category_label"], c["vaccine"], c["dose_no"], c["doses"], c["persons"], c["invalid"])
            for c in json.loads(r.stdout)] == [("特定接種（特措法）", "PREPANDEMIC_EXAMPLE", 1, 2, 2, 1)]
    r = run(settings, "tokutei", "groups")
    assert "tokutei_city_staff" in r.stdout and "職種区分 3: 区分3" in r.stdout
    r = run(settings, "tokutei", "import", str(bad), "--group", "tokutei_city_staff", "--reason", "再送")
    assert r.returncode == 1 and "誰も登録していません" in r.stdout and "5行目" in r.stdout
    r = run(settings, "tokutei", "import", str(bad), "--group", "healthcare_worker", "--reason", "x")
    assert r.returncode == 2 and "特定接種の群ではありません" in r.stderr


def test_a_tokutei_section_with_a_bad_job_category_is_refused_with_its_line_in_japanese(db, settings):
    from sesshu.rulesets.service import RuleFileInvalid, preview

    import pytest
    bad = CAMPAIGN.replace('{code: "3", name: 区分3', '{code: "3", nam: 区分3')
    with pytest.raises(RuleFileInvalid) as e:
        preview(db, actor=ADMIN, raw=bad)
    line = next(i for i, ln in enumerate(bad.splitlines(), start=1) if 'nam: 区分3' in ln)
    msg = str(e.value)
    assert f"{line}行目" in msg and "使えない項目" in msg and "tokutei.groups[0].job_categories[2]" in msg


def test_daily_counts_show_tokutei_doses_by_job_category_apart_from_resident_doses(db, settings, tmp_path):
    from sesshu.counts.service import NO_LIST, daily_report, export_daily_csv

    build_city(db, settings, tmp_path)
    _activate(db, settings)
    staff = write(tmp_path / "staff.csv", HEAD + ",タカハシ　カズコ,昭和３２年７月７日,女,健康づくり課,１\n"
                  "2004,,,,消防本部,2\n", "cp932")
    assert import_group_list(db, actor=ADMIN, path=staff, group="tokutei_city_staff", reason="名簿").recorded == 2
    with db.transaction() as s:
        assert {c.atena_no: c.job_category for c in s.execute(select(PersonCondition)).scalars()} == \
            {"2014": "1", "2004": "2"}
    month = "2025-11"
    doses = [("2004", "PREPANDEMIC_EXAMPLE", "", "1", "特定接種", "2025-11-04", "接種", C1, month),
             ("2014", "PREPANDEMIC_EXAMPLE", "", "1", "特定接種", "2025-11-05", "接種", C1, month),
             ("2003", "PREPANDEMIC_EXAMPLE", "", "1", "特定接種", "2025-11-05", "接種", C1, month)]  # on no list
    assert import_records(db, settings, path=write(tmp_path / "t.csv", _csv(doses), "cp932"), actor=ADMIN).accepted == 3
    evaluate_pending(db, actor=ADMIN)
    r = daily_report(db, actor=ADMIN, day_from=date(2025, 11, 1), day_to=date(2025, 11, 30))
    assert dict(r.by_category()) == {"特定接種（特措法）": 3}
    jobs = r.designated_by_job()
    assert [(job.split(" ")[0], dose_no, n) for job, dose_no, n in jobs] == [
        ("1", 1, 1), ("2", 1, 1), (NO_LIST, 1, 1)]
    assert jobs[0][0].startswith("1 区分1") and jobs[1][0].startswith("2 区分2")
    from sesshu.tokutei.service import count_doses

    [row] = count_doses(db, actor=ADMIN, date_from=date(2025, 11, 1), date_to=date(2025, 11, 30))
    assert (row.doses, row.invalid) == (2, 1)  # 2003 on no list: judged invalid, not a 特定接種 dose counted
    assert [(job.split(" ")[0], n) for job, n in row.by_job.items()] == [("1", 1), ("2", 1)]
    content, _ = export_daily_csv(db, actor=ADMIN, day_from=date(2025, 11, 1), day_to=date(2025, 11, 30))
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0][-2:] == ["接種区分", "職種区分"]
    assert sorted((r[1], r[7], r[8].split(" ")[0]) for r in rows[1:]) == [
        ("PREPANDEMIC_EXAMPLE", "特定接種（特措法）", "1"), ("PREPANDEMIC_EXAMPLE", "特定接種（特措法）", "2"),
        ("PREPANDEMIC_EXAMPLE", "特定接種（特措法）", NO_LIST)]
