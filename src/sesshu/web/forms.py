"""Input shapes shared by pages and the JSON API: search conditions and record corrections as text."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated

from fastapi import Query

from sesshu.domain.errors import InvalidInput
from sesshu.domain.wareki import parse_optional_date
from sesshu.ledger.service import CORRECTABLE
from sesshu.ledger.values import parse_field
from sesshu.search.service import SearchCriteria

# The 25 business fields of 別添1 in screen order, with their Japanese labels.
RECORD_FIELDS: tuple[tuple[str, str], ...] = (
    ("vaccinated_on", "接種年月日"),
    ("vaccination_time", "接種時刻"),
    ("vaccine_code", "接種種別"),
    ("term", "期"),
    ("dose_no", "回数"),
    ("category", "接種区分"),
    ("screening_result", "予診区分"),
    ("institution_code", "接種医療機関コード"),
    ("doctor_code", "接種医師コード"),
    ("screening_institution_code", "予診医療機関コード"),
    ("screening_doctor_code", "予診医師コード"),
    ("venue_code", "実施場所コード"),
    ("manufacturer_code", "ワクチン会社"),
    ("lot_no", "Lot No"),
    ("dose_volume_ml", "接種量（mL）"),
    ("billing_month", "請求月"),
    ("first_product", "初回ワクチン区分"),
    ("dt_kind", "二混合区分"),
    ("former_municipality", "合併前市町村"),
    ("ticket_no", "券番号"),
    ("tuberculin_result", "ツベルクリン判定"),
    ("tuberculin_size_v", "ツベルクリン反応 縦（mm）"),
    ("tuberculin_size_h", "ツベルクリン反応 横（mm）"),
    ("tuberculin_state", "ツベルクリン状態"),
    ("error_code", "エラーコード"),
    ("remarks", "備考"),
)
FIELD_LABELS = dict(RECORD_FIELDS)
CORRECTABLE_FIELDS = tuple(name for name, _ in RECORD_FIELDS if name in CORRECTABLE)


@dataclass
class SearchQuery:
    """Search conditions exactly as typed (query string); dates may be 西暦 or 和暦."""

    atena_no: Annotated[str, Query(max_length=15, description="宛名番号（完全一致）")] = ""
    kana: Annotated[str, Query(max_length=100, description="氏名カナ（前方一致）")] = ""
    name: Annotated[str, Query(max_length=100, description="氏名（前方一致）")] = ""
    birth_date: Annotated[str, Query(max_length=20, description="生年月日（西暦・和暦）")] = ""
    birth_from: Annotated[str, Query(max_length=20, description="生年月日（から）")] = ""
    birth_to: Annotated[str, Query(max_length=20, description="生年月日（まで）")] = ""
    address: Annotated[str, Query(max_length=200, description="住所（部分一致）")] = ""
    vaccine: Annotated[str, Query(max_length=20, description="接種種別コード")] = ""
    vaccinated_from: Annotated[str, Query(max_length=20, description="接種日（から）")] = ""
    vaccinated_to: Annotated[str, Query(max_length=20, description="接種日（まで）")] = ""
    institution: Annotated[str, Query(max_length=20, description="接種医療機関コード")] = ""
    registry_status: Annotated[str, Query(max_length=20, description="住民区分（resident 等）")] = ""
    sort: Annotated[str, Query(max_length=20, description="並べ替え（birth_date / -birth_date）")] = ""

    def as_params(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def criteria(self) -> SearchCriteria:
        return SearchCriteria(
            atena_no=self.atena_no, kana=self.kana, name=self.name,
            birth_date=_date(self.birth_date, "生年月日"), birth_from=_date(self.birth_from, "生年月日（から）"),
            birth_to=_date(self.birth_to, "生年月日（まで）"), address=self.address, vaccine=self.vaccine,
            vaccinated_from=_date(self.vaccinated_from, "接種日（から）"),
            vaccinated_to=_date(self.vaccinated_to, "接種日（まで）"),
            institution=self.institution, registry_status=self.registry_status,
        )

    def unsorted_params(self) -> dict[str, str]:
        return {k: v for k, v in self.as_params().items() if k != "sort"}


def _date(raw: str, label: str):
    return parse_optional_date(raw, label)


def parse_changes(raw: dict[str, str]) -> dict:
    """Typed values for a correction given as {field: text}; messages name the field in Japanese."""
    changes = {}
    for name, text in raw.items():
        if name not in CORRECTABLE:
            raise InvalidInput(f"修正できない項目です: {name}")
        try:
            changes[name] = parse_field(name, text)
        except InvalidInput as e:
            raise InvalidInput(e.message.replace(name, FIELD_LABELS[name], 1)) from None
    return changes


def changed_form_fields(form: dict[str, str]) -> dict[str, str]:
    """The correctable fields the clerk actually edited: each input is posted beside its original text."""
    return {name: form[name] for name in CORRECTABLE_FIELDS
            if name in form and form[name] != form.get(f"orig_{name}", "")}


def display_value(record, name: str) -> str:
    """A record field as the text a correction form shows (and parse_field reads back)."""
    value = getattr(record, name)
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def kept(form: dict[str, str], limit: int = 4000) -> dict[str, str]:
    """What the clerk typed, to put back into the form after an error (every field, checkboxes included)."""
    return {k: v[:limit] for k, v in form.items() if k != "csrf_token"}
