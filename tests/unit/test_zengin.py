"""全銀協 総合振込 file: exact bytes of every field, read-back, and refusal of what a bank would refuse."""
from __future__ import annotations

from datetime import date

import pytest

from sesshu.domain.errors import InvalidInput
from sesshu.payments.zengin import (
    Header,
    Transfer,
    ZenginFile,
    ZenginFormatError,
    account_holder_kana,
    parse_zengin,
    to_zengin_text,
    write_zengin,
)

HEADER = Header(requester_code="1234567890", requester_name="クマガヤシ", transfer_date=date(2026, 12, 25),
                bank_code="0001", bank_name="ミズホ", branch_code="123", branch_name="クマガヤ", account_type="1",
                account_no="7654321")
TRANSFER = Transfer(bank_code="0009", bank_name="ミツイスミトモ", branch_code="456", branch_name="ｸﾏｶﾞﾔﾁｭｳｵｳ",
                    account_type="1", account_no="1234567", payee_name="医療法人社団やまだこどもクリニック",
                    amount=1234560, new_code="0", customer_code1="1120201", customer_code2="202612")


def _file(*transfers: Transfer) -> bytes:
    return write_zengin(ZenginFile(header=HEADER, transfers=list(transfers)))


def test_every_record_is_120_bytes_with_crlf():
    content = _file(TRANSFER, TRANSFER)
    lines = content.split(b"\r\n")
    assert lines[-1] == b""
    assert [len(x) for x in lines[:-1]] == [120] * 5
    assert [x[:1] for x in lines[:-1]] == [b"1", b"2", b"2", b"8", b"9"]


def test_header_fields_at_their_offsets():
    h = _file(TRANSFER).split(b"\r\n")[0].decode("cp932")
    assert h[0] == "1"
    assert h[1:3] == "21"
    assert h[3] == "0"
    assert h[4:14] == "1234567890"
    assert h[14:54] == "ｸﾏｶﾞﾔｼ".ljust(40)
    assert h[54:58] == "1225"
    assert h[58:62] == "0001"
    assert h[62:77] == "ﾐｽﾞﾎ".ljust(15)
    assert h[77:80] == "123"
    assert h[80:95] == "ｸﾏｶﾞﾔ".ljust(15)
    assert h[95] == "1"
    assert h[96:103] == "7654321"
    assert h[103:120] == " " * 17


def test_data_fields_at_their_offsets():
    d = _file(TRANSFER).split(b"\r\n")[1].decode("cp932")
    assert d[0] == "2"
    assert d[1:5] == "0009"
    assert d[5:20] == "ﾐﾂｲｽﾐﾄﾓ".ljust(15)
    assert d[20:23] == "456"
    assert d[23:38] == "ｸﾏｶﾞﾔﾁﾕｳｵｳ".ljust(15)  # small kana become full-size (ｭ → ﾕ)
    assert d[38:42] == "0000"
    assert d[42] == "1"
    assert d[43:50] == "1234567"
    assert d[50:80] == "ｲ)ﾔﾏﾀﾞｺﾄﾞﾓｸﾘﾆﾂｸ".ljust(30)
    assert d[80:90] == "0001234560"
    assert d[90] == "0"
    assert d[91:101] == "0001120201"
    assert d[101:111] == "0000202612"
    assert d[111] == "7"
    assert d[112] == " "
    assert d[113:120] == " " * 7


def test_trailer_totals_and_end_record():
    lines = _file(TRANSFER, TRANSFER).split(b"\r\n")
    t = lines[3].decode("cp932")
    assert t[0] == "8" and t[1:7] == "000002" and t[7:19] == "000002469120" and t[19:] == " " * 101
    assert lines[4].decode("cp932") == "9" + " " * 119


def test_file_reads_back_to_the_same_transfers():
    parsed = parse_zengin(_file(TRANSFER), year=2026)
    assert parsed.header.transfer_date == date(2026, 12, 25)
    assert parsed.count == 1 and parsed.total == 1234560
    t = parsed.transfers[0]
    assert (t.bank_code, t.branch_code, t.account_no, t.amount) == ("0009", "456", "1234567", 1234560)
    assert t.payee_name == "ｲ)ﾔﾏﾀﾞｺﾄﾞﾓｸﾘﾆﾂｸ"


def test_reader_refuses_a_trailer_that_does_not_add_up():
    lines = _file(TRANSFER).split(b"\r\n")
    lines[2] = b"8000001000000000001" + b" " * 101
    with pytest.raises(ZenginFormatError, match="一致しません"):
        parse_zengin(b"\r\n".join(lines), year=2026)


def test_reader_refuses_a_short_record():
    with pytest.raises(ZenginFormatError, match="120バイト"):
        parse_zengin(_file(TRANSFER)[:-5], year=2026)


def test_kanji_names_are_refused_with_a_japanese_reason():
    with pytest.raises(InvalidInput, match="使えない文字"):
        _file(Transfer(**{**TRANSFER.__dict__, "payee_name": "山田医院"}))


def test_amount_and_codes_are_checked():
    with pytest.raises(InvalidInput, match="1円以上"):
        _file(Transfer(**{**TRANSFER.__dict__, "amount": 0}))
    with pytest.raises(InvalidInput, match="10桁"):
        _file(Transfer(**{**TRANSFER.__dict__, "amount": 12345678901}))
    with pytest.raises(InvalidInput, match="数字"):
        _file(Transfer(**{**TRANSFER.__dict__, "account_no": "12A4567"}))


def test_text_conversion_to_half_width():
    assert to_zengin_text("ﾔﾏﾀﾞ　たろう") == "ﾔﾏﾀﾞ ﾀﾛｳ"
    assert to_zengin_text("ｶ)ﾃｽﾄ") == "ｶ)ﾃｽﾄ"
    assert to_zengin_text("ａｂｃ－１２３") == "ABC-123"
    assert account_holder_kana("株式会社サンプル") == "ｶ)ｻﾝﾌﾟﾙ"
