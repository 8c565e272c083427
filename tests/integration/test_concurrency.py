"""Concurrency: two staff correcting the same record (one wins, the other sees the newer values), and
concurrent person views and imports — in threads and in processes — keep one unbroken audit chain."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import date

import pytest
from sqlalchemy import func, select

from sesshu.audit import service as audit
from sesshu.audit.models import AuditEntry
from sesshu.domain.errors import Conflict
from sesshu.ledger import service as ledger
from sesshu.ledger.models import VaccinationRecord, VaccinationRecordHistory
from sesshu.ledger.service import Correction
from sesshu.registry.service import import_registry
from tests.helpers import REGISTRY_HEADER, write
from tests.integration.concurrency_worker import record_file

ATENAS = ["1001", "1002", "1003"]


@pytest.fixture
def town(db, settings, operator, tmp_path):
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          "1001,,山田 太郎,ヤマダ タロウ,男,1950-04-10,,熊谷市本町,,,,,,,\n"
          "1002,,鈴木 花子,スズキ ハナコ,女,1948-04-01,,熊谷市宮町,,,,,,,\n"
          "1003,,佐藤 一郎,サトウ イチロウ,男,1945-01-01,,熊谷市筑波,,,,,,,\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=operator)
    with db.transaction() as s:
        r = VaccinationRecord(atena_no="1001", vaccine_code="FLU_ELDER", vaccinated_on=date(2025, 11, 1),
                              lot_no="AB123", status="active", created_at=date(2025, 11, 1), created_by="setup",
                              updated_at=date(2025, 11, 1), dose_no=1)
        s.add(r)
        s.flush()
        record_id = r.id
    return record_id


def _chain(db) -> tuple[int, list[str]]:
    with db.transaction() as s:
        return audit.walk_chain(s)


def _entries(db) -> int:
    with db.transaction() as s:
        return s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def test_two_corrections_of_the_same_version_at_once_one_wins_the_other_sees_it(db, settings, operator, town):
    for round_no in range(3):
        with db.transaction() as s:
            version = s.get(VaccinationRecord, town).version
        start = threading.Barrier(2)
        outcome: dict[str, object] = {}

        def save(who: str):
            start.wait()
            try:
                outcome[who] = ledger.correct_record(db, settings, actor=operator, correction=Correction(
                    record_id=town, expected_version=version, reason=f"{who} の修正", changes={"lot_no": f"{who}{round_no}"}))
            except Conflict as e:
                outcome[who] = e

        threads = [threading.Thread(target=save, args=(w,)) for w in ("A", "B")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        won = [w for w, o in outcome.items() if not isinstance(o, Exception)]
        lost = [o for o in outcome.values() if isinstance(o, Conflict)]
        assert len(won) == 1 and len(lost) == 1, outcome
        conflict = lost[0]
        assert "他の職員" in conflict.message and f"現在の版 {version + 1}" in conflict.message
        assert conflict.current["version"] == version + 1
        assert conflict.current["values"]["lot_no"] == f"{won[0]}{round_no}"
        with db.transaction() as s:
            row = s.get(VaccinationRecord, town)
            assert (row.version, row.lot_no) == (version + 1, f"{won[0]}{round_no}")
    # Nothing lost: every winning change is in the history with its old value.
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(VaccinationRecordHistory)
                         .where(VaccinationRecordHistory.record_id == town)).scalar_one() == 3


def _cli(settings, *args):
    env = dict(os.environ, SESSHU_DATABASE_URL=settings.resolved_database_url, SESSHU_VAR_DIR=str(settings.var_dir))
    return subprocess.run([sys.executable, "-m", "sesshu", *args], env=env, capture_output=True, text=True, timeout=120)


def test_cli_correction_of_a_stale_version_shows_the_newer_values(db, settings, town):
    first = _cli(settings, "record", "correct", str(town), "--version", "1", "--reason", "転記誤り", "--set", "lot_no=CLI1")
    assert first.returncode == 0, first.stderr
    second = _cli(settings, "record", "correct", str(town), "--version", "1", "--reason", "別の修正",
                  "--set", "lot_no=CLI2")
    assert second.returncode == 2
    assert "他の職員" in second.stderr and "あなたの修正は保存していません" in second.stderr
    assert "lot_no = CLI1" in second.stderr and "--version 2" in second.stderr and "理由: 転記誤り" in second.stderr
    with db.transaction() as s:
        assert s.get(VaccinationRecord, town).lot_no == "CLI1"


def test_an_append_waits_for_the_open_transaction_holding_the_audit_head(db, operator, town):
    """The head row is locked per append: a second writer blocks until the first commits, then chains on it."""
    holding, done = threading.Event(), {}

    def first():
        with db.transaction() as s:
            done["a"] = audit.record(s, operator, "test.first")
            holding.set()
            time.sleep(0.6)
        done["a_committed"] = time.monotonic()

    t = threading.Thread(target=first)
    t.start()
    holding.wait()
    with db.transaction() as s:
        done["b"] = audit.record(s, operator, "test.second")
    done["b_done"] = time.monotonic()
    t.join()
    assert done["b"] == done["a"] + 1 and done["b_done"] >= done["a_committed"]
    with db.transaction() as s:
        a, b = (s.get(AuditEntry, done["a"]), s.get(AuditEntry, done["b"]))
    assert b.prev_hash == a.entry_hash
    assert _chain(db)[1] == []


def test_views_and_imports_in_threads_keep_one_chain(db, settings, clerk, operator, town, tmp_path):
    before = _entries(db)
    errors, done = [], []

    def viewer(n: int):
        try:
            for k in range(n):
                ledger.person_history(db, settings, actor=clerk, atena_no=ATENAS[k % 3])
                done.append("view")
        except Exception as e:  # noqa: BLE001 — reported below
            errors.append(repr(e))

    def importer(worker: int, n: int):
        try:
            for k in range(n):
                s = ledger.import_records(db, settings, path=record_file(tmp_path, worker, k, ATENAS[k % 3]),
                                          actor=operator)
                assert s.accepted == 2, s
                done.append("import")
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=viewer, args=(12,)) for _ in range(3)] + \
              [threading.Thread(target=importer, args=(w, 4)) for w in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    count, problems = _chain(db)
    assert problems == []
    # Every action is on the chain: one entry per view, at least one per import, no seq twice.
    assert count >= before + 36 + 8
    with db.transaction() as s:
        seqs = s.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars().all()
        views = s.execute(select(func.count()).select_from(AuditEntry)
                          .where(AuditEntry.action == "person.view", AuditEntry.actor == "clerk1")).scalar_one()
    assert seqs == list(range(1, len(seqs) + 1)) and views == 36


def test_views_and_imports_in_processes_keep_one_chain(db, settings, town, tmp_path):
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-m", "tests.integration.concurrency_worker",
                               settings.resolved_database_url, str(settings.var_dir), str(tmp_path), str(w), "8", *ATENAS],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in (1, 2, 3)]
    outputs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outputs]
    lines = [line for out, _ in outputs for line in out.splitlines()]
    assert lines.count("view") == 12 and lines.count("import 2") == 12
    count, problems = _chain(db)
    assert problems == []
    with db.transaction() as s:
        by_worker = dict(s.execute(select(AuditEntry.actor, func.count()).where(AuditEntry.action == "person.view")
                                   .group_by(AuditEntry.actor)).all())
        imported = s.execute(select(func.count()).select_from(VaccinationRecord)
                             .where(VaccinationRecord.created_by.like("os:worker%"))).scalar_one()
    assert by_worker == {"os:worker1": 4, "os:worker2": 4, "os:worker3": 4} and imported == 24
