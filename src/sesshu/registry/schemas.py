"""Shapes of persons as they leave the service (My Number masked unless revealed)."""
from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from sesshu.registry.models import REGISTRY_STATUSES, SEXES


class PersonOut(BaseModel):
    atena_no: str
    name: str
    name_kana: str
    sex: str
    sex_label: str
    birth_date: date
    postal_code: str
    address: str
    phone: str
    household_no: str
    relationship: str
    householder_name: str
    registry_status: str
    registry_status_label: str
    change_reason: str
    changed_on: date | None
    moved_in_on: date | None
    moved_out_on: date | None
    died_on: date | None
    my_number_masked: str
    has_my_number: bool

    @classmethod
    def from_row(cls, p, my_number_masked: str = "") -> "PersonOut":
        return cls(
            atena_no=p.atena_no, name=p.name, name_kana=p.name_kana, sex=p.sex, sex_label=SEXES.get(p.sex, ""),
            birth_date=p.birth_date, postal_code=p.postal_code, address=p.address, phone=p.phone,
            household_no=p.household_no, relationship=p.relationship, householder_name=p.householder_name,
            registry_status=p.registry_status, registry_status_label=REGISTRY_STATUSES.get(p.registry_status, ""),
            change_reason=p.change_reason, changed_on=p.changed_on, moved_in_on=p.moved_in_on,
            moved_out_on=p.moved_out_on, died_on=p.died_on, my_number_masked=my_number_masked,
            has_my_number=p.my_number_enc is not None,
        )
