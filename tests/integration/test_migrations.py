"""Schema only through Alembic: the migrations build exactly the models, on both databases."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sesshu.orm import load_all_models


def test_migrated_schema_matches_the_models(db):
    with db.engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), load_all_models()) == []
