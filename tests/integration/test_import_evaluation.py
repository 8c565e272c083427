"""The 予診票 import that judges its own persons (import_records(evaluate=True), as the CLI and the web
run it): the error codes it stores are the ones a full re-evaluation stores, each person is judged once
inside the import's transaction, and the dashboard's running counts stay equal to the tables."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from sesshu.audit.models import AuditEntry
from sesshu.clock import today_jst
from sesshu.dashboard.service import recount, running_counts
from sesshu.jobs.crash import ENV as KILL_ENV
from sesshu.ledger import service as ledger
from sesshu.ledger.counts import INSERT_TRIGGER
from sesshu.ledger.evaluation import queue_persons
from sesshu.ledger.models import EvaluationQueue, VaccinationRecord
from sesshu.registry.service import import_registry
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, write

VACCINES = ("MR", "HIB", "PCV", "VAR", "JE", "FLU_ELDER", "PPSV23", "DPTIPV", "HPV9")


@pytest.fixture
def town(db, settings, operator, tmp_path):
    """120 residents on a few birth dates (infants, children, elders); returns their (atena, birth)."""
    rng = random.Random(11)
    today = today_jst()
    births = [today - timedelta(days=d) for d in (100, 200, 400, 800, 2000, 4400, 24000, 26000)]
    reg, people = [REGISTRY_HEADER], []
    for i in range(120):
        b, sex = rng.choice(births), rng.choice("MF")
        atena = str(50000 + i)
        reg.append(f"{atena},,住民 {i},ジュウミン,{'男' if sex == 'M' else '女'},{b.isoformat()},,熊谷市,,,,,,,")
        people.append((atena, b))
    import_registry(db, settings, path=write(tmp_path / "reg.csv", "\n".join(reg) + "\n"), actor=operator)
    return people


def _records_file(path, people, seed: int, rows: int, *, extra_lines=()):
    rng = random.Random(seed)
    today = today_jst()
    lines = [RECORD_HEADER]
    for _ in range(rows):
        atena, b = rng.choice(people)
        d = b + timedelta(days=rng.randint(0, (today - b).days))
        lines.append(",".join([atena, rng.choice(VACCINES), "", "", "", d.isoformat()] + [""] * 15))
    lines.extend(extra_lines)
    return write(path, "\r\n".join(lines) + "\r\n", encoding="cp932")


def _codes(db) -> dict:
    with db.transaction() as s:
        return dict(s.execute(select(VaccinationRecord.id, VaccinationRecord.error_code)).all())


def test_the_import_stores_the_error_codes_of_a_full_reevaluation(db, settings, operator, town, tmp_path):
    small = replace(settings, import_chunk_rows=50)  # persons spread over several chunks
    ledger.import_records(db, small, path=_records_file(tmp_path / "a.csv", town, 1, 200), actor=operator)
    ledger.evaluate_pending(db, actor=operator)
    # The second month: new doses, doses already on the ledger, a row twice, a bad row.
    again = (tmp_path / "a.csv").read_text(encoding="cp932").splitlines()[1:40]
    second = _records_file(tmp_path / "b.csv", town, 2, 300,
                           extra_lines=[*again, again[0], "99999999,MR,,,,2024-01-01" + "," * 15])
    summary = ledger.import_records(db, small, path=second, actor=operator, evaluate=True)
    assert summary.rejected == 1 and summary.duplicates >= 40 and summary.accepted > 200
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(EvaluationQueue)).scalar() == 0
        persons = set(s.execute(select(VaccinationRecord.atena_no)
                                .where(VaccinationRecord.import_batch_id == summary.batch_id)).scalars())
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "records.evaluate")
                          .order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert summary.evaluated == len(persons)
    detail = json.loads(entry.detail)
    assert {k: detail[k] for k in ("persons", "batch_id", "records_changed")} == {
        "persons": len(persons), "batch_id": summary.batch_id, "records_changed": summary.error_codes_changed}
    stored = _codes(db)
    assert any(stored.values()), "the file should hold doses the engine refuses"
    # Everybody judged again from scratch by the queue path.
    with db.transaction() as s:
        s.execute(VaccinationRecord.__table__.update().values(error_code="X"))
        queue_persons(s, sorted({a for a, _b in town}), ledger.utcnow())
    ledger.evaluate_pending(db, actor=operator)
    assert _codes(db) == stored


def test_the_import_without_evaluation_queues_its_persons(db, settings, operator, town, tmp_path):
    summary = ledger.import_records(db, settings, path=_records_file(tmp_path / "a.csv", town, 3, 60), actor=operator)
    assert summary.evaluated == 0
    with db.transaction() as s:
        queued = set(s.execute(select(EvaluationQueue.atena_no)).scalars())
        written = set(s.execute(select(VaccinationRecord.atena_no)).scalars())
    assert queued == written


def _trigger_exists(db) -> bool:
    with db.transaction() as s:
        if s.bind.dialect.name != "sqlite":
            return True  # statement-level triggers on PostgreSQL: never set aside
        return s.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = :n"),
                         {"n": INSERT_TRIGGER}).scalar() == 1


def _counts_agree(db) -> None:
    with db.transaction() as s:
        running = {k: n for k, n in running_counts(s).items() if n}
        assert running == {k: n for k, n in recount(s).items() if n}


@pytest.mark.parametrize("evaluate", [False, True])
def test_the_dashboard_counts_equal_the_tables_after_an_import(db, settings, operator, town, tmp_path, evaluate):
    small = replace(settings, import_chunk_rows=40)
    first = _records_file(tmp_path / "a.csv", town, 5, 150)
    again = first.read_text(encoding="cp932").splitlines()[1:60]  # duplicates are not counted
    for path in (first, _records_file(tmp_path / "b.csv", town, 6, 100, extra_lines=again)):
        summary = ledger.import_records(db, small, path=path, actor=operator, evaluate=evaluate)
        assert summary.accepted > 0
        _counts_agree(db)
        assert _trigger_exists(db)
    # A record voided afterwards is counted by the update trigger, as always.
    with db.transaction() as s:
        r = s.execute(select(VaccinationRecord).limit(1)).scalar_one()
        r.status = "voided"
    _counts_agree(db)


def test_a_failed_import_leaves_the_trigger_and_the_counts_as_they_were(db, settings, operator, town, tmp_path,
                                                                         monkeypatch):
    small = replace(settings, import_chunk_rows=30)
    real, calls = ledger._store_chunk, {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(ledger, "_store_chunk", failing)
    with db.transaction() as s:
        before = running_counts(s)
    with pytest.raises(RuntimeError):
        ledger.import_records(db, small, path=_records_file(tmp_path / "a.csv", town, 7, 150), actor=operator,
                              evaluate=True)
    assert _trigger_exists(db)
    with db.transaction() as s:
        assert running_counts(s) == before
        assert s.execute(select(func.count()).select_from(VaccinationRecord)).scalar() == 0
    monkeypatch.setattr(ledger, "_store_chunk", real)
    ledger.import_records(db, small, path=tmp_path / "a.csv", actor=operator, evaluate=True)
    _counts_agree(db)


def test_killed_while_judging_the_file_leaves_the_database_as_it_was(db, settings, operator, town, tmp_path):
    """kill -9 in the engine's pass (after every row is stored): nothing of the file is on the ledger."""
    path = _records_file(tmp_path / "a.csv", town, 9, 200)
    env = dict(os.environ, SESSHU_DATABASE_URL=settings.resolved_database_url, SESSHU_VAR_DIR=str(settings.var_dir),
               SESSHU_IMPORT_CHUNK_ROWS="50", **{KILL_ENV: "import-evaluate:0"})
    r = subprocess.run([sys.executable, "-m", "sesshu", "import", "records", str(path), "--json"], env=env,
                       capture_output=True, timeout=300)
    assert r.returncode == -signal.SIGKILL, r.stderr.decode()
    db.dispose()
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(VaccinationRecord)).scalar() == 0
        assert s.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action.in_(("records.import", "records.evaluate")))).scalar() == 0
    _counts_agree(db)
    assert _trigger_exists(db)
    summary = ledger.import_records(db, settings, path=path, actor=operator, evaluate=True)
    assert summary.accepted > 0 and summary.evaluated > 0
    _counts_agree(db)
