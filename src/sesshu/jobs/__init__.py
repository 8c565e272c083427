"""Resumable batch jobs: work planned once, done in committed chunks, resumed after a crash or kill."""
from sesshu.jobs.runner import (
    JobContext,
    JobDefinition,
    JobOutcome,
    continue_job,
    job_outcome,
    job_status,
    list_jobs,
    open_job,
    run_job,
)

__all__ = ["JobContext", "JobDefinition", "JobOutcome", "continue_job", "job_outcome", "job_status", "list_jobs",
           "open_job", "run_job"]
