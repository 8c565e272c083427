"""Named crash points for the kill -9 tests of every batch job.

`SESSHU_KILL_AT` names one point, e.g. `chunk:2` (inside chunk 2's transaction, its work sent to the
database but not committed), `commit:2` (chunk 2 committed, its files not yet written) or `finish`
(inside the closing transaction). When a batch passes the named point the process sends itself
SIGKILL: no handler, no `finally`, no rollback by Python — what a power cut or the OOM killer does.
Unset (always, in production) it costs one dictionary look-up per chunk.

The variable is read when the point is passed, never at import time.
"""
from __future__ import annotations

import os
import signal

ENV = "SESSHU_KILL_AT"


def crash_point(name: str, session=None) -> None:
    """Die here if SESSHU_KILL_AT names this point. `session`: flushed first, so the chunk's rows
    are in the database (uncommitted) when the process dies."""
    if os.environ.get(ENV) != name:
        return
    if session is not None:
        session.flush()
    os.kill(os.getpid(), signal.SIGKILL)
