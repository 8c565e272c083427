"""The CLI is a thin layer over the same services: JSON contracts, exit codes, audit as OS user."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.ledger.models import Institution
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, my_number, write


def run(settings, *args, input_text=None):
    env = dict(os.environ, SESSHU_DATABASE_URL=settings.resolved_database_url, SESSHU_VAR_DIR=str(settings.var_dir))
    return subprocess.run([sys.executable, "-m", "sesshu", *args], env=env, capture_output=True, text=True,
                          input=input_text, timeout=120)


@pytest.fixture
def loaded(db, settings, tmp_path):
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          f"1001,{my_number('11112222333')},山田 太郎,ヤマダ タロウ,男,2023-04-10,,熊谷市本町1-1,,,,,,,\n"
          "1002,,鈴木 花子,スズキ ハナコ,女,2012-04-01,,熊谷市宮町2-2,,,,,,,\n", "cp932")
    r = run(settings, "import", "registry", str(tmp_path / "reg.csv"), "--json")
    assert r.returncode == 0, r.stderr
    with db.transaction() as s:
        s.add(Institution(code="C001", name="熊谷こどもクリニック"))
    return db


def test_db_upgrade_is_repeatable(loaded, settings):
    r = run(settings, "db", "upgrade")
    assert r.returncode == 0 and "データベースを更新しました" in r.stdout


def test_import_records_json_summary_and_rejects_file(loaded, settings, tmp_path):
    path = write(tmp_path / "rec.csv", RECORD_HEADER + "\n"
                 "1001,HIB,初回,1,定期A類,R5.6.9,接種,C001,,,,,,AB1,0.5,R5.7,,,,,\n"
                 "1001,HIB,初回,2,定期A類,R5.7.10,接種,C001,,,,,,AB1,0.5,R5.8,,,,,\n"
                 "9999,HIB,,,,R5.7.10,,,,,,,,,,,,,,,\n", "cp932")
    first = run(settings, "import", "records", str(path), "--rejects", str(tmp_path / "out.csv"), "--json")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert {k: summary[k] for k in ("read", "accepted", "rejected", "duplicates")} == \
        {"read": 3, "accepted": 2, "rejected": 1, "duplicates": 0}
    # What the engine made of the stored rows, as on the web's job page (issue 22).
    assert (summary["verdicts"]["stored"], summary["verdicts"]["valid"], summary["verdicts"]["invalid"]) == (2, 2, 0)
    rejects = list(csv.reader((tmp_path / "out.csv").open(encoding="utf-8-sig")))
    assert rejects[1][0] == "4" and "住民記録にありません" in rejects[1][2]
    again = json.loads(run(settings, "import", "records", str(path), "--json").stdout)
    assert (again["accepted"], again["duplicates"]) == (0, 2)


def test_person_show_json_has_fields_and_records(loaded, settings, tmp_path):
    write(tmp_path / "rec.csv", RECORD_HEADER + "\n1001,HIB,初回,1,,2023-06-09,,C001,,,,,,,,,,,,,\n")
    run(settings, "import", "records", str(tmp_path / "rec.csv"))
    r = run(settings, "person", "show", "1001", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["atena_no"] == "1001" and data["name"] == "山田　太郎" and data["birth_date"] == "2023-04-10"
    assert data["records"][0]["vaccine_code"] == "HIB" and data["records"][0]["vaccinated_on"] == "2023-06-09"
    assert data["my_number_masked"].startswith("********") and "11112222333" not in r.stdout
    assert data["conditions"] == []


def test_person_show_unknown_exits_non_zero_with_japanese_message(loaded, settings):
    r = run(settings, "person", "show", "777")
    assert r.returncode == 2 and "登録されていません" in r.stderr


def test_search_formats(loaded, settings):
    j = json.loads(run(settings, "search", "--kana", "やまだ", "--format", "json").stdout)
    assert j["total"] == 1 and j["rows"][0]["atena_no"] == "1001"
    # CSV holds personal data: only as a password-protected ZIP (tests/integration/test_exports.py).
    c = run(settings, "search", "--birth-from", "H24.1.1", "--format", "csv", "--purpose", "名簿作成")
    assert c.returncode == 2 and "--output" in c.stderr and "1001" not in c.stdout


def test_cli_actions_are_audited_as_the_os_user(loaded, settings, db):
    run(settings, "person", "show", "1001")
    with db.transaction() as s:
        e = s.execute(select(AuditEntry).where(AuditEntry.action == "person.view")).scalar_one()
    assert e.actor_kind == "os" and e.actor.startswith("os:")


def test_commands_on_an_empty_database_say_to_upgrade(tmp_path):
    env = dict(os.environ, SESSHU_VAR_DIR=str(tmp_path), SESSHU_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    r = subprocess.run([sys.executable, "-m", "sesshu", "person", "show", "1"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "sesshu db upgrade" in r.stderr


def test_targets_and_eligibility_in_json(loaded, settings):
    # 1001 was born 2023-04-10: MR 1期 runs reach(生後12月) 2024-04-09 … reach(生後24月) 2025-04-09.
    rows = json.loads(run(settings, "targets", "--vaccine", "MR", "--as-of", "2024-06-01", "--format", "json").stdout)
    assert [(r["atena_no"], r["next_dose"], r["status"], r["earliest"], r["legal_until"]) for r in rows] == \
        [("1001", 1, "eligible", "2024-04-09", "2025-04-09")]
    person = json.loads(run(settings, "person", "show", "1001", "--json").stdout)
    mr = [e for e in person["eligibility"] if e["vaccine"] == "MR"][0]
    assert set(mr) == {"vaccine", "next_dose", "status", "earliest", "standard_from", "standard_until", "legal_until"}
