"""Schema only through Alembic: the migrations build exactly the models, on both databases."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sesshu.orm import load_all_models


def test_migrated_schema_matches_the_models(db):
    with db.engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), load_all_models()) == []


def test_postgresql_knows_the_ledger_has_about_one_person_per_ten_records(db):
    """Without it ANALYZE guesses ~136 records per person at a 1M-person ledger and every batch
    `atena_no IN (…)` look-up scans the whole table (migration 0017)."""
    if db.engine.dialect.name != "postgresql":
        return
    from sqlalchemy import text

    with db.engine.connect() as c:
        options = c.execute(text(
            "SELECT attoptions FROM pg_attribute WHERE attrelid = 'vaccination_record'::regclass "
            "AND attname = 'atena_no'")).scalar()
    assert "n_distinct=-0.1" in options
