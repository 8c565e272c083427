"""返戻 (return) codes of the billing run, besides the schedule engine's own E_*/W_* codes.

Documented with the engine's codes in docs/billing.md; a returned record carries every code that
applies, each with its Japanese reason.
"""
from __future__ import annotations

from sesshu.domain.schedule.codes import CODES as ENGINE_CODES

RETURN_CODES = {
    "R_NO_INSTITUTION": "接種医療機関（予診のみの場合は予診医療機関）が記録されていません",
    "R_INSTITUTION_INACTIVE": "医療機関が委託契約の対象外（無効）になっています",
    "R_NOT_ROUTINE": "委託料の対象となる接種区分（定期A類・B類、臨時、住民接種）ではありません",
    "R_NOT_EVALUATED": "スケジュール判定が終わっていません（判定後に再計算してください）",
    "R_ALREADY_PAID": "この接種記録は既に支払済みです",
    "R_NO_FEE": "接種日時点の委託料単価が設定されていません",
    "R_NO_ACCOUNT": "医療機関の振込先口座が登録されていません",
    # Not a return of this month's claim: a dose paid in an earlier month that the schedule engine has since
    # judged invalid, taken back by a 過誤調整 line of this month (listed so the clinic sees why).
    "R_TAKEN_BACK": "支払済みの委託料を過誤調整で戻し入れます（スケジュールの再判定により支払対象外）",
    # The same dose claimed by the 国保連 route (a clinic outside the city) and paid there.
    "R_PAID_VIA_KOKUHO": "この接種は国保連経由の請求で既に支払済みです（二重請求）",
    # Returns of a 国保連 claims file (billing/kokuho.py), besides the engine's codes and R_* above.
    "K_NO_PERSON": "宛名番号・券番号に該当する方が台帳にいません（この市の接種券か確認してください）",
    "K_NO_RECORD": "台帳にこの接種の記録がありません（予診票の登録を確認してください）",
    "K_PAID_BY_CITY": "この接種は市の委託料として既に支払済みです（二重請求）",
    "K_ALREADY_CLAIMED": "この接種は国保連経由で既に請求・支払済みです（二重請求）",
    "K_AMOUNT": "請求額が実施計画の単価による市の算定額と一致しません（時間外・休日加算を確認してください）",
}


def reason_of(code: str, detail: str = "") -> str:
    if code in RETURN_CODES:
        text = RETURN_CODES[code]
    elif code in ENGINE_CODES:
        text = ENGINE_CODES[code].message
    else:
        text = f"エラーコード {code}"
    return f"{text}（{detail}）" if detail else text
