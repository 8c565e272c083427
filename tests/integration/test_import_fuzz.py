"""Fuzzing the imports with generated files: every outcome is a summary or a Japanese DomainError
(never a crash), and when an import reports failure the database is exactly as before."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given

from sesshu.backup.manifest import database_state
from sesshu.domain.errors import DomainError
from sesshu.ledger import service as ledger
from sesshu.ledger.models import Institution
from sesshu.registry.service import import_registry
from tests.fuzz_strategies import FUZZ, RECORD_FILES, REGISTRY_FILES
from tests.helpers import REGISTRY_HEADER, write

_n = itertools.count()


@pytest.fixture
def town(db, settings, operator, tmp_path):
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          "1001,,山田 太郎,ヤマダ タロウ,男,2023-04-10,,熊谷市本町,,,,,,,\n"
          "1002,,鈴木 花子,スズキ ハナコ,女,2012-04-01,,熊谷市宮町,,,,,,,\n"
          "1003,,佐藤 一郎,サトウ イチロウ,男,1950-01-01,,熊谷市筑波,,,,,,,\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=operator)
    with db.transaction() as s:
        s.add(Institution(code="C001", name="熊谷こどもクリニック"))
    return db


def _data(db) -> dict:
    """Every table but the audit log (a refused import may leave its refusal on record)."""
    with db.transaction() as s:
        tables = database_state(s.connection())["tables"]
    return {k: v for k, v in tables.items() if k not in ("audit_entry", "audit_head", "audit_mac")}


def _run(db, importer, data: bytes, tmp_path):
    path = tmp_path / f"fuzz-{next(_n)}.csv"
    path.write_bytes(data)
    before = _data(db)
    try:
        summary = importer(path)
    except DomainError as e:
        assert e.message and not e.message.isascii(), f"error without a Japanese message: {e.message!r}"
        assert _data(db) == before, "a failed import changed the database"
        return None
    assert summary.read >= summary.accepted + summary.rejected - 0
    if summary.accepted == 0:
        # Nothing stored: only the batch's own bookkeeping may differ.
        after = _data(db)
        changed = {k for k in before if before[k] != after.get(k)}
        assert changed <= {"import_batch", "evaluation_queue"}, changed
    return summary


@FUZZ
@given(data=RECORD_FILES)
def test_generated_record_files_never_crash_the_import(town, settings, operator, tmp_path, data):
    _run(town, lambda p: ledger.import_records(town, settings, path=p, actor=operator), data, tmp_path)


@FUZZ
@given(data=REGISTRY_FILES)
def test_generated_registry_files_never_crash_the_import(town, settings, operator, tmp_path, data):
    _run(town, lambda p: import_registry(town, settings, path=p, actor=operator), data, tmp_path)
