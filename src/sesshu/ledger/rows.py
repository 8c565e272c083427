"""Parsing one 予診票 row (clinic CSV) into record fields, with Japanese reasons for staff."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from sesshu.domain.text import clean
from sesshu.domain.wareki import DateParseError, parse_date, parse_month
from sesshu.registry.rows import RowError, parse_atena_no

RECORD_HEADERS = (
    "宛名番号", "接種種別", "期", "回数", "接種区分", "接種年月日", "予診区分", "接種医療機関コード", "接種医師コード",
    "予診医療機関コード", "予診医師コード", "実施場所コード", "ワクチン会社", "LotNo", "接種量", "請求月",
    "初回ワクチン区分", "二混合区分", "合併前市町村", "券番号", "備考",
)
RECORD_REQUIRED = ("宛名番号", "接種種別", "接種年月日")

CATEGORY_INPUT = {
    "routine_a": "routine_a", "定期A類": "routine_a", "A類": "routine_a", "定期A": "routine_a", "A": "routine_a",
    "routine_b": "routine_b", "定期B類": "routine_b", "B類": "routine_b", "定期B": "routine_b", "B": "routine_b",
    "定期": "routine",
    "temporary": "temporary", "臨時": "temporary", "臨時接種": "temporary",
    "pandemic_resident": "pandemic_resident", "住民接種": "pandemic_resident",
    "designated": "designated", "特定接種": "designated",
    "voluntary": "voluntary", "任意": "voluntary", "任意接種": "voluntary",
}
SCREENING_INPUT = {
    "vaccinated": "vaccinated", "接種": "vaccinated", "実施": "vaccinated", "1": "vaccinated",
    "screened_only": "screened_only", "予診のみ": "screened_only", "2": "screened_only",
}


@dataclass(frozen=True)
class Masters:
    vaccines: dict[str, str]  # code → default category
    institutions: frozenset[str]
    doctors: frozenset[str]
    venues: frozenset[str]
    manufacturers: frozenset[str]


def _code(v: dict[str, str], key: str, known: frozenset[str] | dict, label: str) -> str | None:
    raw = v.get(key)
    if not raw:
        return None
    c = clean(raw).replace(" ", "")
    if not c:
        return None
    if c not in known:
        raise RowError(f"{label}「{c}」はマスタに登録されていません")
    return c


def _text(v: dict[str, str], key: str, limit: int, label: str) -> str:
    raw = v.get(key)
    if not raw:
        return ""
    t = clean(raw)
    if len(t) > limit:
        raise RowError(f"{label}が長すぎます（{limit}文字まで）")
    return t


def _int(v: dict[str, str], key: str, label: str, lo: int, hi: int, suffix: str = "") -> int | None:
    raw = v.get(key)
    if not raw:
        return None
    t = clean(raw).replace(" ", "").removesuffix(suffix)
    if not t:
        return None
    if not t.isdigit() or not lo <= int(t) <= hi:
        raise RowError(f"{label}は{lo}〜{hi}の数字で指定してください: {raw}")
    return int(t)


def parse_record_row(v: dict[str, str], *, masters: Masters, today: date) -> dict:
    """Record fields from one CSV row, or RowError with the first problem found."""
    atena_no = parse_atena_no(v.get("宛名番号", ""))
    vaccine = clean(v.get("接種種別", "")).replace(" ", "").upper()
    if not vaccine:
        raise RowError("接種種別が空です")
    if vaccine not in masters.vaccines:
        raise RowError(f"接種種別「{vaccine}」はマスタに登録されていません")
    raw_date = v.get("接種年月日", "")
    try:
        vaccinated_on = parse_date(raw_date)
    except DateParseError as e:
        raise RowError(f"接種年月日: {e}") from None
    if vaccinated_on > today:
        raise RowError(f"接種年月日が未来の日付です: {raw_date.strip()}")
    category = ""
    if v.get("接種区分"):
        c = clean(v["接種区分"]).replace(" ", "")
        if c:
            category = CATEGORY_INPUT.get(c) or ""
            if not category:
                raise RowError(f"接種区分「{c}」は使えません（定期A類/定期B類/臨時/住民接種/特定接種/任意）")
            if category == "routine":
                category = masters.vaccines[vaccine]
    screening = ""
    if v.get("予診区分"):
        c = clean(v["予診区分"]).replace(" ", "")
        if c:
            screening = SCREENING_INPUT.get(c) or ""
            if not screening:
                raise RowError(f"予診区分「{c}」は使えません（接種/予診のみ）")
    volume = None
    if v.get("接種量"):
        t = clean(v["接種量"]).replace(" ", "").lower().removesuffix("ml")
        if t:
            try:
                volume = Decimal(t)
            except InvalidOperation:
                raise RowError(f"接種量は数値（mL）で指定してください: {v['接種量']}") from None
            if not Decimal("0") < volume <= Decimal("10"):
                raise RowError(f"接種量が範囲外です（0より大きく10mL以下）: {v['接種量']}")
    billing_month = ""
    if v.get("請求月") and v["請求月"].strip():
        try:
            billing_month = parse_month(v["請求月"])
        except DateParseError as e:
            raise RowError(f"請求月: {e}") from None
    ticket = _text(v, "券番号", 20, "券番号").replace(" ", "")
    if ticket and not ticket.isalnum():
        raise RowError(f"券番号は英数字で指定してください: {v['券番号']}")
    return {
        "atena_no": atena_no,
        "vaccine_code": vaccine,
        "term": _text(v, "期", 8, "期"),
        "dose_no": _int(v, "回数", "回数", 1, 20, "回"),
        "category": category,
        "vaccinated_on": vaccinated_on,
        "screening_result": screening,
        "institution_code": _code(v, "接種医療機関コード", masters.institutions, "接種医療機関コード"),
        "doctor_code": _code(v, "接種医師コード", masters.doctors, "接種医師コード"),
        "screening_institution_code": _code(v, "予診医療機関コード", masters.institutions, "予診医療機関コード"),
        "screening_doctor_code": _code(v, "予診医師コード", masters.doctors, "予診医師コード"),
        "venue_code": _code(v, "実施場所コード", masters.venues, "実施場所コード"),
        "manufacturer_code": _code(v, "ワクチン会社", masters.manufacturers, "ワクチン会社"),
        "lot_no": _text(v, "LotNo", 30, "LotNo"),
        "dose_volume_ml": volume,
        "billing_month": billing_month,
        "first_product": _text(v, "初回ワクチン区分", 30, "初回ワクチン区分"),
        "dt_kind": _text(v, "二混合区分", 20, "二混合区分"),
        "former_municipality": _text(v, "合併前市町村", 40, "合併前市町村"),
        "ticket_no": ticket,
        "remarks": _text(v, "備考", 1000, "備考"),
    }
