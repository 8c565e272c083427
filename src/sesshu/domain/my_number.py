"""個人番号 (My Number) rules: format and check digit (総務省令第85号 第5条)."""
from __future__ import annotations

from sesshu.domain.text import clean

_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)  # left-to-right for the first 11 digits


def _digits(value: str) -> bool:
    """ASCII digits only: "²" or "፩" pass str.isdigit() but are no part of a 個人番号 (and int() refuses them)."""
    return value.isascii() and value.isdigit()


def check_digit(base11: str) -> int:
    if len(base11) != 11 or not _digits(base11):
        raise ValueError("base must be 11 digits")
    r = sum(int(d) * w for d, w in zip(base11, _WEIGHTS)) % 11
    return 0 if r <= 1 else 11 - r


def normalize(value: str | None) -> str:
    """Full-width digits, spaces and hyphens as people type them → 12 ASCII digits (or as is)."""
    return clean(value).replace(" ", "").replace("-", "")


def is_valid(value: str) -> bool:
    return len(value) == 12 and _digits(value) and check_digit(value[:11]) == int(value[11])


def validation_error(value: str) -> str | None:
    """Japanese reason why a (normalised) number is not a valid 個人番号, or None."""
    if not _digits(value):
        return "個人番号は数字12桁で入力してください"
    if len(value) != 12:
        return f"個人番号は12桁です（{len(value)}桁が入力されました）"
    if check_digit(value[:11]) != int(value[11]):
        return "個人番号の検査用数字が一致しません"
    return None


def mask(value: str | None) -> str:
    """Screens show only the last four digits by default."""
    if not value:
        return ""
    return "*" * 8 + value[-4:]
