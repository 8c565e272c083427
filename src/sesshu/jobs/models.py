"""Batch jobs and their planned units (who/what the job covers), kept so a re-run resumes exactly."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base


class BatchJob(Base):
    __tablename__ = "batch_job"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    # The caller's idempotency key (e.g. "notices:MR:2026-12-01:30"): the same key resumes the same job.
    job_key: Mapped[str] = mapped_column(String(200))
    params: Mapped[str] = mapped_column(Text)  # canonical JSON of the job's parameters
    status: Mapped[str] = mapped_column(String(12))  # running | done
    chunk_size: Mapped[int] = mapped_column(Integer)
    total_units: Mapped[int] = mapped_column(Integer, default=0)
    done_units: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    result: Mapped[str] = mapped_column(Text, default="")  # JSON summary once done


Index("uq_batch_job_kind_key", BatchJob.kind, BatchJob.job_key, unique=True)


class BatchJobUnit(Base):
    """The plan: unit keys in the order they are processed, fixed when the job is created."""

    __tablename__ = "batch_job_unit"

    job_id: Mapped[int] = mapped_column(ForeignKey("batch_job.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    unit_key: Mapped[str] = mapped_column(String(64))


class BatchJobChunk(Base):
    """A chunk whose database work is committed; `output_done` once its files are written."""

    __tablename__ = "batch_job_chunk"

    job_id: Mapped[int] = mapped_column(ForeignKey("batch_job.id"), primary_key=True)
    chunk_no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    units: Mapped[int] = mapped_column(Integer)
    committed_at: Mapped[datetime] = mapped_column(DateTime)
    output_done: Mapped[bool] = mapped_column(Boolean, default=False)
