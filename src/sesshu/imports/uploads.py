"""予診票 files uploaded on the web: kept in a private directory, imported in a background thread.

The import itself is `sesshu.ledger.service.import_records` (one transaction per file, the file's
persons judged by the schedule engine inside it, as `sesshu import records` runs it) followed by
`evaluate_pending` for whoever else is queued. The job — who uploaded what, its
state, rows read, the summary — is a `batch_job` row (kind `records_upload`), so the page shows it
after a reload or a restart. Killed mid-import (restart, crash), the file's transaction is rolled
back by the database: the next look at the job finds its server process gone and says so (the ledger
has none of the file's rows; the upload is removed, to be uploaded again). Killed while the schedule
engine ran for the rest of the queue, the file's records are stored and judged and the queue keeps
the persons still to judge: the job is done and the next import or `sesshu record evaluate` continues.

The uploaded file is removed once the import has finished, whatever the outcome; the rejects file
stays in the same private directory for a day and leaves it only as sesshu.imports.rejects says:
codes and reasons without personal data, or the full rows in an encrypted ZIP. Every download is audited.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from sesshu.access import service as access
from sesshu.access.tasks import VACCINATION_TASKS
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.clock import utcnow
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.domain.errors import DomainError, InvalidInput, NotFound
from sesshu.exports import service as exports
from sesshu.imports import rejects as reject_file
from sesshu.jobs.models import BatchJob
from sesshu.ledger.models import ImportBatch

KIND = "records_upload"
MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # about a million 予診票 rows
KEEP = timedelta(days=1)
SHOWN_REJECTS = 200
FAILED_MESSAGE = "取込中にエラーが発生したため、このファイルは取り込まれていません（台帳は変更されていません）"
INTERRUPTED_MESSAGE = ("サーバーの停止により取込が中断されました。このファイルの記録は1件も登録されていません"
                       "（台帳は変更されていません）。もう一度ファイルを取り込んでください")
EVALUATION_INTERRUPTED = ("記録は登録済みです。サーバーの停止によりスケジュール判定が中断されたため、"
                          "残りの方の判定は次の取込または sesshu record evaluate で続きから行われます")
STATUS_LABELS = {"queued": "待機中", "importing": "取込中", "evaluating": "スケジュール判定中", "done": "完了",
                 "failed": "失敗"}
FINISHED = ("done", "failed")


@lru_cache(maxsize=1)
def _this_process() -> dict:
    """Who runs an import: this server process (a token, not only the pid, which a restart may reuse)."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "token": secrets.token_hex(8)}


def _process_gone(owner: dict) -> bool:
    me = _this_process()
    if owner.get("token") == me["token"] or owner.get("host") != me["host"]:
        return False  # ours, or another server's, whose liveness we cannot see
    if owner.get("pid") == me["pid"]:
        return True  # same pid, other token: this process replaced the one that ran it
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, ValueError, TypeError):
        return False
    return False


@dataclass
class ImportJob:
    id: str
    user_id: int | None
    file_name: str
    size: int
    sha256: str
    total_rows: int
    status: str = "queued"
    read: int = 0
    summary: dict = field(default_factory=dict)
    evaluated_persons: int = 0
    verdicts: dict = field(default_factory=dict)
    message: str = ""
    created_at: object = None
    finished_at: object = None

    @classmethod
    def of(cls, row: BatchJob) -> ImportJob:
        params, result = json.loads(row.params), json.loads(row.result or "{}")
        return cls(id=row.job_key, user_id=params["user_id"], file_name=params["file"], size=params["bytes"],
                   sha256=params["sha256"], total_rows=row.total_units, status=row.status, read=row.done_units,
                   summary=result.get("summary", {}), evaluated_persons=result.get("evaluated_persons", 0),
                   verdicts=result.get("verdicts", {}),
                   message=result.get("message", ""), created_at=row.created_at, finished_at=row.finished_at)

    def as_dict(self) -> dict:
        percent = 100 if self.status == "done" else (
            min(99, int(self.read * 100 / self.total_rows)) if self.total_rows else 0)
        return {"id": self.id, "status": self.status, "status_label": STATUS_LABELS[self.status],
                "file_name": self.file_name, "total_rows": self.total_rows, "read": self.read, "percent": percent,
                "summary": self.summary, "evaluated_persons": self.evaluated_persons,
                "verdicts": self.verdicts, "message": self.message,
                "finished": self.status in FINISHED}


def upload_dir(settings: Settings) -> Path:
    d = Path(settings.var_dir) / "uploads"
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    return d


def safe_name(name: str) -> str:
    base = re.split(r"[\\/]", name or "")[-1].strip().lstrip(".")
    base = re.sub(r"[\x00-\x1f<>:\"|?*]", "_", base)[:100]
    return base or "upload.csv"


def _update(db: Database, job_id: str, **values) -> None:
    """One job's state, in its own transaction (the import's own transaction is still open)."""
    result = values.pop("result", None)
    with db.transaction() as s:
        row = s.execute(select(BatchJob).where(BatchJob.kind == KIND, BatchJob.job_key == job_id)
                        .with_for_update()).scalar_one()
        for k, v in values.items():
            setattr(row, k, v)
        if result is not None:
            row.result = json.dumps({**json.loads(row.result or "{}"), **result}, ensure_ascii=False)
        row.updated_at = utcnow()
        if row.status in FINISHED and row.finished_at is None:
            row.finished_at = row.updated_at


class ImportJobs:
    """Web imports; their state is in batch_job, the work in a thread of this server process."""

    def start(self, db: Database, settings: Settings, *, actor: Actor, file_name: str, stream: BinaryIO,
              run_in_thread: bool = True) -> ImportJob:
        self._clean(db, settings)
        job_id = secrets.token_urlsafe(12)
        work = upload_dir(settings) / job_id
        work.mkdir(mode=0o700)
        path = work / safe_name(file_name)
        digest, size, lines = hashlib.sha256(), 0, 0
        try:
            with open(path, "wb") as out:
                while block := stream.read(1024 * 1024):
                    size += len(block)
                    if size > MAX_UPLOAD_BYTES:
                        raise InvalidInput(f"ファイルが大きすぎます（{MAX_UPLOAD_BYTES // (1024 * 1024)}MBまで）。"
                                           "分割して取り込んでください")
                    digest.update(block)
                    lines += block.count(b"\n")
                    out.write(block)
            if size == 0:
                raise InvalidInput("ファイルが空です。予診票のCSVファイルを選んでください")
            now = utcnow()
            params = {"file": path.name, "bytes": size, "sha256": digest.hexdigest(), "user_id": actor.user_id,
                      "server": _this_process()}
            with db.transaction() as s:
                # Refused at the door (403, on record) rather than as a failed job: no vaccination 事務.
                access.scoped(s, actor, tasks=VACCINATION_TASKS)
                s.add(BatchJob(kind=KIND, job_key=job_id, params=json.dumps(params, ensure_ascii=False),
                               status="queued", chunk_size=settings.import_chunk_rows,
                               total_units=max(lines - 1, 1), done_units=0, created_by=actor.label,
                               created_at=now, updated_at=now, result=""))
                audit.record(s, actor, "records.upload", purpose="予診票ファイルの受付（画面からの取込）",
                             detail={"job": job_id, "file": path.name, "bytes": size, "sha256": params["sha256"]})
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        if run_in_thread:
            threading.Thread(target=self._run, args=(db, settings, actor, job_id, path), daemon=True,
                             name=f"import-{job_id}").start()
        else:
            self._run(db, settings, actor, job_id, path)
        return self.get(db, job_id, actor)

    def _run(self, db: Database, settings: Settings, actor: Actor, job_id: str, path: Path) -> None:
        from sesshu.ledger.listing import batch_verdicts
        from sesshu.ledger.service import evaluate_pending, import_records

        # SQLite has one writer: while the file's transaction is open nothing else can be written, so
        # progress is stored only between the steps there; PostgreSQL gets it after every chunk.
        progress = None if db.is_sqlite else (lambda n: _update(db, job_id, done_units=n))
        try:
            _update(db, job_id, status="importing")
            summary = import_records(db, settings, path=path, actor=actor, rejects_path=path.parent / "rejects.csv",
                                     progress=progress, evaluate=True)
            _update(db, job_id, status="evaluating", done_units=summary.read, result={"summary": summary.as_dict()})
            evaluated = summary.evaluated + evaluate_pending(db, actor=actor).persons
            with db.transaction() as s:  # counts only: what the engine made of the stored rows
                verdicts = batch_verdicts(s, summary.batch_id).as_dict()
            _update(db, job_id, status="done", result={"evaluated_persons": evaluated, "verdicts": verdicts})
        except DomainError as e:
            _update(db, job_id, status="failed", result={"message": e.message})
        except Exception:  # noqa: BLE001 — the page must say so; the server log has the traceback
            _update(db, job_id, status="failed", result={"message": FAILED_MESSAGE})
            raise
        finally:
            path.unlink(missing_ok=True)  # the upload never outlives its import

    def _recover(self, db: Database, settings: Settings, row: BatchJob) -> None:
        """A job left unfinished by a server process that is gone (see the module docstring)."""
        if row.status in FINISHED or not _process_gone(json.loads(row.params).get("server", {})):
            return
        if row.status == "evaluating":
            _update(db, row.job_key, status="done", result={"message": EVALUATION_INTERRUPTED})
        else:
            _update(db, row.job_key, status="failed", result={"message": INTERRUPTED_MESSAGE})
            # The upload, and the rejects the rolled-back import had begun to write.
            shutil.rmtree(upload_dir(settings) / row.job_key, ignore_errors=True)

    def _row(self, db: Database, job_id: str, actor: Actor) -> BatchJob:
        with db.transaction() as s:
            row = s.execute(select(BatchJob).where(BatchJob.kind == KIND, BatchJob.job_key == job_id)).scalar_one_or_none()
        if (row is None or json.loads(row.params)["user_id"] != actor.user_id
                or (row.finished_at is not None and row.finished_at < utcnow() - KEEP)):
            raise NotFound("指定の取込はありません（1日以上前の取込は、下の「最近の取込」で件数だけを確認できます）")
        return row

    def get(self, db: Database, job_id: str, actor: Actor, settings: Settings | None = None) -> ImportJob:
        row = self._row(db, job_id, actor)
        if settings is not None and row.status not in FINISHED:
            self._recover(db, settings, row)
            row = self._row(db, job_id, actor)
        return ImportJob.of(row)

    def mine(self, db: Database, settings: Settings, actor: Actor) -> list[ImportJob]:
        """The uploader's jobs of the last day, newest first."""
        with db.transaction() as s:
            rows = list(s.execute(select(BatchJob).where(BatchJob.kind == KIND, BatchJob.created_by == actor.label,
                                                         BatchJob.created_at >= utcnow() - KEEP)
                                  .order_by(BatchJob.id.desc()).limit(20)).scalars())
        jobs = []
        for row in rows:
            if json.loads(row.params)["user_id"] != actor.user_id:
                continue
            jobs.append(self.get(db, row.job_key, actor, settings) if row.status not in FINISHED else ImportJob.of(row))
        return jobs

    def _rejects_path(self, db: Database, settings: Settings, job_id: str, actor: Actor) -> tuple[ImportJob, Path]:
        job = self.get(db, job_id, actor, settings)
        path = upload_dir(settings) / job_id / "rejects.csv"
        if job.status != "done" or not path.exists():
            raise NotFound("取り込めなかった行のファイルはありません")
        return job, path

    def shown_rejects(self, db: Database, settings: Settings, job_id: str, actor: Actor) -> list[reject_file.Reject]:
        """The first refused rows for the page: line, 区分, code and reason — no personal data."""
        try:
            _job, path = self._rejects_path(db, settings, job_id, actor)
        except NotFound:
            return []
        return reject_file.read_rejects(path, limit=SHOWN_REJECTS)

    def rejects(self, db: Database, settings: Settings, job_id: str, actor: Actor) -> tuple[str, bytes]:
        """The rejects without personal data (line, 区分, reason, code), for the uploader; on record."""
        job, path = self._rejects_path(db, settings, job_id, actor)
        rows = reject_file.read_rejects(path)
        content = reject_file.reasons_csv(rows)
        with db.transaction() as s:
            audit.record(s, actor, "records.rejects_download", purpose="取り込めなかった予診票の確認",
                         detail={"job": job.id, "batch_id": job.summary.get("batch_id"), "rows": len(rows),
                                 "personal_data": False, "sha256": hashlib.sha256(content).hexdigest()})
        return f"{Path(job.file_name).stem}_取込エラー.csv", content

    def export_rejects(self, db: Database, settings: Settings, job_id: str, actor: Actor, *, purpose: str,
                       password: str, password_confirmation: str) -> exports.ExportedFile:
        """The full refused rows as an AES-256 ZIP (sesshu.exports), for an uploader who may export."""
        exports.prepare(actor, purpose=purpose, password=password, confirmation=password_confirmation)
        job, path = self._rejects_path(db, settings, job_id, actor)
        text, rows = reject_file.full_rows_csv(path)
        with db.transaction() as s:
            return exports.export_csv(s, actor, action="records.rejects_export", csv_text=text, rows=rows,
                                      purpose=purpose, password=password,
                                      stem=f"{Path(job.file_name).stem}_取込エラー",
                                      detail={"job": job.id, "batch_id": job.summary.get("batch_id")})

    def _clean(self, db: Database, settings: Settings) -> None:
        """Remove the rejects of jobs finished more than KEEP ago (the job rows stay, counts only)."""
        with db.transaction() as s:
            old = list(s.execute(select(BatchJob.job_key).where(
                BatchJob.kind == KIND, BatchJob.finished_at < utcnow() - KEEP)).scalars())
        for job_id in old:
            shutil.rmtree(upload_dir(settings) / job_id, ignore_errors=True)


@dataclass
class BatchRow:
    id: int
    kind: str
    file_name: str
    actor: str
    started_at: object
    finished_at: object
    read: int
    accepted: int
    rejected: int
    duplicates: int

    @property
    def error_rate(self) -> float:
        return (self.rejected / self.read) if self.read else 0.0


def recent_batches(db: Database, *, limit: int = 20) -> list[BatchRow]:
    """The last imports (all kinds): counts only, no personal data."""
    with db.transaction() as s:
        rows = s.execute(select(ImportBatch).where(ImportBatch.finished_at.is_not(None))
                         .order_by(ImportBatch.id.desc()).limit(limit)).scalars().all()
        return [BatchRow(b.id, b.kind, b.file_name, b.actor, b.started_at, b.finished_at, b.rows_read,
                         b.rows_accepted, b.rows_rejected, b.rows_duplicate) for b in rows]


