"""Shapes of vaccination records as they leave the service."""
from __future__ import annotations

from datetime import date, datetime
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
    created_by: str = ""
    created_at: datetime | None = None
    import_batch_id: int | None = None
