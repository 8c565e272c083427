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
        print(f"{spec.name}: random kills, SESSHU_KILL_SEED={kill_at.split(':')[1]}, window {seconds:.2f} s")
        delays = ks.run_killed_randomly(b, spec, window=seconds, seed=int(kill_at.split(":")[1]))
        print(f"{spec.name}: killed after {delays} s")
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


# --- the retention purge (sesshu retention purge) ------------------------------------------------------------

PURGE_CHUNK = 2


def _seed_purge(db, settings) -> int:
    from sesshu.approvals import service as approvals
    from tests.integration.test_retention_purge import AGED, _more_deaths

    bosses = []
    for login in ("boss-a", "boss-b"):
        create_user(db, settings, actor=SEED_ACTOR, login_id=login, display_name=login, role="supervisor",
                    password="kumagaya-Sesshu-2026", tasks=(("yobo_sesshu", "健康づくり課"),))
        with db.transaction() as s:
            uid = s.execute(text("SELECT id FROM staff_user WHERE login_id = :l"), {"l": login}).scalar_one()
        bosses.append(Actor(login_id=login, kind="user", role="supervisor", user_id=uid))
    load_demo(db, settings, actor=SEED_ACTOR, residents=120, seed=3, as_of=AGED)
    _more_deaths(db, 6)
    req = approvals.request_approval(db, settings, actor=bosses[0], kind="retention_purge",
                                     raw={"category": "ledger_deceased"}, reason="保存期間の経過による定期消去")
    approvals.approve(db, settings, actor=bosses[1], approval_id=req.id, expected_version=req.version)
    return req.id


def _purge_probe(db):
    for job in ks.check_job_bookkeeping(db, "retention_purge"):
        with db.transaction() as s:
            plan = s.execute(text("SELECT unit_key FROM batch_job_unit WHERE job_id = :j ORDER BY seq"),
                             {"j": job["id"]}).scalars().all()
            present = set(s.execute(select(Person.atena_no).where(Person.atena_no.in_(plan))).scalars())
        # Exactly the persons of the committed chunks are gone, every one of them wholly.
        assert [a for a in plan if a not in present] == plan[:job["done"]], (job, present)


@pytest.mark.parametrize("kill_at", ["chunk:1", "commit:1", "finish", "random"])
def test_retention_purge_killed_then_rerun_equals_an_uninterrupted_run(settings, db, tmp_path, backend, request,
                                                                      kill_at):
    approval = _seed_purge(db, settings)
    spec = ks.JobSpec("retention purge", ["retention", "purge", "--approval", str(approval),
                                          "--chunk-size", str(PURGE_CHUNK)], _purge_probe)
    _scenario(settings, db, tmp_path, backend, request, spec, _random_seed() if kill_at == "random" else kill_at)


# --- 副本 preparation (sesshu linkage prepare): one transaction ------------------------------------------------

def _linkage_probe(db):
    with db.transaction() as s:
        batches = s.execute(text("SELECT id, copies FROM provision_batch")).all()
        copies = s.execute(text("SELECT count(*) FROM provision_copy")).scalar_one()
        codes = s.execute(text("SELECT count(*) FROM linkage_person_code")).scalar_one()
        audited = s.execute(text("SELECT count(*) FROM audit_entry WHERE action = 'linkage.prepare'")).scalar_one()
    if not batches:  # nothing of the batch, not even its 符号
        assert (copies, codes, audited) == (0, 0, 0)
    else:
        assert len(batches) == 1 and batches[0][1] == copies > 0 and codes > 0 and audited == 1


@pytest.mark.parametrize("kill_at", ["chunk:0", "commit:0", "random"])
def test_linkage_copy_preparation_killed_then_rerun_equals_an_uninterrupted_run(settings, db, tmp_path, backend,
                                                                               request, kill_at):
    load_demo(db, settings, actor=SEED_ACTOR, residents=60, seed=11, as_of=AS_OF)
    spec = ks.JobSpec("linkage prepare", ["linkage", "prepare"], _linkage_probe,
                      ids_in_detail={"batch_id": "provision_batch"})
    _scenario(settings, db, tmp_path, backend, request, spec, _random_seed() if kill_at == "random" else kill_at)


# --- 個別通知 (sesshu notices) ----------------------------------------------------------------------------------

def _notices_probe(db):
    for job in ks.check_job_bookkeeping(db, "notices"):
        with db.transaction() as s:
            tickets = s.execute(text("SELECT count(*) FROM ticket WHERE job_id = :j"), {"j": job["id"]}).scalar_one()
        assert tickets == job["done"], (job, tickets)  # one ticket per person of the committed chunks


# The PDFs are compared too, by their SHA-256 in the job result and the audit detail: the same notices
# give the same bytes in any process (reportlab invariant=1, and the OCR-B font converted without a
# timestamp — tests/unit/test_printing.py).


@pytest.mark.parametrize("kill_at", ["chunk:1", "commit:1", "output:1", "random"])
def test_notices_killed_then_rerun_equals_an_uninterrupted_run(settings, db, tmp_path, backend, request, kill_at):
    from tests.integration.notices_city import AS_OF as NOTICE_DAY, load_city

    load_city(db, settings, tmp_path)
    spec = ks.JobSpec("notices", ["notices", "--vaccine", "MR", "--as-of", NOTICE_DAY.isoformat(), "--within", "30",
                                  "--out", "{out}", "--per-file", "3"], _notices_probe)
    _scenario(settings, db, tmp_path, backend, request, spec, _random_seed() if kill_at == "random" else kill_at)


# --- the monthly billing run (sesshu billing run) ------------------------------------------------------------

def _billing_probe(db):
    for job in ks.check_job_bookkeeping(db, "billing"):
        with db.transaction() as s:
            units = s.execute(text("SELECT unit_key FROM batch_job_unit WHERE job_id = :j ORDER BY seq"),
                              {"j": job["id"]}).scalars().all()
            run = s.execute(text("SELECT month FROM billing_run WHERE job_id = :j"), {"j": job["id"]}).scalar_one()
            touched = set(s.execute(text("SELECT institution_code FROM payment_line WHERE month = :m UNION "
                                         "SELECT institution_code FROM billing_return WHERE month = :m"),
                                    {"m": run}).scalars())
        committed = {("" if u == "-" else u) for u in units[:job["done"]]}
        if job["status"] == "running":
            assert touched <= committed, (job, touched, committed)  # nothing of an uncommitted chunk


def _billing_finished(db) -> bool:
    """The command is through: November's latest run is done and its files are written and logged
    (`billing_run.files_at`, set with the `billing.files` entry). A kill after that commit leaves
    nothing to resume — `billing run` again would rightly be a new run."""
    with db.transaction() as s:
        row = s.execute(text("SELECT j.status, r.files_at FROM billing_run r JOIN batch_job j ON j.id = r.job_id "
                             "WHERE r.month = '2026-11' ORDER BY r.run_no DESC LIMIT 1")).first()
    return row is not None and row[0] == "done" and row[1] is not None


@pytest.mark.parametrize("kill_at", ["chunk:0", "chunk:1", "commit:1", "finish", "files", "random"])
def test_billing_run_killed_then_rerun_equals_an_uninterrupted_run(settings, db, tmp_path, backend, request, kill_at):
    """`finish`: the run is done, its files not yet written — the re-run keeps the run (no run 2) and
    writes them; `files`: killed while writing them (files on disk, their log not committed)."""
    from tests.integration.billing.city import NOV, TRANSFER
    from tests.integration.billing.test_monthly_run import prepare_november

    prepare_november(db, settings, tmp_path)
    spec = ks.JobSpec("billing run", ["billing", "run", "--month", NOV, "--transfer-date", TRANSFER.isoformat(),
                                      "--out", "{out}", "--chunk-size", "1"], _billing_probe,
                      finished=_billing_finished)
    _scenario(settings, db, tmp_path, backend, request, spec, _random_seed() if kill_at == "random" else kill_at)


# --- the harness itself ------------------------------------------------------------------------------------

def test_the_harness_sees_a_killed_run_that_was_not_resumed(settings, db, tmp_path, backend, request):
    """Without the re-run the twin must differ: the comparison is not blind."""
    spec = _evaluation_spec(_seed_evaluation(db, settings))
    a, b = _twins(settings, db, tmp_path, backend, request)
    assert ks.run(a, spec)[0] == 0
    ks.run_killed_at(b, spec, "chunk:2")
    a.db.dispose()
    b.db.dispose()
    problems = ks.differences(ks.state(a, spec), ks.state(b, spec))
    assert any(p.startswith("evaluation_queue:") for p in problems), problems
    assert any(p.startswith("vaccination_record:") for p in problems), problems
