"""Resumable batch jobs: work planned once, done in committed chunks, resumed after a crash or kill."""
from sesshu.jobs.runner import JobContext, JobDefinition, JobOutcome, job_status, list_jobs, run_job

__all__ = ["JobContext", "JobDefinition", "JobOutcome", "job_status", "list_jobs", "run_job"]
