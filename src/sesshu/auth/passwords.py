"""Password and staff-ID policy: what a new password and a new login ID must satisfy.

Passwords (NIST SP 800-63B §5.1.1.2): at least 12 characters, not containing the ID, and not a
common/breached password — checked case-insensitively against the list shipped in
`data/common-passwords.txt`, also after removing what people typically bolt on to a listed word
(trailing digits, years, punctuation: "Password2024!" is "password"), and not built the same way
from the city's or the system's name (`data/context-words.txt`: "Kumagaya2026!"). No composition rules.

IDs: one ID per person (the 一人一ID rule of the seed): IDs that name a role or a group instead of a
person (admin, guest, test, shared, kyoyu …, also with a number after them) are refused.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

MIN_PASSWORD_LENGTH = 12
BLOCKLIST_PATH = Path(__file__).parent / "data" / "common-passwords.txt"
CONTEXT_WORDS_PATH = Path(__file__).parent / "data" / "context-words.txt"

# Generic IDs that a group could share; compared after dropping a trailing number ("guest-2", "test01").
GENERIC_LOGIN_IDS = frozenset({
    "admin", "administrator", "root", "superuser", "sysadmin", "system", "operator", "manager",
    "guest", "test", "tester", "testuser", "temp", "tmp", "user", "users", "staff", "member",
    "shared", "share", "common", "public", "anonymous", "everyone", "office", "support", "info",
    "kyoyu", "kyouyu", "kyoyuu", "kyotsu", "kyoutsu", "kanri", "kanrisha", "madoguchi", "tanto", "tantou",
    "rinji", "sesshu",
})
_TRAILING_NUMBER = re.compile(r"[-_.]*\d*$")
# What is commonly appended to a weak word: digits (years, "123"), punctuation, in any mix.
_TRAILING_DECORATION = re.compile(r"[\d\W_]+$")
_LEADING_DECORATION = re.compile(r"^[\d\W_]+")


class PolicyViolation(ValueError):
    """The Japanese message says what to change."""


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = BLOCKLIST_PATH.read_text(encoding="utf-8")
    _header, _, body = text.partition("\n\n")
    return frozenset(line.strip().lower() for line in body.splitlines() if line.strip())


@lru_cache(maxsize=1)
def context_words() -> frozenset[str]:
    """The city's and the system's names (data/context-words.txt): no password is built from them."""
    lines = CONTEXT_WORDS_PATH.read_text(encoding="utf-8").splitlines()
    return frozenset(_normalise(line.strip()) for line in lines if line.strip() and not line.startswith("#"))


def _normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password).lower()


def password_variants(password: str) -> set[str]:
    """The password and the base words it is built from by simple decoration."""
    p = _normalise(password)
    stripped = _TRAILING_DECORATION.sub("", p)
    variants = {p, stripped, _LEADING_DECORATION.sub("", p), _LEADING_DECORATION.sub("", stripped)}
    # A listed word typed twice ("qwertyqwerty") is no stronger than once.
    for v in list(variants):
        half = len(v) // 2
        if half and len(v) % 2 == 0 and v[:half] == v[half:]:
            variants.add(v[:half])
    return {v for v in variants if v}


def check_password(password: str, login_id: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PolicyViolation(f"パスワードは{MIN_PASSWORD_LENGTH}文字以上にしてください")
    if login_id and login_id.lower() in _normalise(password):
        raise PolicyViolation("パスワードにIDを含めないでください")
    if password_variants(password) & common_passwords():
        raise PolicyViolation("よく使われるパスワード（漏えいしたパスワードの一覧にあるもの）や、"
                              "それに数字・記号を付けただけのものは使えません")
    if password_variants(password) & context_words():
        raise PolicyViolation("市の名前やシステムの名前（kumagaya・熊谷・sesshu など）に数字・記号を付けただけの"
                              "パスワードは使えません")
    if len(set(_normalise(password))) < 4:
        raise PolicyViolation("同じ文字の繰り返しが多すぎます。推測されにくいパスワードにしてください")


def check_login_id(login_id: str) -> None:
    base = _TRAILING_NUMBER.sub("", login_id.lower())
    if base in GENERIC_LOGIN_IDS:
        raise PolicyViolation(f"ID「{login_id}」は共用のIDと紛らわしいため使えません。職員一人ひとりを表すIDにしてください")
