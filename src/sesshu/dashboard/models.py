"""The dashboard's running counts, and indexes behind its other aggregates (on the ledger's tables)."""
from __future__ import annotations

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.ledger.models import VaccinationRecord
from sesshu.orm import Base
from sesshu.registry.models import Person

# Coverage: persons with a record of a vaccine — (vaccine, person) pairs from the index alone.
Index("ix_vaccination_record_vaccine_atena", VaccinationRecord.vaccine_code, VaccinationRecord.atena_no,
      VaccinationRecord.status)
# Coverage: the residents of the birth cohorts, read from the index alone (no person rows).
Index("ix_person_birth_status_atena", Person.birth_date, Person.registry_status, Person.atena_no)


class DashboardCount(Base):
    """Running counts behind the dashboard, kept by database triggers (migration 0016) in the same
    transaction as every write to vaccination_record and person, whatever code path writes.

    Rows are deltas: a trigger appends (key, +n/-n) and never updates a shared row, so concurrent
    imports and entries do not queue on a counter's row lock. The total of a key is the sum of its
    rows; the dashboard folds the rows into one per key now and then (sesshu.dashboard.service).
    Keys: `records:YYYY-MM` (rows created in that month, Japan time), `active` (active records),
    `residents` (persons with registry_status 'resident').
    """

    __tablename__ = "dashboard_count"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(20))
    n: Mapped[int] = mapped_column(Integer)
