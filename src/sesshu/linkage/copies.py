"""Building 副本 from the ledger and reading them back for an answer. Helpers: they never commit."""
from __future__ import annotations

import json
import secrets

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from sesshu.clock import utcnow
from sesshu.ledger.models import Institution, Manufacturer, VaccinationRecord
from sesshu.linkage.models import LinkagePersonCode, ProvisionCopy
from sesshu.linkage.rules import load_rules


# One encoder for every copy (json.dumps with options builds a new one per call).
ITEMS_JSON = json.JSONEncoder(ensure_ascii=False)


def person_code(s: Session, atena_no: str, *, create: bool = True) -> LinkagePersonCode | None:
    """This city's 符号 for the person, created on first need: 128 random bits, nothing derived."""
    row = s.get(LinkagePersonCode, atena_no)
    if row is None and create:
        row = LinkagePersonCode(atena_no=atena_no, fugo=secrets.token_hex(16), manual_only=False, manual_reason="",
                                created_at=utcnow())
        s.add(row)
        s.flush()
    return row


def copy_items(r, names: dict[str, dict[str, str]]) -> dict:
    """The statutory items of one record, and only those (data/linkage.yaml copy_items)."""
    values = {
        "vaccine_code": r.vaccine_code, "term": r.term, "dose_no": r.dose_no, "category": r.category,
        "vaccinated_on": r.vaccinated_on.isoformat(), "lot_no": r.lot_no,
        "manufacturer": names["manufacturer"].get(r.manufacturer_code or "", ""),
        "institution": names["institution"].get(r.institution_code or "", ""),
        "dose_volume_ml": str(r.dose_volume_ml) if r.dose_volume_ml is not None else None,
        "first_product": r.first_product, "dt_kind": r.dt_kind, "screening_result": r.screening_result,
    }
    return {k: values[k] for k in load_rules().copy_items}


def master_names(s: Session) -> dict[str, dict[str, str]]:
    return {"manufacturer": dict(s.execute(select(Manufacturer.code, Manufacturer.name)).all()),
            "institution": dict(s.execute(select(Institution.code, Institution.name)).all())}


def pending_changes(s: Session) -> list[tuple]:
    """(record row, change, manual_only) for every record whose published 副本 is missing or out of
    date: new records, corrected ones (version or 自動応答不可 flag changed) and voided ones (差分).
    Plain rows, not ORM objects: a city's whole ledger is read here."""
    current = {rid: (version, change, manual) for rid, version, change, manual in s.execute(
        select(ProvisionCopy.record_id, ProvisionCopy.record_version, ProvisionCopy.change,
               ProvisionCopy.manual_only).where(ProvisionCopy.current))}
    flags = dict(s.execute(select(LinkagePersonCode.atena_no, LinkagePersonCode.manual_only)).all())
    out = []
    table = VaccinationRecord.__table__
    for r in s.execute(select(table).order_by(table.c.atena_no, table.c.id)):
        c = current.get(r.id)
        manual = bool(flags.get(r.atena_no, False))
        if r.status == "active":
            if c is None:
                out.append((r, "new", manual))
            elif c[1] == "void" or c[0] != r.version or bool(c[2]) != manual:
                out.append((r, "correct", manual))
        elif c is not None and c[1] != "void":
            out.append((r, "void", manual))
    return out


def ensure_codes(s: Session, atena_nos: list[str]) -> None:
    """Give every one of these persons a 符号 (in bulk; existing ones are kept)."""
    have = set()
    for i in range(0, len(atena_nos), 500):
        have.update(s.execute(select(LinkagePersonCode.atena_no).where(
            LinkagePersonCode.atena_no.in_(atena_nos[i:i + 500]))).scalars())
    now = utcnow()
    rows = [{"atena_no": a, "fugo": secrets.token_hex(16), "manual_only": False, "manual_reason": "", "created_at": now}
            for a in atena_nos if a not in have]
    for i in range(0, len(rows), 1000):
        s.execute(insert(LinkagePersonCode.__table__), rows[i:i + 1000])


_BATCH_ROW = ("record_id", "record_version", "change", "items", "manual_only")


def batch_rows_of(rows: list[dict]) -> list[tuple]:
    """The copies to be written (dicts of provision_copy columns), as comparable tuples."""
    return sorted(tuple(r[k] for k in _BATCH_ROW) for r in rows)


def batch_rows(s: Session, batch_id: int) -> list[tuple]:
    """The copies of a stored batch, as batch_rows_of gives them."""
    t = ProvisionCopy.__table__
    return sorted(tuple(r) for r in s.execute(select(*(t.c[k] for k in _BATCH_ROW)).where(t.c.batch_id == batch_id)))


def current_copies(s: Session, atena_no: str) -> list[ProvisionCopy]:
    return list(s.execute(select(ProvisionCopy).where(ProvisionCopy.atena_no == atena_no, ProvisionCopy.current,
                                                      ProvisionCopy.change != "void")
                          .order_by(ProvisionCopy.record_id)).scalars())


def items_of(c: ProvisionCopy) -> dict:
    return json.loads(c.items)
