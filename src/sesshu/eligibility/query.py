"""対象者選定 as a range query on the eligibility table.

``open_on`` answers "who is open for ``line`` on as_of, or turns open by ``until``" from the stored
spans — or returns None where the table cannot answer, and the caller runs the full evaluation:
the table is not built, it was built under other rules than ``book`` (a preview of a rule file not
yet active, rules changed without a rebuild), or as_of lies outside the period it was built for.
"""
from __future__ import annotations

from datetime import date
from typing import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sesshu.domain.schedule.book import RuleBook
from sesshu.eligibility.models import EligibilitySpan
from sesshu.eligibility.refresh import book_key, settle, state
from sesshu.registry.models import Person

S = EligibilitySpan
_COLS = (Person.atena_no, Person.name, Person.name_kana, Person.sex, Person.birth_date, Person.postal_code,
         Person.address, Person.household_no, S.status, S.next_dose, S.earliest, S.standard_from, S.standard_until,
         S.legal_until, S.priority_group)


def answers(s: Session, book: RuleBook, as_of: date) -> bool:
    """Whether the table answers for ``book`` on ``as_of`` (after this transaction's own writes are settled)."""
    st = state(s)
    key = book_key(book)
    if st is None or st.book_key != key or not st.horizon_from <= as_of <= st.horizon_to:
        return False
    settle(s)
    st = state(s)
    return st is not None and st.book_key == key


def open_on(s: Session, book: RuleBook, line: str, as_of: date, until: date,
            statuses: Sequence[str]) -> list | None:
    """Rows (person columns, then the span's answer) of the persons of ``statuses`` for whom ``line``
    is eligible on as_of or not yet but open by ``until``, in the targets' order (earliest, 宛名番号);
    None when the table cannot answer."""
    if not answers(s, book, as_of):
        return None
    conn = s.connection()
    # the order of ledger.targets (earliest, then 宛名番号 compared as Python compares str: byte order)
    atena = S.atena_no.collate("C") if conn.dialect.name == "postgresql" else S.atena_no
    # Core rows fetched at once (not ORM-enabled, not row by row): a city-wide line is 10^5 rows
    return conn.execute(select(*_COLS).join(Person, Person.atena_no == S.atena_no)
                        .where(S.line == line, S.opens_on <= until, S.valid_from <= as_of, S.valid_to >= as_of,
                               Person.registry_status.in_(list(statuses)))
                        .order_by(func.coalesce(S.earliest, as_of), atena)).all()
