"""The rules the whole system uses: the shipped rule files plus the active uploaded versions.

Every path that judges doses or lists targets (web, CLI, batch jobs, the evaluation queue, targets,
tickets, billing) asks ``rule_book(s)`` once per use case and passes the book down. State lives in
the database (the active rows of rule_set), so several workers agree; each process keeps the
compiled book keyed by the active rows' ids, hashes and dates — one small query per use case, and a
recompile only after an activation changed the set.
"""
from __future__ import annotations

import threading
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.domain.schedule.book import RuleBook, Upload, compile_book
from sesshu.domain.schedule.rules import RuleSet
from sesshu.rulesets.models import RuleSetVersion

_LOCK = threading.Lock()
_BOOKS: dict[tuple, RuleBook] = {}


def active_uploads(s: Session) -> list[Upload]:
    rows = s.execute(select(RuleSetVersion).where(RuleSetVersion.status == "active")
                     .order_by(RuleSetVersion.id)).scalars()
    return [upload_of(r) for r in rows]


def upload_of(r: RuleSetVersion) -> Upload:
    return Upload(id=r.id, kind=r.kind, name=r.name, version=r.version, effective_from=r.effective_from,
                  text=r.yaml_text, sha256=r.sha256)


def rule_book(s: Session) -> RuleBook:
    """The active rules by period (compiled once per active set and process)."""
    R = RuleSetVersion
    key = tuple(s.execute(select(R.id, R.sha256, R.effective_from).where(R.status == "active").order_by(R.id)))
    book = _BOOKS.get(key)
    if book is None:
        book = compile_book(active_uploads(s))
        with _LOCK:
            # Only the current set is worth keeping: an activation made the others stale.
            _BOOKS.clear()
            _BOOKS[key] = book
    return book


def rules_on(s: Session, day: date) -> RuleSet:
    """The rule set in force on ``day`` (for lists of lines, codes and targets)."""
    return rule_book(s).at(day)
