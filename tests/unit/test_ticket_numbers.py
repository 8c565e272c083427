"""接種券 numbers: 団体コード check digits against published codes, and the 18-digit OCR line."""
from __future__ import annotations

import pytest

from sesshu.domain.errors import InvalidInput
from sesshu.domain.tickets import (
    build_ocr_line,
    check_municipality_code,
    format_ticket_no,
    municipality_check_digit,
    parse_ocr_line,
    ticket_number_of,
)


# Published 全国地方公共団体コード (総務省): code with its check digit.
@pytest.mark.parametrize("code6", ["112020", "131016", "011002", "271004", "141003", "261009", "231002",
                                   "130001", "010006", "011011", "012025"])
def test_check_digit_matches_published_codes(code6):
    assert municipality_check_digit(code6[:5]) == int(code6[5])
    assert check_municipality_code(code6) == code6


def test_wrong_check_digit_is_refused():
    with pytest.raises(InvalidInput, match="検査数字"):
        check_municipality_code("112021")


def test_ocr_line_has_18_digits_in_national_order():
    line = build_ocr_line(kind="1", dose=2, municipality="112020", ticket_no="0000012345")
    assert str(line) == "121120200000012345" and len(str(line)) == 18
    assert line.grouped() == "12 112020 0000012345"
    assert parse_ocr_line(str(line)) == line
    assert parse_ocr_line("12 112020 0000012345") == line


@pytest.mark.parametrize("raw, reason", [("12112020000001234", "18桁"), ("121120210000012345", "検査数字"),
                                         ("101120200000012345", "回数"), ("12112020000001234X", "18桁")])
def test_bad_ocr_lines_are_refused_with_a_reason(raw, reason):
    with pytest.raises(InvalidInput, match=reason):
        parse_ocr_line(raw)


def test_ticket_number_from_a_questionnaire():
    assert ticket_number_of("0000012345", municipality="112020") == "0000012345"
    assert ticket_number_of("121120200000012345", municipality="112020") == "0000012345"
    assert ticket_number_of("A123", municipality="112020") is None  # an old paper ticket: not linked
    with pytest.raises(InvalidInput, match="他の市町村"):
        ticket_number_of("121310160000012345", municipality="112020")


def test_ticket_numbers_are_ten_digits():
    assert format_ticket_no(42) == "0000000042"
    with pytest.raises(InvalidInput):
        format_ticket_no(10 ** 10)
