"""Shared pieces of every file import: the batch row and the summary it reports."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.clock import utcnow
from sesshu.imports.csvfile import FileFacts
from sesshu.ledger.models import ImportBatch


@dataclass
class ImportSummary:
    batch_id: int
    file: str
    encoding: str
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    unchanged: int = 0
    pending_approval: int = 0  # rows that became requests for a second person's approval (住登外)
    evaluated: int = 0  # persons the schedule engine judged inside the import (import_records(evaluate=True))
    error_codes_changed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def open_batch(session: Session, *, kind: str, path: Path, facts: FileFacts, actor: Actor) -> ImportBatch:
    batch = ImportBatch(kind=kind, file_name=path.name, file_sha256=facts.sha256, encoding=facts.encoding,
                        actor=actor.label, started_at=utcnow())
    session.add(batch)
    session.flush()
    return batch


def close_batch(batch: ImportBatch, summary: ImportSummary) -> None:
    batch.finished_at = utcnow()
    batch.rows_read = summary.read
    batch.rows_accepted = summary.accepted
    batch.rows_rejected = summary.rejected
    batch.rows_duplicate = summary.duplicates
