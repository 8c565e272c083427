"""Indexes behind the dashboard's aggregates (the tables belong to the ledger)."""
from __future__ import annotations

from sqlalchemy import Index

from sesshu.ledger.models import VaccinationRecord

# Records entered per month: a range over created_at, answered from the index alone.
Index("ix_vaccination_record_created_at", VaccinationRecord.created_at)
# Coverage: persons with a record of a vaccine — (vaccine, person) pairs from the index alone.
Index("ix_vaccination_record_vaccine_atena", VaccinationRecord.vaccine_code, VaccinationRecord.atena_no,
      VaccinationRecord.status)
