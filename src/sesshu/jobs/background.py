"""Batch jobs the web server runs in background threads, out of the HTTP request.

The job itself is the kill-safe `sesshu.jobs` job: its progress is in the job tables (a reload of the
page reads it there), and a thread that dies with the server loses at most the chunk it was in, which
the server takes up again when it starts (`continue_job(resumed=True)`). This registry only knows which
jobs *this process* is running, so one job never has two threads here, and why a run stopped (the
server log has the traceback). Several server processes may each run the same job: the job row's lock
gives every chunk to one of them.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from sesshu.domain.errors import DomainError

log = logging.getLogger(__name__)
FAILED_MESSAGE = "処理が異常終了しました。システム管理者に連絡してください（完了した分は保存されています）"


class BackgroundJobs:
    def __init__(self) -> None:
        self._threads: dict[int, threading.Thread] = {}
        self._errors: dict[int, str] = {}
        self._lock = threading.Lock()

    def start(self, job_id: int, run: Callable[[], object]) -> bool:
        """Run `run()` in a thread for this job unless one is running already; False if it was."""
        with self._lock:
            current = self._threads.get(job_id)
            if current is not None and current.is_alive():
                return False
            self._errors.pop(job_id, None)
            thread = threading.Thread(target=self._run, args=(job_id, run), daemon=True, name=f"job-{job_id}")
            self._threads[job_id] = thread
            thread.start()
        return True

    def _run(self, job_id: int, run: Callable[[], object]) -> None:
        try:
            run()
        except DomainError as e:
            self._errors[job_id] = e.message
        except Exception:  # noqa: BLE001 — the page says it stopped; the log keeps the traceback
            self._errors[job_id] = FAILED_MESSAGE
            log.exception("background job %s failed", job_id)

    def running(self, job_id: int) -> bool:
        with self._lock:
            thread = self._threads.get(job_id)
            return thread is not None and thread.is_alive()

    def error(self, job_id: int) -> str:
        return self._errors.get(job_id, "")

    def join(self, job_id: int, timeout: float | None = None) -> None:
        """Wait for this job's thread (server shutdown, tests)."""
        with self._lock:
            thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)
