"""予診票 files uploaded on the web: kept in a private directory, imported in a background thread.

The import itself is `sesshu.ledger.service.import_records` (one transaction per file) followed by
`evaluate_pending`, exactly as `sesshu import records` runs them. While it runs, the page polls the
job's progress; afterwards the uploader may download the rejects (line number + Japanese reason).
The uploaded file is removed once the import has finished, whatever the outcome; the rejects file is
kept in the same private directory for a day. The upload and every rejects download are audited.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.domain.errors import DomainError, InvalidInput, NotFound
from sesshu.ledger.models import ImportBatch

MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # about a million 予診票 rows
KEEP_SECONDS = 24 * 60 * 60
FAILED_MESSAGE = "取込中にエラーが発生したため、このファイルは取り込まれていません（台帳は変更されていません）"
STATUS_LABELS = {"queued": "待機中", "importing": "取込中", "evaluating": "スケジュール判定中", "done": "完了",
                 "failed": "失敗"}


@dataclass
class ImportJob:
    id: str
    user_id: int | None
    actor_label: str
    file_name: str
    size: int
    sha256: str
    total_rows: int
    status: str = "queued"
    read: int = 0
    summary: dict = field(default_factory=dict)
    evaluated_persons: int = 0
    message: str = ""
    rejects_path: Path | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None

    def as_dict(self) -> dict:
        percent = 100 if self.status == "done" else (
            min(99, int(self.read * 100 / self.total_rows)) if self.total_rows else 0)
        return {"id": self.id, "status": self.status, "status_label": STATUS_LABELS[self.status],
                "file_name": self.file_name, "total_rows": self.total_rows, "read": self.read, "percent": percent,
                "summary": self.summary, "evaluated_persons": self.evaluated_persons, "message": self.message,
                "finished": self.status in ("done", "failed")}


def upload_dir(settings: Settings) -> Path:
    d = Path(settings.var_dir) / "uploads"
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    return d


def safe_name(name: str) -> str:
    base = re.split(r"[\\/]", name or "")[-1].strip().lstrip(".")
    base = re.sub(r"[\x00-\x1f<>:\"|?*]", "_", base)[:100]
    return base or "upload.csv"


class ImportJobs:
    """The jobs of this server process (the results stay in import_batch and the audit log)."""

    def __init__(self) -> None:
        self._jobs: dict[str, ImportJob] = {}
        self._lock = threading.Lock()

    def start(self, db: Database, settings: Settings, *, actor: Actor, file_name: str, stream: BinaryIO,
              run_in_thread: bool = True) -> ImportJob:
        self._clean(settings)
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
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        job = ImportJob(id=job_id, user_id=actor.user_id, actor_label=actor.label, file_name=path.name, size=size,
                        sha256=digest.hexdigest(), total_rows=max(lines - 1, 1))
        with db.transaction() as s:
            audit.record(s, actor, "records.upload", purpose="予診票ファイルの受付（画面からの取込）",
                         detail={"job": job_id, "file": path.name, "bytes": size, "sha256": job.sha256})
        with self._lock:
            self._jobs[job_id] = job
        if run_in_thread:
            threading.Thread(target=self._run, args=(db, settings, actor, job, path), daemon=True,
                             name=f"import-{job_id}").start()
        else:
            self._run(db, settings, actor, job, path)
        return job

    def _run(self, db: Database, settings: Settings, actor: Actor, job: ImportJob, path: Path) -> None:
        from sesshu.ledger.service import evaluate_pending, import_records

        rejects = path.parent / "rejects.csv"
        try:
            job.status = "importing"
            summary = import_records(db, settings, path=path, actor=actor, rejects_path=rejects,
                                     progress=lambda n: setattr(job, "read", n))
            job.read = summary.read
            job.summary = summary.as_dict()
            job.rejects_path = rejects
            job.status = "evaluating"
            job.evaluated_persons = evaluate_pending(db, actor=actor).persons
            job.status = "done"
        except DomainError as e:
            job.status, job.message = "failed", e.message
        except Exception:  # noqa: BLE001 — the page must say so; the server log has the traceback
            job.status, job.message = "failed", FAILED_MESSAGE
            raise
        finally:
            job.finished = time.time()
            path.unlink(missing_ok=True)  # the upload never outlives its import

    def get(self, job_id: str, actor: Actor) -> ImportJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.user_id != actor.user_id:
            raise NotFound("指定の取込はありません（サーバーの再起動後や、1日以上前の取込は表示できません）")
        return job

    def mine(self, actor: Actor) -> list[ImportJob]:
        with self._lock:
            return sorted((j for j in self._jobs.values() if j.user_id == actor.user_id),
                          key=lambda j: j.created, reverse=True)

    def rejects(self, db: Database, job_id: str, actor: Actor) -> tuple[str, bytes]:
        """The rejects CSV of a finished import, for its uploader; the download is on record."""
        job = self.get(job_id, actor)
        if job.status != "done" or job.rejects_path is None or not job.rejects_path.exists():
            raise NotFound("取り込めなかった行のファイルはありません")
        content = job.rejects_path.read_bytes()
        rows = max(content.count(b"\n") - 1, 0)
        with db.transaction() as s:
            audit.record(s, actor, "records.rejects_download", purpose="取り込めなかった予診票の確認",
                         detail={"job": job.id, "batch_id": job.summary.get("batch_id"), "rows": rows,
                                 "sha256": hashlib.sha256(content).hexdigest()})
        stem = Path(job.file_name).stem
        return f"{stem}_取込エラー.csv", content

    def _clean(self, settings: Settings) -> None:
        """Forget jobs (and remove their rejects) older than KEEP_SECONDS."""
        cutoff = time.time() - KEEP_SECONDS
        with self._lock:
            old = [j for j in self._jobs.values() if j.finished and j.finished < cutoff]
            for j in old:
                del self._jobs[j.id]
        for j in old:
            shutil.rmtree(upload_dir(settings) / j.id, ignore_errors=True)


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


