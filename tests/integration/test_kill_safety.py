"""kill -9 for every batch job: after the kill and a re-run the database equals the one of an uninterrupted
run, no half batch is ever visible, and both audit chains verify (harness: tests/integration/killsafety.py).

Each job is killed at named crash points (SESSHU_KILL_AT: `chunk:N` inside chunk N's transaction with its
rows flushed, `commit:N` right after chunk N committed, `output:N` after its files, `finish` inside the
closing transaction, `key-created` after a rotation wrote its new key) and, once, at random moments.
"""
from __future__ import annotations

import json
import os
from datetime import date, datetime

import pytest
from sqlalchemy import func, select, text, update

from sesshu.actor import Actor
from sesshu.auth.service import create_user
from sesshu.demo.service import load_demo
from sesshu.keys import key_id
from sesshu.ledger.evaluation import queue_persons
from sesshu.ledger.models import EvaluationQueue, VaccinationRecord
from sesshu.mynumber.rotation import ENCRYPTED_COLUMNS
from sesshu.registry.models import Person
from tests.integration import killsafety as ks

SEED_ACTOR = Actor(login_id="kill-test", kind="os", role="operator")
AS_OF = date(2026, 12, 1)


def _twins(settings, db, tmp_path, backend, request):
    a = ks.Twin(settings=settings, db=db, root=settings.var_dir)
    b = ks.clone(a, tmp_path, backend)
    request.addfinalizer(lambda: ks.drop(b, backend))
    return a, b


def _scenario(settings, db, tmp_path, backend, request, spec: ks.JobSpec, kill_at: str) -> None:
    """The reference runs uninterrupted; the twin is killed (at kill_at, or "random:SEED"), then re-run."""
    a, b = _twins(settings, db, tmp_path, backend, request)
    rc, seconds, err = ks.run(a, spec)
    assert rc == spec.ok, err[-2000:]
    if kill_at.startswith("random:"):
        ks.run_killed_randomly(b, spec, window=seconds, seed=int(kill_at.split(":")[1]))
    else:
        ks.run_killed_at(b, spec, kill_at)
    ks.finish(b, spec)
    ks.assert_twins_equal(a, b, spec)


def _random_seed() -> str:
    return f"random:{int(os.environ.get('SESSHU_KILL_SEED', datetime.now().microsecond))}"


# --- the schedule engine's queue (sesshu record evaluate) ------------------------------------------------

EVAL_BATCH = 4


def _seed_evaluation(db, settings) -> int:
    load_demo(db, settings, actor=SEED_ACTOR, residents=40, seed=5, as_of=AS_OF)
    with db.transaction() as s:  # every record judged again from scratch
        s.execute(update(VaccinationRecord).values(error_code="STALE"))
        persons = list(s.execute(select(VaccinationRecord.atena_no).distinct()).scalars())
        queue_persons(s, persons, datetime(2026, 12, 1, 9, 0))
    return len(persons)


def _evaluation_spec(queued: int) -> ks.JobSpec:
    def probe(db):
        with db.transaction() as s:
            left = s.execute(select(func.count()).select_from(EvaluationQueue)).scalar_one()
            batches = [json.loads(d)["persons"] for d in s.execute(text(
                "SELECT detail FROM audit_entry WHERE action = 'records.evaluate' ORDER BY seq")).scalars()]
            stale_done = s.execute(select(func.count(VaccinationRecord.atena_no.distinct())).where(
                VaccinationRecord.error_code == "STALE",
                VaccinationRecord.atena_no.not_in(select(EvaluationQueue.atena_no)))).scalar_one()
        # Whole batches only: what left the queue is exactly what the committed batches audited.
        assert sum(batches) == queued - left, (batches, left)
        assert all(n == EVAL_BATCH for n in batches[:-1]) and (left == 0 or batches[-1:] in ([], [EVAL_BATCH]))
        assert stale_done == 0  # nobody is off the queue without their records judged

    return ks.JobSpec("evaluation", ["record", "evaluate", "--as-of", AS_OF.isoformat(), "--batch", str(EVAL_BATCH)],
                      probe)


@pytest.mark.parametrize("kill_at", ["chunk:0", "chunk:2", "commit:3", "random"])
def test_evaluation_queue_killed_then_rerun_equals_an_uninterrupted_run(settings, db, tmp_path, backend, request,
                                                                       kill_at):
    queued = _seed_evaluation(db, settings)
    assert queued > 3 * EVAL_BATCH
    _scenario(settings, db, tmp_path, backend, request, _evaluation_spec(queued),
              _random_seed() if kill_at == "random" else kill_at)


# --- data-key rotation (sesshu keys rotate) ----------------------------------------------------------------

ROTATE_BATCH = 5


def _rotation_probe(db):
    """The rows on the new key are a prefix of the rotation's walk (column by column, key order), made of
    whole batches: no batch is half moved."""
    from sesshu.orm import load_all_models

    md = load_all_models()
    walk = []
    with db.transaction() as s:
        for col in ENCRYPTED_COLUMNS:
            t = md.tables[col.table]
            blobs = s.execute(select(t.c[col.column]).where(t.c[col.column].is_not(None))
                              .order_by(t.c[col.key])).scalars().all()
            walk.append([key_id(bytes(b)) for b in blobs])
    newest = max((k for ids in walk for k in ids), default=1)
    flat = [k == newest for ids in walk for k in ids]
    assert flat == sorted(flat, reverse=True), walk  # True…True False…False
    if not all(flat):
        for ids in walk:
            moved = sum(k == newest for k in ids)
            assert moved in (0, len(ids)) or moved % ROTATE_BATCH == 0, walk


def _rotation_audit(entries):
    out, begun = [], set()
    for e in entries:
        d = e["detail"]
        if e["action"] == "keys.rotate" and d.get("phase") in ("start", "resume"):
            # A rotation begins once per key. The first entry says "resume" instead of "start" when the
            # process died between writing the key file and its first entry; later ones record the kill.
            if d["key_id"] in begun:
                continue
            begun.add(d["key_id"])
            d["phase"] = "start"
        if e["action"] == "keys.rotate":
            # What this run moved (the resumed run moved only the rest); the rows themselves are compared.
            d.pop("reencrypted", None)
        out.append(e)
    return out


def _rotation_finished(db) -> bool:
    with db.transaction() as s:
        last = s.execute(text("SELECT detail FROM audit_entry WHERE action = 'keys.rotate' ORDER BY seq DESC LIMIT 1")
                         ).scalar_one_or_none()
    return last is not None and json.loads(last)["phase"] == "done"


def _seed_rotation(db, settings) -> None:
    load_demo(db, settings, actor=SEED_ACTOR, residents=30, seed=7, as_of=AS_OF)
    with db.transaction() as s:
        n = s.execute(select(func.count()).select_from(Person).where(Person.my_number_enc.is_not(None))).scalar_one()
    assert n > 3 * ROTATE_BATCH


@pytest.mark.parametrize("kill_at", ["key-created", "chunk:1", "commit:3", "finish", "random"])
def test_key_rotation_killed_then_rerun_equals_an_uninterrupted_run(settings, db, tmp_path, backend, request, kill_at):
    _seed_rotation(db, settings)
    spec = ks.JobSpec("keys rotate", ["keys", "rotate", "--batch", str(ROTATE_BATCH)], _rotation_probe,
                      audit=_rotation_audit, finished=_rotation_finished)
    _scenario(settings, db, tmp_path, backend, request, spec, _random_seed() if kill_at == "random" else kill_at)
