"""Sample files in the formats sesshu imports: the registry feed (住基 CSV) and clinics' 予診票 CSV.

Writers stream: they take any iterable (a list, a generator, rows straight from a query) and keep
only one row in memory, so a 1,000,000-row CP932 file costs no more memory than a small one.
Items are mappings or objects with the column names of ``person`` / ``vaccination_record``
(persons may carry ``my_number`` in clear; without it the 個人番号 column stays empty).
"""
from __future__ import annotations

import csv
from collections.abc import Mapping
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator

from sesshu.demo.generator import CityGenerator, DemoMasters
from sesshu.ledger.reference import CATEGORIES, SCREENING_RESULTS
from sesshu.ledger.rows import RECORD_HEADERS
from sesshu.registry.models import REGISTRY_STATUSES, SEXES
from sesshu.registry.rows import REGISTRY_HEADERS

ENCODINGS = {"cp932": "cp932", "utf-8": "utf-8", "utf-8-sig": "utf-8-sig"}

_REGISTRY_FIELDS = (
    "atena_no", "my_number", "name", "name_kana", "sex", "birth_date", "postal_code", "address", "phone",
    "household_no", "relationship", "householder_name", "registry_status", "change_reason", "changed_on",
)
_RECORD_FIELDS = (
    "atena_no", "vaccine_code", "term", "dose_no", "category", "vaccinated_on", "vaccination_time", "screening_result",
    "institution_code", "doctor_code", "screening_institution_code", "screening_doctor_code", "venue_code",
    "manufacturer_code", "lot_no", "dose_volume_ml", "billing_month", "first_product", "dt_kind",
    "former_municipality", "ticket_no", "remarks", "underlying",
)
assert len(_REGISTRY_FIELDS) == len(REGISTRY_HEADERS) and len(_RECORD_FIELDS) == len(RECORD_HEADERS)


def _get(item, name: str):
    if isinstance(item, Mapping):
        return item.get(name)
    return getattr(item, name, None)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.strftime("%Y/%m/%d")
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def _open(path: Path, encoding: str):
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}")
    # Windows line ends, as the registry system and clinics' software write them.
    return open(path, "w", encoding=ENCODINGS[encoding], newline="")


def write_registry_csv(path: Path, persons: Iterable, encoding: str = "cp932") -> int:
    """住基 CSV with REGISTRY_HEADERS; 性別 and 住民区分 in Japanese. Returns the rows written."""
    n = 0
    with _open(path, encoding) as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(REGISTRY_HEADERS)
        for p in persons:
            row = [_text(_get(p, k)) for k in _REGISTRY_FIELDS]
            row[4] = SEXES.get(row[4], row[4])
            row[12] = REGISTRY_STATUSES.get(row[12], row[12])
            w.writerow(row)
            n += 1
    return n


def write_records_csv(path: Path, records: Iterable, encoding: str = "cp932") -> int:
    """予診票 CSV with RECORD_HEADERS; 接種区分 and 予診区分 in Japanese. Returns the rows written."""
    n = 0
    with _open(path, encoding) as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(RECORD_HEADERS)
        for r in records:
            row = [_text(_get(r, k)) for k in _RECORD_FIELDS]
            row[4] = CATEGORIES.get(row[4], row[4])
            row[6] = SCREENING_RESULTS.get(row[6], row[6])
            w.writerow(row)
            n += 1
    return n


def generate_record_rows(persons: Iterable, *, seed: int, as_of: date, masters: DemoMasters,
                         limit: int | None = None) -> Iterator[dict]:
    """予診票 rows for persons already on file, for ``write_records_csv``.

    ``persons`` are mappings or objects with atena_no, birth_date and sex (e.g. a streamed
    ``select(Person.atena_no, Person.birth_date, Person.sex)``); each gets a history drawn from the
    demo schedule with this seed (use a seed other than the load's, or most rows are duplicates of
    the ledger). ``persons`` is walked once, or — when ``limit`` is set and it is a re-iterable
    collection — again and again until ``limit`` rows; later passes repeat a person's vaccines on
    other dates. ``masters`` must be the loaded ones (``generate_masters(load_seed)``).
    """
    city = CityGenerator(seed=seed, as_of=as_of, masters=masters)
    made = 0
    while True:
        produced = False
        for p in persons:
            person = {"atena_no": _get(p, "atena_no"), "birth_date": _get(p, "birth_date"), "sex": _get(p, "sex")}
            for record in city.history_for(person):
                produced = True
                yield record
                made += 1
                if limit is not None and made >= limit:
                    return
        if limit is None or not produced:
            return
