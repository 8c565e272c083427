"""Run a batch job so that a crash, a kill -9 or a power cut at any moment loses nothing and doubles nothing.

A job is identified by (kind, key). The first run plans it — the ordered list of unit keys (persons,
records, institutions…) is stored with the job, in the transaction that creates it — so a re-run covers
exactly the same units even if the data changed meanwhile. Units are then processed in chunks of
`chunk_size`; each chunk's database work, its chunk row and the job's progress commit together, so a
chunk is either wholly done or not at all. Files a chunk produces (PDFs, bank files) are written only
after its commit, from the committed state, atomically (temporary name, then rename); the chunk is
marked `output_done` afterwards. A run that finds a committed chunk without its output writes the
output again, which gives the same file because it depends only on committed data.

Running the same (kind, key) after it is done changes nothing and returns the stored result;
the same key with other parameters is refused.

`run_job` does it all in the caller's thread (CLI). The web opens the job in the request (`open_job`: the plan
and its audit entries, so the page can show the job at once) and runs it in a background thread
(`continue_job`, sesshu.jobs.background); a server restart continues its running jobs the same way.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.bulk import bulk_insert
from sesshu.clock import utcnow
from sesshu.db import Database
from sesshu.domain.errors import Conflict, InvalidInput, NotFound
from sesshu.jobs.crash import crash_point
from sesshu.jobs.models import BatchJob, BatchJobChunk, BatchJobUnit


@dataclass(frozen=True)
class JobContext:
    """What a definition sees of its job: id, parameters and the acting staff member or operator."""

    job_id: int
    kind: str
    key: str
    params: dict
    actor: Actor
    chunk_size: int


class JobDefinition(Protocol):
    kind: str
    label: str  # Japanese name for the audit log and the job list

    def plan(self, s: Session, ctx: JobContext) -> list[str] | int:
        """The ordered unit keys, computed once when the job is created (same transaction). A plan too
        large to hold in memory writes its (unique) units itself — batch_job_unit rows with seq 0…n-1 of
        ctx.job_id — and returns their count n."""

    def process(self, s: Session, ctx: JobContext, chunk_no: int, units: list[str]) -> None:
        """The database work for one chunk, in the chunk's transaction (never commits)."""

    def write_output(self, s: Session, ctx: JobContext, chunk_no: int, units: list[str]) -> None:
        """Files for a committed chunk, from committed data; must be idempotent and atomic. May do nothing."""

    def finish(self, s: Session, ctx: JobContext) -> dict:
        """After the last chunk: the job's summary (stored and returned), in the closing transaction."""


@dataclass
class JobOutcome:
    job_id: int
    status: str
    total_units: int
    done_units: int
    resumed: bool
    already_done: bool
    result: dict = field(default_factory=dict)


def _canonical(params: dict) -> str:
    return json.dumps(params, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _context(job: BatchJob, actor: Actor) -> JobContext:
    return JobContext(job_id=job.id, kind=job.kind, key=job.job_key, params=json.loads(job.params), actor=actor,
                      chunk_size=job.chunk_size)


def _open(db: Database, definition: JobDefinition, *, actor: Actor, key: str, params: dict,
          chunk_size: int, note_resume: bool = True) -> tuple[JobContext, bool, bool]:
    """(context, resumed, already_done): find the job or create and plan it."""
    canonical = _canonical(params)
    with db.transaction() as s:
        job = s.execute(select(BatchJob).where(BatchJob.kind == definition.kind, BatchJob.job_key == key)
                        .with_for_update()).scalar_one_or_none()
        if job is not None:
            if job.params != canonical:
                raise Conflict(f"同じ処理キー（{key}）で条件の異なる{definition.label}が既にあります")
            ctx = _context(job, actor)
            if job.status == "done":
                return ctx, False, True
            if note_resume:
                _note_resume(s, definition, job, actor)
            return ctx, True, False
        now = utcnow()
        job = BatchJob(kind=definition.kind, job_key=key, params=canonical, status="running", chunk_size=chunk_size,
                       created_by=actor.label, created_at=now, updated_at=now, total_units=0, done_units=0, result="")
        s.add(job)
        s.flush()
        ctx = _context(job, actor)
        units = definition.plan(s, ctx)
        if isinstance(units, int):  # written by the plan itself, streamed
            count = units
        else:
            if len(set(units)) != len(units):
                raise ValueError("a job's unit keys must be unique")
            bulk_insert(s, BatchJobUnit.__table__, [{"seq": i, "unit_key": u} for i, u in enumerate(units)],
                        ("seq", "unit_key"), constants={"job_id": job.id})
            count = len(units)
        job.total_units = count
        audit.record(s, actor, "job.start", purpose=definition.label,
                     detail={"job_id": job.id, "kind": job.kind, "key": key, "params": params, "units": count})
        return ctx, False, False


def _note_resume(s: Session, definition: JobDefinition, job: BatchJob, actor: Actor) -> None:
    audit.record(s, actor, "job.resume", purpose=definition.label,
                 detail={"job_id": job.id, "kind": job.kind, "key": job.job_key, "done_units": job.done_units,
                         "total_units": job.total_units})


def open_job(db: Database, definition: JobDefinition, *, actor: Actor, key: str, params: dict,
             chunk_size: int = 500) -> JobOutcome:
    """Find the job, or create and plan it, without processing anything (`continue_job` does the rest)."""
    if chunk_size < 1:
        raise InvalidInput("一度に処理する件数は1以上にしてください")
    ctx, resumed, already_done = _open(db, definition, actor=actor, key=key, params=params, chunk_size=chunk_size,
                                       note_resume=False)
    return job_outcome(db, ctx.job_id, resumed=resumed, already_done=already_done)


def continue_job(db: Database, definition: JobDefinition, *, actor: Actor, job_id: int, resumed: bool = False,
                 max_chunks: int | None = None) -> JobOutcome:
    """Run an opened job to its end (or `max_chunks` more chunks). `resumed`: it was interrupted (a
    server restart, a failed run) and is taken up again — on record as `job.resume`."""
    with db.transaction() as s:
        job = s.get(BatchJob, job_id)
        if job is None or job.kind != definition.kind:
            raise NotFound(f"処理（ジョブ {job_id}）はありません")
        if job.status == "done":
            return job_outcome(db, job_id, already_done=True)
        if resumed:
            _note_resume(s, definition, job, actor)
        ctx = _context(job, actor)
    return _run(db, definition, ctx, resumed=resumed, max_chunks=max_chunks)


def _chunk_units(s: Session, job_id: int, chunk_no: int, chunk_size: int) -> list[str]:
    return list(s.execute(select(BatchJobUnit.unit_key).where(
        BatchJobUnit.job_id == job_id, BatchJobUnit.seq >= chunk_no * chunk_size,
        BatchJobUnit.seq < (chunk_no + 1) * chunk_size).order_by(BatchJobUnit.seq)).scalars())


def run_job(db: Database, definition: JobDefinition, *, actor: Actor, key: str, params: dict,
            chunk_size: int = 500, max_chunks: int | None = None) -> JobOutcome:
    """Run (or resume, or just report) the job. `max_chunks` stops after that many chunks (tests, and
    operators who want to spread a large run over several windows); the next call continues."""
    if chunk_size < 1:
        raise InvalidInput("一度に処理する件数は1以上にしてください")
    ctx, resumed, already_done = _open(db, definition, actor=actor, key=key, params=params, chunk_size=chunk_size)
    if already_done:
        return job_outcome(db, ctx.job_id, resumed=False, already_done=True)
    return _run(db, definition, ctx, resumed=resumed, max_chunks=max_chunks)


def _run(db: Database, definition: JobDefinition, ctx: JobContext, *, resumed: bool,
         max_chunks: int | None) -> JobOutcome:
    with db.transaction() as s:
        total = s.get(BatchJob, ctx.job_id).total_units
        committed = dict(s.execute(select(BatchJobChunk.chunk_no, BatchJobChunk.output_done)
                                   .where(BatchJobChunk.job_id == ctx.job_id)).all())
    chunks = (total + ctx.chunk_size - 1) // ctx.chunk_size
    # Outputs of chunks committed by an earlier, interrupted run first.
    for chunk_no in sorted(n for n, done in committed.items() if not done):
        _write_output(db, definition, ctx, chunk_no)
    ran = 0
    for chunk_no in range(chunks):
        if chunk_no in committed:
            continue
        if max_chunks is not None and ran >= max_chunks:
            return job_outcome(db, ctx.job_id, resumed=resumed, already_done=False)
        if not _process_chunk(db, definition, ctx, chunk_no):
            continue  # another process did this chunk meanwhile
        crash_point(f"commit:{chunk_no}")
        _write_output(db, definition, ctx, chunk_no)
        ran += 1
    with db.transaction() as s:
        job = s.execute(select(BatchJob).where(BatchJob.id == ctx.job_id).with_for_update()).scalar_one()
        if job.status != "done":
            result = definition.finish(s, ctx)
            job.status, job.finished_at, job.updated_at = "done", utcnow(), utcnow()
            job.result = _canonical(result)
            audit.record(s, ctx.actor, "job.finish", purpose=definition.label,
                         detail={"job_id": job.id, "kind": job.kind, "key": job.job_key, "units": job.total_units,
                                 "result": result})
            crash_point("finish", s)
    return job_outcome(db, ctx.job_id, resumed=resumed, already_done=False)


def _process_chunk(db: Database, definition: JobDefinition, ctx: JobContext, chunk_no: int) -> bool:
    with db.transaction() as s:
        # The job row is the lock: two runners of one job never do the same chunk.
        job = s.execute(select(BatchJob).where(BatchJob.id == ctx.job_id).with_for_update()).scalar_one()
        if s.get(BatchJobChunk, (ctx.job_id, chunk_no)) is not None:
            return False
        units = _chunk_units(s, ctx.job_id, chunk_no, ctx.chunk_size)
        definition.process(s, ctx, chunk_no, units)
        s.add(BatchJobChunk(job_id=ctx.job_id, chunk_no=chunk_no, units=len(units), committed_at=utcnow(),
                            output_done=False))
        job.done_units = job.done_units + len(units)
        job.updated_at = utcnow()
        crash_point(f"chunk:{chunk_no}", s)
    return True


def _write_output(db: Database, definition: JobDefinition, ctx: JobContext, chunk_no: int) -> None:
    with db.transaction() as s:
        units = _chunk_units(s, ctx.job_id, chunk_no, ctx.chunk_size)
        definition.write_output(s, ctx, chunk_no, units)
        crash_point(f"output:{chunk_no}")
        s.execute(update(BatchJobChunk).where(BatchJobChunk.job_id == ctx.job_id, BatchJobChunk.chunk_no == chunk_no)
                  .values(output_done=True))
        s.execute(update(BatchJob).where(BatchJob.id == ctx.job_id).values(updated_at=utcnow()))


def job_outcome(db: Database, job_id: int, *, resumed: bool = False, already_done: bool = False) -> JobOutcome:
    with db.transaction() as s:
        job = s.get(BatchJob, job_id)
        if job is None:
            raise NotFound(f"処理（ジョブ {job_id}）はありません")
        return JobOutcome(job_id=job.id, status=job.status, total_units=job.total_units, done_units=job.done_units,
                          resumed=resumed, already_done=already_done,
                          result=json.loads(job.result) if job.result else {})


def job_status(db: Database, job_id: int) -> dict[str, Any]:
    with db.transaction() as s:
        job = s.get(BatchJob, job_id)
        if job is None:
            raise NotFound(f"処理（ジョブ {job_id}）はありません")
        pending = s.execute(select(func.count()).select_from(BatchJobChunk).where(
            BatchJobChunk.job_id == job_id, BatchJobChunk.output_done.is_(False))).scalar_one()
        return _job_dict(job) | {"outputs_pending": pending}


def _job_dict(job: BatchJob) -> dict[str, Any]:
    return {"id": job.id, "kind": job.kind, "key": job.job_key, "status": job.status, "params": json.loads(job.params),
            "total_units": job.total_units, "done_units": job.done_units, "chunk_size": job.chunk_size, "created_by": job.created_by,
            "created_at": job.created_at.isoformat(), "updated_at": job.updated_at.isoformat(),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
            "result": json.loads(job.result) if job.result else {}}


def list_jobs(db: Database, *, kind: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    with db.transaction() as s:
        q = select(BatchJob).order_by(BatchJob.id.desc()).limit(limit)
        if kind:
            q = q.where(BatchJob.kind == kind)
        return [_job_dict(j) for j in s.execute(q).scalars()]


def units_of(s: Session, job_id: int) -> list[str]:
    """Every planned unit key of a job, in order (for a definition's `finish`, or a report)."""
    return list(s.execute(select(BatchJobUnit.unit_key).where(BatchJobUnit.job_id == job_id)
                          .order_by(BatchJobUnit.seq)).scalars())
