"""The linkage answer import (`sesshu linkage sync` at the inquiring city) killed with SIGKILL, then run
again: the city's database equals the one of an uninterrupted import (the harness of
tests/integration/killsafety.py), and while it is dead no half answer is visible.

The world is the three-process one of test_linkage_three_cities.py (hub, city A, city B; SQLite each,
their own keys). B inquires about two residents, A answers both, and the hub holds the two sealed
answers for B. Then the world is stopped and B and the hub are copied: the reference B imports from the
original hub, the twin B from the copy (its own process on another port) — so both see the same answers,
and the twin's killed imports leave them unacknowledged at its hub, as a real kill would.
"""
from __future__ import annotations

import os
import shutil
from datetime import datetime

import pytest
from sqlalchemy import text

from sesshu.approvals import service as approvals
from sesshu.demo.linkage_world import (
    HANAKO_A,
    HANAKO_B,
    PERMITS,
    TARO_A,
    TARO_B,
    World,
    _free_port,
    json_of,
    load_people,
    publish_copies,
)
from sesshu.linkage import service as linkage
from tests.integration import killsafety as ks

# The import's own times; everything else must be equal.
LINKAGE_TIMES = {
    ("linkage_inquiry", "answered_at"): "time the answer was imported",
    ("linkage_nonce", "seen_at"): "time the answer's nonce was recorded",
    ("linkage_exchange", "occurred_at"): "time of the 情報提供等記録 entry",
    ("vaccination_record", "created_at"): "time the former city's dose was stored",
    ("vaccination_record", "updated_at"): "time the former city's dose was stored",
}


def _probe(db) -> None:
    """Each inquiry is wholly answered (status, nonce, records, 情報提供等記録, audit) or not at all."""
    with db.transaction() as s:
        rows = s.execute(text("SELECT id, permit_id, status, records_imported FROM linkage_inquiry")).all()
        for inquiry_id, permit_id, status, imported in rows:
            records = s.execute(text("SELECT count(*) FROM linkage_imported_record WHERE inquiry_id = :i"),
                                {"i": inquiry_id}).scalar_one()
            answered = s.execute(text("SELECT count(*) FROM linkage_exchange WHERE permit_id = :p "
                                      "AND direction = 'inquiry' AND outcome = 'answered'"),
                                 {"p": permit_id}).scalar_one()
            logged = s.execute(text("SELECT count(*) FROM audit_entry WHERE action = 'linkage.answer_import' "
                                    "AND detail LIKE :p"), {"p": f'%"permit_id": "{permit_id}"%'}).scalar_one()
            if status == "answered":
                assert (records, answered, logged) == (imported, 1, 1), (permit_id, records, answered, logged)
            else:
                assert (records, answered, logged) == (0, 0, 0), (permit_id, status, records, answered, logged)
        nonces = s.execute(text("SELECT count(*) FROM linkage_nonce")).scalar_one()
        assert nonces == sum(1 for r in rows if r[2] == "answered")


def _start_hub_copy(world: World, root) -> tuple[World, str]:
    """The hub's folder (its database and configuration) copied and served on a port of its own."""
    twin = World(root)
    shutil.copytree(world.root / "hub", root / "hub")
    twin.start_hub(root / "hub" / "hub.yaml")
    return twin, f"http://127.0.0.1:{twin.hub_port}"


@pytest.fixture
def answered_world(tmp_path, sqlite_template):
    """Two answers for B waiting at the hub; the world stopped."""
    w = World(tmp_path / "world")
    for city in (w.a, w.b):
        city.open(sqlite_template)
    w.start_hub(w.write_hub_config(PERMITS), template=sqlite_template)
    try:
        load_people(w)
        a, b = w.a, w.b
        clerk, checker, boss = (a.add_staff(n, r) for n, r in (("a-clerk", "clerk"), ("a-checker", "clerk"),
                                                                ("a-boss", "supervisor")))
        publish_copies(a, clerk, checker, boss)
        a.run("linkage", "sync")  # publishes the 副本
        b_boss = b.add_staff("b-boss", "supervisor")
        for a_no, b_no in ((HANAKO_A, HANAKO_B), (TARO_A, TARO_B)):
            code = a.run("linkage", "move-out", a_no).stdout.strip()
            b.run("linkage", "move-in", b_no, "--code", code)
            filed = json_of(b.run("linkage", "inquire", b_no, "--to", "112020", "--wait", "0", "--json"))
            # III-6: sent only once B's supervisor approves the content
            approvals.approve(b.db, b.settings, actor=b_boss, approval_id=filed["approval_id"], expected_version=1)
        b.run("linkage", "sync")  # sends the two approved inquiries
        a.run("linkage", "sync")  # answers both from the 副本, automatically
        assert [p.status for p in linkage.list_provisions(a.db, actor=clerk)] == ["sent", "sent"]
    finally:
        w.stop()
    yield w
    w.stop()


@pytest.mark.parametrize("kill_at", ["answer:0", "imported:0", "answer:1", "imported:1", "random"])
def test_linkage_answer_import_killed_then_rerun_equals_an_uninterrupted_import(answered_world, tmp_path, kill_at):
    w = answered_world
    b = w.b
    reference = ks.Twin(settings=b.settings, db=b.db, root=b.root,
                        extra_env={k: v for k, v in b.env().items() if k.startswith("SESSHU_")})
    twin = ks.clone(reference, tmp_path, "sqlite")
    w.start_hub(w.root / "hub" / "hub.yaml")
    twin_world, twin_hub = _start_hub_copy(w, tmp_path / "twin-world")
    try:
        twin.extra_env = reference.extra_env | {"SESSHU_LINKAGE_HUB_URL": twin_hub}
        spec = ks.JobSpec("linkage answer import", ["linkage", "sync"], _probe, also_differ=LINKAGE_TIMES,
                          ids_in_detail={"inquiry_id": "linkage_inquiry"})
        rc, seconds, err = ks.run(reference, spec)
        assert rc == 0, err[-2000:]
        with reference.db.transaction() as s:
            assert s.execute(text("SELECT status, records_imported FROM linkage_inquiry ORDER BY id")).all() == [
                ("answered", 4), ("answered", 1)]
        if kill_at == "random":
            seed = int(os.environ.get("SESSHU_KILL_SEED", datetime.now().microsecond))
            delays = ks.run_killed_randomly(twin, spec, window=seconds, seed=seed)
            print(f"linkage answer import: SESSHU_KILL_SEED={seed}, killed after {delays} s")
        else:
            ks.run_killed_at(twin, spec, kill_at)
        ks.finish(twin, spec)
        # The twin's hub holds nothing more for it: both answers were acknowledged after their import.
        rc, _, err = ks.run(twin, spec)
        assert rc == 0, err[-2000:]
        ks.assert_twins_equal(reference, twin, spec)
        ks.chain_verifies(reference.db)
        ks.chain_verifies(twin.db)
    finally:
        twin_world.stop()
        ks.drop(twin, "sqlite")
