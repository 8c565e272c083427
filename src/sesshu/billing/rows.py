"""Parsing one row of the billing files (bank accounts, 地方税関係情報, clinics' claims), with Japanese reasons.

Same pattern as registry/rows.py: a row is turned into fields or refused with RowError; the service puts
refused rows in the rejects file with their line number.
"""
from __future__ import annotations

import re

from sesshu.domain.errors import InvalidInput
from sesshu.domain.text import clean
from sesshu.domain.wareki import DateParseError, parse_month
from sesshu.payments import banks
from sesshu.payments.zengin import ACCOUNT_TYPES, account_holder_kana, to_zengin_text
from sesshu.registry.rows import RowError, parse_atena_no

ACCOUNT_HEADERS = ("医療機関コード", "銀行コード", "銀行名", "支店コード", "支店名", "預金種目", "口座番号", "口座名義カナ")
TAX_HEADERS = ("年度", "宛名番号", "世帯番号", "課税区分", "生活保護")
CLAIM_HEADERS = ("請求月", "医療機関コード", "接種種別", "件数", "金額")

_ACCOUNT_TYPE_INPUT = {"1": "1", "普通": "1", "普通預金": "1", "2": "2", "当座": "2", "当座預金": "2",
                       "4": "4", "貯蓄": "4", "貯蓄預金": "4"}
_TAXABLE = {"課税": True, "1": True, "非課税": False, "2": False, "0": False}
_WELFARE = {"": False, "無": False, "なし": False, "0": False, "有": True, "あり": True, "受給": True, "1": True}
_FISCAL = re.compile(r"^(?:(令和|R)(\d{1,2}|元)|(平成|H)(\d{1,2}|元)|(\d{4}))年?度?$")


def _digits(raw: str, label: str, width: int, *, pad: bool = False) -> str:
    v = clean(raw).replace(" ", "").replace("-", "")
    if not v:
        raise RowError(f"{label}が空です")
    if not (v.isascii() and v.isdigit()) or len(v) > width or (not pad and len(v) != width):
        raise RowError(f"{label}は{width}桁の数字で指定してください: {raw}")
    return v.zfill(width)


def _kana(raw: str, label: str, width: int, *, holder: bool = False) -> str:
    try:
        text = account_holder_kana(raw, label=label) if holder else to_zengin_text(clean(raw), label=label)
    except InvalidInput as e:
        raise RowError(e.message) from None
    if not text.strip():
        raise RowError(f"{label}が空です")
    if len(text) > width:
        raise RowError(f"{label}は半角{width}文字以内で指定してください（{len(text)}文字）")
    return text


def parse_account_row(v: dict[str, str], *, institutions: set[str]) -> dict:
    code = clean(v.get("医療機関コード", "")).replace(" ", "")
    if not code:
        raise RowError("医療機関コードが空です")
    if code not in institutions:
        raise RowError(f"医療機関コード「{code}」はマスタに登録されていません")
    kind = _ACCOUNT_TYPE_INPUT.get(clean(v.get("預金種目", "")).replace(" ", ""))
    if kind is None or kind not in ACCOUNT_TYPES:
        raise RowError(f"預金種目は 普通/当座/貯蓄（1/2/4）で指定してください: {v.get('預金種目', '')}")
    fields = {"institution_code": code, "bank_code": _digits(v.get("銀行コード", ""), "銀行コード", 4),
              "bank_name": _kana(v.get("銀行名", ""), "銀行名", banks.NAME_WIDTH),
              "branch_code": _digits(v.get("支店コード", ""), "支店コード", 3),
              "branch_name": _kana(v.get("支店名", ""), "支店名", banks.NAME_WIDTH), "account_type": kind,
              "account_no": _digits(v.get("口座番号", ""), "口座番号", 7, pad=True),
              "holder_kana": _kana(v.get("口座名義カナ", ""), "口座名義カナ", 30, holder=True)}
    # A transfer to a bank or branch that does not exist, or under another's name, comes back from the bank.
    problem = banks.account_problem(bank_code=fields["bank_code"], bank_name=fields["bank_name"],
                                    branch_code=fields["branch_code"], branch_name=fields["branch_name"])
    if problem:
        raise RowError(problem)
    return fields


def parse_fiscal_year(raw: str) -> int:
    """年度 as 2026, 令和8年度, R8, 令和元年度, H30年度."""
    text = clean(raw).upper().replace(" ", "")
    m = _FISCAL.match(text)
    if not m:
        raise RowError(f"年度の形式が正しくありません（2026・令和8年度・R8）: {raw}")
    if m[5]:
        year = int(m[5])
    elif m[1]:
        year = 2018 + (1 if m[2] == "元" else int(m[2]))
    else:
        year = 1988 + (1 if m[4] == "元" else int(m[4]))
    if not 1989 <= year <= 2100:
        raise RowError(f"年度が範囲外です: {raw}")
    return year


def parse_tax_row(v: dict[str, str]) -> dict:
    year = parse_fiscal_year(v.get("年度", ""))
    atena_no = parse_atena_no(v.get("宛名番号", ""))
    household = clean(v.get("世帯番号", "")).replace(" ", "")
    if len(household) > 15 or (household and not household.isdigit()):
        raise RowError(f"世帯番号は15桁以内の数字で指定してください: {v.get('世帯番号', '')}")
    taxable = _TAXABLE.get(clean(v.get("課税区分", "")).replace(" ", ""))
    if taxable is None:
        raise RowError(f"課税区分は 課税/非課税（1/2）で指定してください: {v.get('課税区分', '')}")
    welfare = _WELFARE.get(clean(v.get("生活保護", "")).replace(" ", ""))
    if welfare is None:
        raise RowError(f"生活保護は 有/無（1/0）で指定してください: {v.get('生活保護', '')}")
    return {"fiscal_year": year, "atena_no": atena_no, "household_no": household, "taxable": taxable,
            "welfare": welfare}


def _count(raw: str, label: str, limit: int) -> int:
    t = clean(raw).replace(" ", "").replace(",", "").removesuffix("円").removesuffix("件")
    if not (t.isascii() and t.isdigit()) or int(t) > limit:
        raise RowError(f"{label}は0〜{limit:,}の数字で指定してください: {raw}")
    return int(t)


def parse_claim_row(v: dict[str, str], *, institutions: set[str], vaccines: set[str]) -> dict:
    try:
        month = parse_month(v.get("請求月", ""))
    except DateParseError as e:
        raise RowError(f"請求月: {e}") from None
    code = clean(v.get("医療機関コード", "")).replace(" ", "")
    if not code:
        raise RowError("医療機関コードが空です")
    if code not in institutions:
        raise RowError(f"医療機関コード「{code}」はマスタに登録されていません（委託契約のない医療機関）")
    vaccine = clean(v.get("接種種別", "")).replace(" ", "").upper()
    if vaccine not in vaccines:
        raise RowError(f"接種種別「{vaccine}」はマスタに登録されていません")
    return {"month": month, "institution_code": code, "vaccine_code": vaccine,
            "count": _count(v.get("件数", ""), "件数", 1_000_000), "amount": _count(v.get("金額", ""), "金額", 10**11)}
