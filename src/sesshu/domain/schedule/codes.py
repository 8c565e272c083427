"""Stable evaluation codes of the schedule engine (documented in docs/schedule-error-codes.md).

``E_*`` codes make a dose ``invalid``; ``W_*`` codes accompany a ``voluntary`` (任意) dose.
A code is *hard* when it invalidates the dose for every series it counts in; ``E_SERIES_COMPLETE``
is soft: an MR dose after a complete measles series still counts for an incomplete rubella series.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    message: str
    source: str
    hard: bool = True


_ALL = (
    Code("E_BEFORE_BIRTH", "接種日が生年月日より前です", "記録の整合性（予防接種法施行規則第3条 台帳記載事項）"),
    Code("E_FUTURE", "接種日が基準日より後です", "記録の整合性（評価基準日以降の接種は記録できない）"),
    Code("E_UNKNOWN_VACCINE", "ワクチンコードが不明です", "sesshu ワクチンコード表"),
    Code(
        "E_LIVE_CONFLICT",
        "注射生ワクチンの接種後、異なる注射生ワクチンは27日以上の間隔が必要です",
        "定期接種実施要領 第1総論 異なる種類のワクチンの接種間隔（令和2年10月1日改正）",
    ),
    Code("E_INTERVAL_TOO_SHORT", "接種間隔が不足しています", "定期接種実施要領 第2各論（各ワクチンの接種間隔）"),
    Code(
        "E_WRONG_PRODUCT",
        "このシリーズでは使用できないワクチン（製剤）です",
        "定期接種実施要領（原則として同一のワクチンで接種を完了する）",
    ),
    Code(
        "E_SEASON_DUPLICATE",
        "同一年度に既に定期接種を受けています（年度1回）",
        "予防接種法施行令第3条・予防接種法施行規則（B類疾病は毎年度1回）",
    ),
    Code(
        "E_SERIES_COMPLETE",
        "定期接種の規定回数を既に完了しています",
        "予防接種法施行令第3条・定期接種実施要領（接種回数）",
        hard=False,
    ),
    Code(
        "E_BOOSTER_TOO_EARLY",
        "追加接種の最低年齢に達していません",
        "定期接種実施要領 第2各論（追加接種の時期）",
    ),
    Code(
        "W_OUTSIDE_LEGAL_WINDOW",
        "定期接種の対象期間外のため任意接種として扱います（定期接種の回数に数えません）",
        "予防接種法第5条・予防接種法施行令第3条（定期接種の対象者）",
        hard=False,
    ),
    Code(
        "W_OUTSIDE_SEASON",
        "市町村が定める定期接種の実施期間外です",
        "予防接種法施行令第3条・市町村の実施要綱（B類疾病の実施期間）",
        hard=False,
    ),
    Code(
        "W_NOT_TARGET_GROUP",
        "定期接種の対象者（性別・年齢・生年月日・基礎疾患の要件）に該当しません",
        "予防接種法施行令第3条（定期接種の対象者）",
        hard=False,
    ),
)

CODES: dict[str, Code] = {c.code: c for c in _ALL}


def reason(code: str, detail: str = "") -> str:
    """The Japanese reason for ``code``: message, optional detail, then the legal source."""
    c = CODES[code]
    return f"{c.message}{'：' + detail if detail else ''}【{c.source}】"
