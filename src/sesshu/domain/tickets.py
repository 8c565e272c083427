"""接種券 numbers: the national 18-digit OCR line and the 全国地方公共団体コード check digit. Pure.

OCR line (DOMAIN.md, as used nationally since 2021): 券種 (1) + 回数 (1) + 市町村コード (6, the
5-digit 団体コード with its check digit) + 券番号 (10). The same 18 digits go in the QR code.
"""
from __future__ import annotations

from dataclasses import dataclass

from sesshu.domain.errors import InvalidInput

OCR_LENGTH = 18
TICKET_NO_LENGTH = 10
_WEIGHTS = (6, 5, 4, 3, 2)


def municipality_check_digit(code5: str) -> int:
    """JIS X 0402 / 総務省「全国地方公共団体コード」: digits weighted 6,5,4,3,2, summed; r = sum mod 11;
    the check digit is the last digit of 11 − r (r = 1 → 0, r = 0 → 1).
    Examples: 11202 → 0 (熊谷市 112020), 13101 → 6 (千代田区 131016), 01101 → 1 (札幌市中央区 011011)."""
    if len(code5) != 5 or not (code5.isascii() and code5.isdigit()):
        raise InvalidInput(f"地方公共団体コードは5桁の数字です: {code5}")
    r = sum(int(d) * w for d, w in zip(code5, _WEIGHTS)) % 11
    return (11 - r) % 10


def check_municipality_code(code6: str) -> str:
    """A 6-digit 市町村コード whose check digit is right, or InvalidInput."""
    if len(code6) != 6 or not (code6.isascii() and code6.isdigit()):
        raise InvalidInput(f"市町村コードは6桁の数字です: {code6}")
    if municipality_check_digit(code6[:5]) != int(code6[5]):
        raise InvalidInput(f"市町村コード {code6} の検査数字が正しくありません")
    return code6


@dataclass(frozen=True)
class OcrLine:
    kind: str  # 券種, one digit (tickets/kinds.yaml)
    dose: int  # 回数 1–9
    municipality: str  # 6 digits with check digit
    ticket_no: str  # 10 digits

    def __str__(self) -> str:
        return f"{self.kind}{self.dose}{self.municipality}{self.ticket_no}"

    def grouped(self) -> str:
        """As printed for people to read: 券種回数 市町村コード 券番号."""
        return f"{self.kind}{self.dose} {self.municipality} {self.ticket_no}"


def build_ocr_line(*, kind: str, dose: int, municipality: str, ticket_no: str) -> OcrLine:
    if len(kind) != 1 or not kind.isdigit():
        raise InvalidInput(f"券種は1桁の数字です: {kind}")
    if not 1 <= dose <= 9:
        raise InvalidInput(f"回数は1〜9です: {dose}")
    check_municipality_code(municipality)
    if len(ticket_no) != TICKET_NO_LENGTH or not (ticket_no.isascii() and ticket_no.isdigit()):
        raise InvalidInput(f"券番号は10桁の数字です: {ticket_no}")
    return OcrLine(kind, dose, municipality, ticket_no)


def format_ticket_no(value: int) -> str:
    if not 0 < value < 10 ** TICKET_NO_LENGTH:
        raise InvalidInput("券番号の桁数を超えました（10桁）")
    return f"{value:0{TICKET_NO_LENGTH}d}"


def parse_ocr_line(raw: str) -> OcrLine:
    """The 18 digits read from a 予診票 (spaces and hyphens allowed), checked; InvalidInput with a reason."""
    text = raw.replace(" ", "").replace("-", "").replace("　", "")
    if len(text) != OCR_LENGTH or not (text.isascii() and text.isdigit()):
        raise InvalidInput(f"券番号（OCRライン）は18桁の数字です: {raw}")
    if text[1] == "0":
        raise InvalidInput(f"券番号（OCRライン）の回数が0です: {raw}")
    return build_ocr_line(kind=text[0], dose=int(text[1]), municipality=text[2:8], ticket_no=text[8:])


def ticket_number_of(raw: str, *, municipality: str) -> str | None:
    """The 10-digit 券番号 a 予診票 names, written as the full OCR line or as the 10 digits alone;
    None for other shapes (numbers of paper tickets from before sesshu). An OCR line with a wrong
    check digit or of another municipality is refused."""
    text = raw.replace(" ", "").replace("-", "")
    if not (text.isascii() and text.isdigit()) or len(text) not in (TICKET_NO_LENGTH, OCR_LENGTH):
        return None
    if len(text) == TICKET_NO_LENGTH:
        return text
    line = parse_ocr_line(text)
    if line.municipality != municipality:
        raise InvalidInput(f"他の市町村（{line.municipality}）の接種券です")
    return line.ticket_no
