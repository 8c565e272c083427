"""Normalisation of text that arrives from clinics, registries and staff."""
from __future__ import annotations

import re
import unicodedata

import jaconv

_SPACES = str.maketrans("", "", " \u3000\t")


def clean(value: str | None) -> str:
    """NFKC (full-width digits/letters → half-width, ideographic space → space) and trim."""
    if not value:
        return ""
    if value.isascii() or unicodedata.is_normalized("NFKC", value):
        return value.strip()
    return unicodedata.normalize("NFKC", value).strip()


def clean_name(value: str | None) -> str:
    """Names keep their kanji; only surrounding space goes and inner spaces become one full-width space."""
    if not value:
        return ""
    parts = value.replace("\u3000", " ").split()
    return "\u3000".join(parts)


def kana_key(value: str | None) -> str:
    """Search key for kana: full-width katakana, no spaces.

    Hiragana, katakana and half-width katakana all map to the same key, so any of them finds a person.
    """
    if not value:
        return ""
    s = unicodedata.normalize("NFKC", value)  # half-width katakana → full-width
    s = jaconv.hira2kata(s)
    return s.translate(_SPACES)


def prefix_upper_bound(prefix: str) -> str:
    """Smallest string greater than every string starting with prefix (for index range scans)."""
    return prefix + "\U0010ffff"


def clean_address(value: str | None) -> str:
    """Addresses: NFKC (１－１ → 1-1, half-width kana → full-width), spaces collapsed to one."""
    return " ".join(clean(value).split())


_REVIEW_NOTE = re.compile(r"\s*\[check(?::[^\]]*)?\]")


def without_review_notes(text: str) -> str:
    """A data file's source text as staff read it: the reviewers' `[check: …]` notes left in the file."""
    return _REVIEW_NOTE.sub("", text or "").strip()
