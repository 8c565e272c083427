"""Parsing one 予診票 row (clinic CSV) into record fields, with Japanese reasons for staff."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date
from decimal import Decimal, InvalidOperation

from sesshu.domain.text import clean
from sesshu.domain.wareki import DateParseError, parse_date, parse_month, parse_time
from sesshu.registry.rows import RowError, parse_atena_no

RECORD_HEADERS = (
    "宛名番号", "接種種別", "期", "回数", "接種区分", "接種年月日", "接種時刻", "予診区分", "接種医療機関コード", "接種医師コード",
    "予診医療機関コード", "予診医師コード", "実施場所コード", "ワクチン会社", "LotNo", "接種量", "請求月",
    "初回ワクチン区分", "二混合区分", "合併前市町村", "券番号", "備考", "基礎疾患",
)
# 基礎疾患 (a campaign's priority group confirmed by the person's own entry on the 予診票): blank or "なし" — none;
# "あり" — declared; any other text is the declaration itself (e.g. 慢性の心臓病).
_UNDERLYING_NONE = frozenset({"", "なし", "無", "無し", "いいえ", "0", "×", "-"})
_UNDERLYING_YES = frozenset({"あり", "有", "有り", "はい", "1", "○", "〇"})
RECORD_REQUIRED = ("宛名番号", "接種種別", "接種年月日")
# What each column takes, shown on the import page beside the sample file (issue 22 item 10).
RECORD_COLUMN_HELP = {
    "宛名番号": "住民の宛名番号（全角数字も可）",
    "接種種別": "ワクチンのコード（MR など）または名前（麻しん風しん混合（MR）、B型肝炎 など）",
    "期": "1期・初回・追加 など",
    "回数": "1〜20の数字",
    "接種区分": "定期A類・定期B類・臨時・住民接種・特定接種・任意。空欄なら接種種別から自動で決まります",
    "接種年月日": "2023-08-03・2023/8/3・令和5年8月3日・R5.8.3 のいずれも可",
    "接種時刻": "任意。9:30・０９：３０・930 のいずれも可（時間外加算のある接種で使います。空欄なら加算なし）",
    "予診区分": "接種 または 予診のみ（空欄は接種）",
    "接種医療機関コード": "医療機関マスタのコード",
    "接種医師コード": "医師マスタのコード",
    "予診医療機関コード": "予診のみの場合の医療機関コード",
    "予診医師コード": "予診のみの場合の医師コード",
    "実施場所コード": "実施場所マスタのコード",
    "ワクチン会社": "ワクチン会社マスタのコード",
    "LotNo": "ロット番号（30文字まで）",
    "接種量": "mL の数値（0.5 など）",
    "請求月": "2023-08・R5.8・令和5年8月 のいずれも可",
    "初回ワクチン区分": "初回に使ったワクチンの区分",
    "二混合区分": "二種混合の区分",
    "合併前市町村": "合併前の市町村名",
    "券番号": "接種券の券番号（英数字）",
    "備考": "自由記述（入力したとおりに保存されます）",
}
SAMPLE_ROWS = (
    ("1001", "MR", "1期", "1", "定期A類", "R5.8.3", "", "接種", "", "", "", "", "", "", "AB123", "0.5", "R5.8",
     "", "", "", "", "見本の行です（実在の方ではありません）", ""),
    ("1002", "ヒブ", "初回", "1", "", "2023-08-10", "9:30", "接種", "", "", "", "", "", "", "HB001", "0.5", "2023-08",
     "", "", "", "", "", ""),
)
assert all(len(r) == len(RECORD_HEADERS) for r in SAMPLE_ROWS)  # a new column needs its cell in the sample

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
    vaccine_names: dict[str, str] = field(default_factory=dict)  # name key (vaccine_name_key) → code


def vaccine_name_key(name: str) -> str:
    """A vaccine's Japanese name as matched when typed (「b型肝炎」 = 「B型肝炎」, width and spaces ignored)."""
    return clean(name).replace(" ", "").replace("\u3000", "").upper()


def _code(raw: str, known: frozenset[str] | dict, label: str) -> str | None:
    c = clean(raw).replace(" ", "")
    if not c:
        return None
    if c not in known:
        raise RowError(f"{label}「{c}」はマスタに登録されていません")
    return c


# Free text kept exactly as written (only surrounding spaces go): NFKC would turn ① into 1 and
# full-width brackets into ASCII in a clinic's note. Codes and short coded texts are still normalised.
VERBATIM_FIELDS = frozenset({"remarks"})


def _text(raw: str, limit: int, label: str, *, verbatim: bool = False) -> str:
    t = raw.strip() if verbatim else clean(raw)
    if len(t) > limit:
        raise RowError(f"{label}が長すぎます（{limit}文字まで）")
    return t


def _int(raw: str, label: str, lo: int, hi: int, suffix: str = "") -> int | None:
    t = clean(raw).replace(" ", "").removesuffix(suffix)
    if not t:
        return None
    if not (t.isascii() and t.isdigit()) or not lo <= int(t) <= hi:
        raise RowError(f"{label}は{lo}〜{hi}の数字で指定してください: {raw}")
    return int(t)


def _choice(raw: str | None, table: dict[str, str], label: str, allowed: str) -> str:
    """A coded choice written as a label or a code; blank is allowed."""
    if not raw:
        return ""
    found = table.get(raw)
    if found:
        return found
    c = clean(raw).replace(" ", "")
    if not c:
        return ""
    if c not in table:
        raise RowError(f"{label}「{c}」は使えません（{allowed}）")
    return table[c]


def record_category(vaccine_code: str, typed: str, defaults: dict[str, str]) -> str:
    """The 接種区分 a dose is stored with: the one written, or — blank or just 「定期」 — the vaccine's
    usual category (定期A類 for MR, 定期B類 for 高齢者インフルエンザ …). The import and hand entry both
    call this, so a record is never stored without a category; where the vaccine has none, the row is
    refused with the reason."""
    if typed and typed != "routine":
        return typed
    usual = defaults.get(vaccine_code, "")
    if not usual:
        raise RowError(f"接種区分が空です。接種種別「{vaccine_code}」からは決められないため、"
                       "定期A類/定期B類/臨時/住民接種/特定接種/任意 のいずれかを入力してください")
    return usual


# (field, CSV header, Masters attribute) — a non-blank code must exist in master data.
_CODE_FIELDS = (
    ("institution_code", "接種医療機関コード", "institutions"),
    ("doctor_code", "接種医師コード", "doctors"),
    ("screening_institution_code", "予診医療機関コード", "institutions"),
    ("screening_doctor_code", "予診医師コード", "doctors"),
    ("venue_code", "実施場所コード", "venues"),
    ("manufacturer_code", "ワクチン会社", "manufacturers"),
)
# (field, CSV header, maximum length)
_TEXT_FIELDS = (
    ("term", "期", 8),
    ("lot_no", "LotNo", 30),
    ("first_product", "初回ワクチン区分", 30),
    ("dt_kind", "二混合区分", 20),
    ("former_municipality", "合併前市町村", 40),
    ("remarks", "備考", 1000),
)


@lru_cache(maxsize=1024)
def _volume(raw: str) -> Decimal | None:
    t = clean(raw).replace(" ", "").lower().removesuffix("ml")
    if not t:
        return None
    try:
        volume = Decimal(t)
    except InvalidOperation:
        raise RowError(f"接種量は数値（mL）で指定してください: {raw}") from None
    if not Decimal("0") < volume <= Decimal("10"):
        raise RowError(f"接種量が範囲外です（0より大きく10mL以下）: {raw}")
    return volume


def parse_record_row(v: dict[str, str], *, masters: Masters, today: date) -> dict:
    """Record fields from one CSV row, or RowError with the first problem found.

    Runs a million times per large import, so each field first tries the common case (blank, or
    already clean and known) with one lookup, and normalises only when that fails.
    """
    get = v.get
    raw = get("宛名番号", "")
    atena_no = raw if raw.isdigit() and raw.isascii() and len(raw) <= 15 else parse_atena_no(raw)
    raw = get("接種種別", "")
    vaccine = raw if raw in masters.vaccines else clean(raw).replace(" ", "").upper()
    if not vaccine:
        raise RowError("接種種別が空です")
    if vaccine not in masters.vaccines:  # written by its Japanese name (ヒブ, B型肝炎 …)
        vaccine = masters.vaccine_names.get(vaccine_name_key(raw), vaccine)
    if vaccine not in masters.vaccines:
        raise RowError(f"接種種別「{vaccine}」はマスタに登録されていません")
    raw_date = get("接種年月日", "")
    try:
        vaccinated_on = parse_date(raw_date)
    except DateParseError as e:
        raise RowError(f"接種年月日: {e}") from None
    if vaccinated_on > today:
        raise RowError(f"接種年月日が未来の日付です: {raw_date.strip()}")
    out = {"atena_no": atena_no, "vaccine_code": vaccine, "vaccinated_on": vaccinated_on}
    raw = get("接種時刻")
    if raw and raw.strip():
        try:
            out["vaccination_time"] = parse_time(raw)
        except DateParseError as e:
            raise RowError(f"接種時刻: {e}") from None
    else:
        out["vaccination_time"] = None
    typed = _choice(get("接種区分"), CATEGORY_INPUT, "接種区分", "定期A類/定期B類/臨時/住民接種/特定接種/任意")
    out["category"] = record_category(vaccine, typed, masters.vaccines)
    out["screening_result"] = _choice(get("予診区分"), SCREENING_INPUT, "予診区分", "接種/予診のみ")
    raw = get("回数")
    if not raw:
        out["dose_no"] = None
    elif raw.isdigit() and raw.isascii() and 1 <= int(raw) <= 20:
        out["dose_no"] = int(raw)
    else:
        out["dose_no"] = _int(raw, "回数", 1, 20, "回")
    for field, key, attr in _CODE_FIELDS:
        raw = get(key)
        if not raw:
            out[field] = None
        else:
            known = getattr(masters, attr)
            out[field] = raw if raw in known else _code(raw, known, key)
    for field, key, limit in _TEXT_FIELDS:
        raw = get(key)
        if not raw:
            out[field] = ""
        elif raw.isascii() and len(raw) <= limit:
            out[field] = raw.strip()
        else:
            out[field] = _text(raw, limit, key, verbatim=field in VERBATIM_FIELDS)
    raw = get("接種量")
    out["dose_volume_ml"] = _volume(raw) if raw else None
    billing_month = ""
    raw = get("請求月")
    if raw and raw.strip():
        try:
            billing_month = parse_month(raw)
        except DateParseError as e:
            raise RowError(f"請求月: {e}") from None
    out["billing_month"] = billing_month
    raw = get("券番号")
    if not raw:
        ticket = ""
    elif raw.isascii() and raw.isalnum() and len(raw) <= 20:
        ticket = raw
    else:
        ticket = _text(raw, 20, "券番号").replace(" ", "")
        if ticket and not ticket.isalnum():
            raise RowError(f"券番号は英数字で指定してください: {raw}")
    out["ticket_no"] = ticket
    raw = get("基礎疾患")
    if raw:
        text = clean(raw)
        if text not in _UNDERLYING_NONE:
            out["underlying"] = "基礎疾患あり（本人記載）" if text in _UNDERLYING_YES else _text(raw, 100, "基礎疾患")
    return out
