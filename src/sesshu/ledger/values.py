"""Typed values for a correction entered as text (CLI --set, web form)."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sesshu.domain.errors import InvalidInput
from sesshu.domain.text import clean
from sesshu.domain.wareki import DateParseError, parse_date, parse_month, parse_time
from sesshu.ledger.models import VaccinationRecord
from sesshu.ledger.rows import CATEGORY_INPUT, SCREENING_INPUT, VERBATIM_FIELDS

# The same bounds as the import (ledger/rows.py): a correction may not store what an import would refuse.
_INT_FIELDS = {"dose_no": (1, 20), "tuberculin_size_v": (0, 999), "tuberculin_size_h": (0, 999)}
MAX_VOLUME_ML = Decimal("10")
REMARKS_LIMIT = 1000
_CODE_FIELDS = {"institution_code", "doctor_code", "screening_institution_code", "screening_doctor_code",
                "venue_code", "manufacturer_code"}


def parse_field(name: str, raw: str):
    value = _parse(name, raw)
    if isinstance(value, str):
        limit = getattr(VaccinationRecord.__table__.c[name].type, "length", None) or REMARKS_LIMIT
        if len(value) > limit:
            raise InvalidInput(f"{name} は{limit}文字以内で指定してください")
    return value


def _parse(name: str, raw: str):
    if name in VERBATIM_FIELDS:
        return (raw or "").strip()
    text = clean(raw)
    try:
        if name == "vaccinated_on":
            return parse_date(text)
        if name == "vaccination_time":
            return parse_time(text) if text else None
        if name == "billing_month":
            return parse_month(text) if text else ""
    except DateParseError as e:
        raise InvalidInput(f"{name}: {e}") from None
    if name in _INT_FIELDS:
        if not text:
            return None
        lo, hi = _INT_FIELDS[name]
        # ASCII only: "²" and other scripts' digits pass str.isdigit() but not int().
        if not (text.isascii() and text.isdigit()) or not lo <= int(text) <= hi:
            raise InvalidInput(f"{name} は{lo}〜{hi}の数字で指定してください: {raw[:20]}")
        return int(text)
    if name == "dose_volume_ml":
        if not text:
            return None
        try:
            volume = Decimal(text.lower().removesuffix("ml"))
        except InvalidOperation:
            raise InvalidInput(f"接種量は数値（mL）で指定してください: {raw[:20]}") from None
        if not (volume.is_finite() and 0 < volume <= MAX_VOLUME_ML):
            raise InvalidInput(f"接種量が範囲外です（0より大きく{MAX_VOLUME_ML}mL以下）: {raw[:20]}")
        return volume
    if name in _CODE_FIELDS:
        return text.replace(" ", "") or None
    if name == "vaccine_code":
        return text.replace(" ", "").upper()
    if name == "category":
        if text and text not in CATEGORY_INPUT:
            raise InvalidInput(f"接種区分「{text}」は使えません")
        code = CATEGORY_INPUT.get(text, "")
        if code == "routine":
            raise InvalidInput("接種区分は 定期A類 または 定期B類 で指定してください")
        return code
    if name == "screening_result":
        if text and text not in SCREENING_INPUT:
            raise InvalidInput(f"予診区分「{text}」は使えません")
        return SCREENING_INPUT.get(text, "")
    return text
