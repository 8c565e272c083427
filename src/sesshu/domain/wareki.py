"""Dates as they arrive in Japanese files: 西暦 and 和暦 in their many written forms.

Accepted: 2023-08-03, 2023/8/3, 2023.8.3, 20230803, 2023年8月3日, 令和5年8月3日, 令和元年5月1日,
R5.8.3, R5/8/3, R050803, H31.4.30, and the 7-digit era-coded form 5050803 (1=明治 … 5=令和).
Full-width digits and stray spaces are normalised first; a trailing weekday "(木)" or a
spreadsheet's time "0:00:00" is ignored. A date outside its era (平成31年5月1日)
is rejected rather than guessed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time
from functools import lru_cache

from sesshu.domain.errors import InvalidInput
from sesshu.domain.text import clean


@dataclass(frozen=True)
class Era:
    name: str
    letter: str
    number: int
    start: date
    end: date | None  # last day of the era


ERAS: tuple[Era, ...] = (
    Era("明治", "M", 1, date(1868, 1, 25), date(1912, 7, 29)),
    Era("大正", "T", 2, date(1912, 7, 30), date(1926, 12, 24)),
    Era("昭和", "S", 3, date(1926, 12, 25), date(1989, 1, 7)),
    Era("平成", "H", 4, date(1989, 1, 8), date(2019, 4, 30)),
    Era("令和", "R", 5, date(2019, 5, 1), None),
)
_BY_KEY = {e.name: e for e in ERAS} | {e.letter: e for e in ERAS} | {e.name[0]: e for e in ERAS}
_BY_NUMBER = {str(e.number): e for e in ERAS}

_SEP = r"\s*[-/.年月]\s*"
_WESTERN = re.compile(rf"^(\d{{4}}){_SEP}(\d{{1,2}}){_SEP}(\d{{1,2}})\s*日?$")
_WESTERN_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_ERA = re.compile(rf"^(明治|大正|昭和|平成|令和|[明大昭平令]|[MTSHR])\s*(\d{{1,2}}|元){_SEP}(\d{{1,2}}){_SEP}(\d{{1,2}})\s*日?$")
_ERA_COMPACT = re.compile(r"^([MTSHR])(\d{2})(\d{2})(\d{2})$")
_ERA_CODED = re.compile(r"^([1-5])(\d{2})(\d{2})(\d{2})$")
# What spreadsheets and forms append: a weekday "(木)" or a midnight time "0:00:00".
_TRAILER = re.compile(r"\s*(\([日月火水木金土]\)|\s\d{1,2}:\d{2}(:\d{2})?)$")


class DateParseError(ValueError):
    """Raised with a Japanese message naming what was wrong."""


def _make(year: int, month: int, day: int, raw: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise DateParseError(f"存在しない日付です: {raw}") from None


def _from_era(era: Era, year_text: str, month: int, day: int, raw: str) -> date:
    era_year = 1 if year_text == "元" else int(year_text)
    if era_year < 1:
        raise DateParseError(f"和暦の年が正しくありません: {raw}")
    d = _make(era.start.year + era_year - 1, month, day, raw)
    if d < era.start or (era.end is not None and d > era.end):
        raise DateParseError(f"{era.name}の期間外の日付です: {raw}")
    return d


@lru_cache(maxsize=65536)
def parse_date(raw: str) -> date:
    """Parse one date in any accepted form; raise DateParseError with a Japanese reason."""
    text = _TRAILER.sub("", clean(raw).upper()).replace(" ", "")
    if not text:
        raise DateParseError("日付が空です")
    m = _WESTERN.match(text) or _WESTERN_COMPACT.match(text)
    if m:
        return _make(int(m[1]), int(m[2]), int(m[3]), raw)
    m = _ERA.match(text)
    if m:
        return _from_era(_BY_KEY[m[1]], m[2], int(m[3]), int(m[4]), raw)
    m = _ERA_COMPACT.match(text)
    if m:
        return _from_era(_BY_KEY[m[1]], m[2], int(m[3]), int(m[4]), raw)
    m = _ERA_CODED.match(text)
    if m:
        return _from_era(_BY_NUMBER[m[1]], m[2], int(m[3]), int(m[4]), raw)
    raise DateParseError(f"日付の形式が正しくありません: {raw}")


def parse_optional_date(raw: str | None, label: str) -> date | None:
    """A date typed into a form field or a command option: blank is None; a wrong one is an
    InvalidInput that names the field, e.g. 「有効期限: 日付として読めません…」."""
    if raw is None or not raw.strip():
        return None
    try:
        return parse_date(raw)
    except DateParseError as e:
        raise InvalidInput(f"{label}: {e}") from None


def to_wareki(d: date) -> str:
    """令和5年8月3日 — for screens and printed notices."""
    for era in reversed(ERAS):
        if d >= era.start:
            y = d.year - era.start.year + 1
            return f"{era.name}{'元' if y == 1 else y}年{d.month}月{d.day}日"
    return f"{d.year}年{d.month}月{d.day}日"


_MONTH = re.compile(r"^(\d{4})\s*[-/.年]?\s*(\d{1,2})\s*月?$")
_ERA_MONTH = re.compile(r"^(明治|大正|昭和|平成|令和|[明大昭平令]|[MTSHR])\s*(\d{1,2}|元)\s*[-/.年]?\s*(\d{1,2})\s*月?$")


@lru_cache(maxsize=4096)
def parse_month(raw: str) -> str:
    """請求月 as 'YYYY-MM' from 2023-08, 202308, 2023年8月, R5.8, 令和5年8月, R0508."""
    text = clean(raw).upper().replace(" ", "")
    m = _MONTH.match(text)
    if m:
        year, month = int(m[1]), int(m[2])
    else:
        m = _ERA_MONTH.match(text)
        if not m:
            raise DateParseError(f"年月の形式が正しくありません: {raw}")
        era = _BY_KEY[m[1]]
        year = era.start.year + (1 if m[2] == "元" else int(m[2])) - 1
        month = int(m[3])
    if not 1 <= month <= 12:
        raise DateParseError(f"存在しない月です: {raw}")
    return f"{year:04d}-{month:02d}"


_TIME = re.compile(r"^(\d{1,2})(?::(\d{2})(?::(\d{2}))?|時(?:(\d{1,2})分?)?)$")


def parse_time(raw: str) -> time:
    """接種時刻 as clinics write it: 9:30, 09:30:00, ０９：３０ (full width), 930 / 0930 (digits only),
    9時30分, 9時. Minutes only (seconds are dropped): the time decides a 時間外加算, not an order."""
    text = clean(raw or "").replace(" ", "")
    if not text:
        raise DateParseError("時刻が空です")
    hour = minute = None
    if text.isascii() and text.isdigit() and len(text) in (3, 4):
        hour, minute = int(text[:-2]), int(text[-2:])
    else:
        m = _TIME.match(text)
        if m:
            hour, minute = int(m.group(1)), int(m.group(2) or m.group(4) or 0)
    if hour is None or not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise DateParseError(f"時刻として読めません（9:30・０９：３０・930 の形で）: {raw}")
    return time(hour, minute)
