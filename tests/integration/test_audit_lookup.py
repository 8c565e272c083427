"""Quick lookup of the log by person, staff member, period, action or sequence numbers; itself on record."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import pytest
from sqlalchemy import text

from sesshu.actor import Actor
from sesshu.audit.lookup import LookupCriteria, compress_seqs, parse_seqs, search_entries
from sesshu.domain.errors import InvalidInput
from tests.integration.test_audit_checkpoints import jst_at, write_at

A = Actor(login_id="staff-a", kind="user", role="clerk")
B = Actor(login_id="staff-b", kind="user", role="clerk")
AUDITOR = Actor(login_id="auditor1", kind="user", role="auditor")
D1, D2, D3 = date(2025, 10, 1), date(2025, 10, 2), date(2025, 10, 3)


@pytest.fixture
def log(db):
    return {
        "a_1001": write_at(db, jst_at(D1, 9), A, atena_no="1001", purpose="接種履歴の確認", n=3),
        "b_1001": write_at(db, jst_at(D2, 0, 30), B, atena_no="1001", purpose="接種履歴の確認"),
        "b_1002": write_at(db, jst_at(D2, 23, 59), B, atena_no="1002", purpose="接種履歴の確認"),
        "a_search": write_at(db, jst_at(D3, 10), A, action="person.search", detail={"kana": "ヤマダ"}),
    }


def _seqs(db, **criteria) -> list[int]:
    page = search_entries(db, actor=AUDITOR, criteria=LookupCriteria.parse(**criteria), per_page=100)
    return sorted(r.seq for r in page.rows)


def test_finds_entries_by_person_actor_action_and_jst_period(db, log):
    assert _seqs(db, atena_no="1001") == log["a_1001"] + log["b_1001"]
    assert _seqs(db, actor="staff-b") == log["b_1001"] + log["b_1002"]
    assert _seqs(db, action="person.search") == log["a_search"]
    # 00:30 and 23:59 JST on D2 are 15:30 on D1 and 14:59 on D2 in UTC: the period is in JST.
    assert _seqs(db, date_from="2025-10-02", date_to="R7.10.2") == log["b_1001"] + log["b_1002"]
    assert _seqs(db, actor="staff-a", date_from=D3) == log["a_search"]
    assert _seqs(db, seqs=compress_seqs(log["a_1001"][:2] + log["b_1002"])) == log["a_1001"][:2] + log["b_1002"]


def test_pages_newest_first(db, log):
    page = search_entries(db, actor=AUDITOR, criteria=LookupCriteria.parse(atena_no="1001"), page=2, per_page=2)
    assert page.total == 4 and page.pages == 2 and [r.seq for r in page.rows] == sorted(log["a_1001"][:2], reverse=True)


def test_lookup_is_on_record_with_the_person(db, log):
    search_entries(db, actor=AUDITOR, criteria=LookupCriteria.parse(atena_no="1002"))
    with db.engine.connect() as c:
        row = c.execute(text("SELECT actor, action, atena_no, detail FROM audit_entry ORDER BY seq DESC LIMIT 1")).one()
    assert row[:3] == ("auditor1", "audit.view", "1002")
    assert json.loads(row[3])["criteria"] == {"atena_no": "1002"}


@pytest.mark.parametrize("criteria,message", [
    ({}, "いずれかを指定"),
    ({"atena_no": "12a"}, "宛名番号"),
    ({"action": "drop table"}, "操作の種類"),
    ({"seqs": "5-3"}, "連番の範囲"),
    ({"seqs": "x"}, "連番の指定"),
    ({"date_from": "2025-13-01"}, "期間（から）"),
])
def test_bad_criteria_are_refused_in_japanese(db, criteria, message):
    with pytest.raises(InvalidInput, match=message):
        search_entries(db, actor=AUDITOR, criteria=LookupCriteria.parse(**criteria))


def test_seq_ranges_round_trip():
    assert compress_seqs([12, 3, 5, 6, 7]) == "3,5-7,12"
    assert parse_seqs("3,5-7,12") == ((3, 3), (5, 7), (12, 12))


def test_cli_search_json(db, log, settings):
    env = dict(os.environ, SESSHU_DATABASE_URL=settings.resolved_database_url, SESSHU_VAR_DIR=str(settings.var_dir))
    out = subprocess.run([sys.executable, "-m", "sesshu", "audit", "search", "--atena-no", "1001", "--from", "2025-10-02",
                          "--json"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["rows"]
    assert [r["seq"] for r in rows] == log["b_1001"] and rows[0]["occurred_at"].startswith("2025-10-02T00:30:00")
    bad = subprocess.run([sys.executable, "-m", "sesshu", "audit", "search"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "いずれかを指定" in bad.stderr
