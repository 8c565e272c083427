"""The rule "every write refreshes eligibility", in the one place no write path can skip.

Database triggers (migration 0025) put the 宛名番号 of every person whose records (vaccination_record),
registry facts (person: birth date, sex, registry status), conditions (person_condition) or 妊娠届
(pregnancy_notice) change into eligibility_dirty — whatever wrote them: the ORM, a Core bulk insert,
raw SQL. A rule file activation (rule_set) puts "*". Before every commit of a session built by
``sesshu.db.make_database``, ``settle`` refreshes those persons in the same transaction (one batch,
one evaluation per person per sampled day) and empties the marks. While the table is not built
the triggers mark nothing and the check costs one empty SELECT per commit.
"""
from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

_USED = "eligibility.used_connection"


def _began(session: Session, _transaction, _connection) -> None:
    session.info[_USED] = True


def _before_commit(session: Session) -> None:
    if not session.info.pop(_USED, False):
        return  # the transaction never reached the database: nothing can have changed
    from sesshu.eligibility.refresh import settle

    session.flush()  # the ORM's last changes fire their triggers first
    settle(session)
    session.flush()


def _ended(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_USED, None)


def install(factory: sessionmaker) -> None:
    """Install the refresh on every session the factory makes (sesshu.db.make_database calls this)."""
    event.listen(factory, "after_begin", _began)
    event.listen(factory, "before_commit", _before_commit)
    event.listen(factory, "after_transaction_end", _ended)
