"""Shapes of vaccination records as they leave the service."""
from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from pydantic import BaseModel


class RecordOut(BaseModel):
    id: int
    atena_no: str
    vaccine_code: str
    term: str
    dose_no: int | None
    category: str
    vaccinated_on: date
    vaccination_time: time | None = None
    screening_result: str
    institution_code: str | None
    doctor_code: str | None
    screening_institution_code: str | None
    screening_doctor_code: str | None
    venue_code: str | None
    manufacturer_code: str | None
    lot_no: str
    dose_volume_ml: Decimal | None
    billing_month: str
    first_product: str
    dt_kind: str
    former_municipality: str
    ticket_no: str
    tuberculin_result: str
    tuberculin_size_v: int | None
    tuberculin_size_h: int | None
    tuberculin_state: str
    error_code: str
    remarks: str
    status: str
    version: int
    # The lot's product name (ledger lot → product master), when known: the engine needs it where a
    # product has its own rule (高齢者インフルエンザ 高用量: 75歳以上 only).
    product: str | None = None
    created_by: str = ""
    created_at: datetime | None = None
    import_batch_id: int | None = None
