"""One registry row: values the person table cannot hold are refused with the field's name, before the
database sees them (PostgreSQL enforces varchar lengths and refuses NUL; the row would fail the batch)."""
from __future__ import annotations

from datetime import date

import pytest

from sesshu.registry.rows import RowError, parse_registry_row

ROW = {"宛名番号": "100000000000123", "氏名": "熊谷 花子", "氏名カナ": "クマガヤ ハナコ", "性別": "女",
       "生年月日": "2020-04-01", "住所": "埼玉県熊谷市宮町二丁目47番地1", "住民区分": "住民"}


def test_accepts_an_address_of_exactly_200_characters():
    fields = parse_registry_row({**ROW, "住所": "熊" * 200}, today=date(2026, 12, 6))
    assert fields["address"] == "熊" * 200


def test_refuses_a_30000_character_address_with_its_length_and_limit():
    with pytest.raises(RowError, match=r"住所が長すぎます（30000文字。200文字まで）"):
        parse_registry_row({**ROW, "住所": "熊" * 30000}, today=date(2026, 12, 6))


@pytest.mark.parametrize("field,label", [("住所", "住所"), ("氏名", "氏名"), ("世帯主氏名", "世帯主氏名")])
def test_refuses_a_nul_byte_inside_a_value(field, label):
    with pytest.raises(RowError, match=f"{label}に制御文字が含まれています"):
        parse_registry_row({**ROW, field: "熊谷\x00市"}, today=date(2026, 12, 6))


def test_refuses_a_household_number_longer_than_the_ledger_holds():
    with pytest.raises(RowError, match="世帯番号が長すぎます"):
        parse_registry_row({**ROW, "世帯番号": "1" * 16}, today=date(2026, 12, 6))
