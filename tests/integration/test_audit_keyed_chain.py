"""The audit log's keyed chain: an existing chain is sealed by the migration (0022) with the key from
the key directory; afterwards a rewrite with the hash chain recomputed, or a cut tail with the head moved
back, is caught without any outside file (test_audit_checkpoints has those cases)."""
from __future__ import annotations

from sqlalchemy import text

from sesshu.audit.service import GENESIS, entry_hash, record, verify_chain
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.migrate import upgrade


def test_the_migration_seals_an_existing_chain_and_new_entries_continue_it(tmp_path, operator):
    settings = load_settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(settings, "0018")
    db = make_database(settings)
    prev = GENESIS
    with db.engine.begin() as c:  # three entries written before the keyed chain existed
        for seq in (1, 2, 3):
            args = (seq, f"2026-12-0{seq}T00:00:00Z", "ops", "os", "person.view", "1001", "確認", "{}")
            h = entry_hash(prev, *args)
            c.execute(text("INSERT INTO audit_entry VALUES (:s, :o, :a, :k, :ac, :at, :p, :d, :prev, :h)"),
                      dict(zip(("s", "o", "a", "k", "ac", "at", "p", "d"), args), prev=prev, h=h))
            prev = h
        c.execute(text("UPDATE audit_head SET last_seq = 3, last_hash = :h"), {"h": prev})
    db.dispose()
    upgrade(settings)
    db = make_database(settings)
    with db.transaction() as s:
        assert s.execute(text("SELECT count(*) FROM audit_mac")).scalar() == 3
        assert s.execute(text("SELECT last_mac FROM audit_head")).scalar()
        record(s, operator, "audit.test")
    result = verify_chain(db, actor=operator)
    assert result.ok and result.entries == 4, result.problems  # three sealed, one new (the check counts before it logs)
    # Another key (a database copied without its key directory) does not verify it.
    other = make_database(load_settings(var_dir=tmp_path / "elsewhere", database_url=f"sqlite:///{tmp_path / 'old.db'}"))
    assert not verify_chain(other, actor=operator).ok
    other.dispose()
    db.dispose()


def test_a_chain_with_entries_is_not_sealed_without_its_key(tmp_path):
    import pytest
    from alembic import command

    from sesshu.migrate import alembic_config

    settings = load_settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(settings, "0018")
    db = make_database(settings)
    with db.engine.begin() as c:
        h = entry_hash(GENESIS, 1, "2026-12-01T00:00:00Z", "ops", "os", "x", None, "", "{}")
        c.execute(text("INSERT INTO audit_entry VALUES (1, '2026-12-01T00:00:00Z', 'ops', 'os', 'x', NULL, '', '{}', "
                       ":g, :h)"), {"g": GENESIS, "h": h})
        c.execute(text("UPDATE audit_head SET last_seq = 1, last_hash = :h"), {"h": h})
    db.dispose()
    with pytest.raises(RuntimeError, match="sesshu db upgrade"):
        command.upgrade(alembic_config(settings), "head")  # plain alembic: no key handed over
