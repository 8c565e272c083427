"""Parsing one row of the registry feed (住基 CSV) into person fields, with Japanese reasons."""
from __future__ import annotations

import unicodedata
from datetime import date

import jaconv

from sesshu.domain import my_number
from sesshu.domain.text import clean, clean_address, clean_name, kana_key
from sesshu.domain.wareki import DateParseError, parse_date

REGISTRY_HEADERS = (
    "宛名番号", "個人番号", "氏名", "氏名カナ", "性別", "生年月日", "郵便番号", "住所", "電話番号",
    "世帯番号", "続柄", "世帯主氏名", "住民区分", "異動事由", "異動日",
)
REGISTRY_REQUIRED = ("宛名番号", "氏名", "性別", "生年月日")

_SEX = {"男": "M", "女": "F", "1": "M", "2": "F", "M": "M", "F": "F", "男性": "M", "女性": "F"}
_STATUS = {
    "": "resident", "住民": "resident", "1": "resident",
    "転出": "moved_out", "転出者": "moved_out", "2": "moved_out",
    "死亡": "deceased", "死亡者": "deceased", "3": "deceased",
    "住登外": "non_resident", "住登外者": "non_resident", "4": "non_resident",
}


class RowError(ValueError):
    pass


# What the person table holds (registry/models.py Person): a longer value is refused with its field's
# name instead of failing the whole batch in the database (PostgreSQL enforces varchar lengths).
_FIELD_LIMITS = (("name", "氏名", 100), ("name_kana", "氏名カナ", 100), ("postal_code", "郵便番号", 8),
                 ("address", "住所", 200), ("phone", "電話番号", 20), ("household_no", "世帯番号", 15),
                 ("relationship", "続柄", 20), ("householder_name", "世帯主氏名", 100),
                 ("change_reason", "異動事由", 20))


def _check_fields(fields: dict) -> None:
    for key, label, limit in _FIELD_LIMITS:
        value = fields[key]
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            raise RowError(f"{label}に制御文字が含まれています")
        if len(value) > limit:
            raise RowError(f"{label}が長すぎます（{len(value)}文字。{limit}文字まで）")


def parse_atena_no(raw: str) -> str:
    v = clean(raw).replace(" ", "")
    if not v:
        raise RowError("宛名番号が空です")
    if not v.isdigit() or len(v) > 15:
        raise RowError(f"宛名番号は15桁以内の数字です: {raw}")
    return v


def normalize_kana(raw: str) -> str:
    s = unicodedata.normalize("NFKC", raw or "").strip()
    return jaconv.hira2kata(" ".join(s.replace("\u3000", " ").split()))


# 住登外 persons registered in sesshu get 宛名番号 "9" + 14 digits (see docs/approvals.md); the registry
# feed must never write into that range, or it would overwrite a 住登外 person.
NON_RESIDENT_PREFIX = "9"
NON_RESIDENT_WIDTH = 15


def parse_registry_row(v: dict[str, str], *, today: date) -> dict:
    """Return person fields (My Number still in clear under '_my_number') or raise RowError."""
    atena_no = parse_atena_no(v.get("宛名番号", ""))
    if len(atena_no) == NON_RESIDENT_WIDTH and atena_no.startswith(NON_RESIDENT_PREFIX):
        raise RowError(f"宛名番号 {atena_no} は住登外者用の番号帯（9で始まる15桁）のため、住基ファイルからは取り込めません")
    name = clean_name(v.get("氏名", ""))
    if not name:
        raise RowError("氏名が空です")
    sex = _SEX.get(clean(v.get("性別", "")))
    if sex is None:
        raise RowError(f"性別は 男/女 または 1/2 で指定してください: {v.get('性別', '')}")
    try:
        birth = parse_date(v.get("生年月日", ""))
    except DateParseError as e:
        raise RowError(f"生年月日: {e}") from None
    if birth > today:
        raise RowError("生年月日が未来の日付です")
    status = _STATUS.get(clean(v.get("住民区分", "")))
    if status is None:
        raise RowError(f"住民区分は 住民/転出/死亡/住登外 のいずれかです: {v.get('住民区分', '')}")
    changed_on = None
    if clean(v.get("異動日", "")):
        try:
            changed_on = parse_date(v["異動日"])
        except DateParseError as e:
            raise RowError(f"異動日: {e}") from None
    mn = my_number.normalize(v.get("個人番号", ""))
    if mn:
        reason = my_number.validation_error(mn)
        if reason:
            raise RowError(reason)
    reason_text = clean(v.get("異動事由", ""))
    kana = normalize_kana(v.get("氏名カナ", ""))
    fields = {
        "atena_no": atena_no,
        "name": name,
        "name_key": name.replace("\u3000", ""),
        "name_kana": kana,
        "kana_key": kana_key(kana),
        "sex": sex,
        "birth_date": birth,
        "postal_code": clean(v.get("郵便番号", "")).replace("〒", "").strip(),
        "address": clean_address(v.get("住所", "")),
        "phone": clean(v.get("電話番号", "")).replace(" ", ""),
        "household_no": clean(v.get("世帯番号", "")).replace(" ", ""),
        "relationship": clean(v.get("続柄", "")),
        "householder_name": clean_name(v.get("世帯主氏名", "")),
        "registry_status": status,
        "change_reason": reason_text,
        "changed_on": changed_on,
        "_my_number": mn,
    }
    _check_fields(fields)
    # Event dates are kept from the event that set them; a later 転居 must not erase a 転入 date.
    if "転入" in reason_text and changed_on:
        fields["moved_in_on"] = changed_on
    if status == "moved_out" and changed_on:
        fields["moved_out_on"] = changed_on
    if status == "deceased" and changed_on:
        fields["died_on"] = changed_on
    return fields
