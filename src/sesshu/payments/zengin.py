"""全銀協 総合振込 file: write it from transfers, read it back (and check it) field by field.

Fixed 120-byte records in JIS X 0201 (half-width kana, upper-case letters, digits), written as CP932
bytes, CRLF after each record by default. N fields are digits zero-padded on the left; C fields are
text padded with spaces on the right. Records: header (1), data (2) × n, trailer (8), end (9).
The layout follows ../shared/docs/DOMAIN.md (全銀協 規定の総合振込 依頼データ).
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date

import jaconv

from sesshu.domain.errors import InvalidInput

RECORD_LENGTH = 120
ACCOUNT_TYPES = {"1": "普通", "2": "当座", "4": "貯蓄", "9": "その他"}
TRANSFER_KINDS = {"7": "テレ振込", "8": "文書振込"}

# Characters the banks accept in C fields: digits, upper-case letters, half-width kana and a few symbols.
_KANA = "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝﾞﾟ"
ALLOWED = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ ().-/,\\｢｣") | set(_KANA)
_SMALL_TO_LARGE = str.maketrans("ｧｨｩｪｫｯｬｭｮ", "ｱｲｳｴｵﾂﾔﾕﾖ")
# Common corporate abbreviations as the banks print them (略語), longest first.
_ABBREVIATIONS = (("医療法人社団", "ｲ)"), ("医療法人財団", "ｲ)"), ("社会医療法人", "ｲ)"), ("医療法人", "ｲ)"),
                  ("株式会社", "ｶ)"), ("有限会社", "ﾕ)"), ("一般社団法人", "ｼﾔ)"), ("一般財団法人", "ｻﾞｲ)"),
                  ("社会福祉法人", "ﾌｸ)"))


def to_zengin_text(value: str, *, label: str = "") -> str:
    """Full-width / hiragana / lower-case text as the half-width form the file needs; refuses the rest.

    Kanji cannot be converted (a reading is needed): callers keep a kana name for each account
    (口座名義カナ)."""
    text = unicodedata.normalize("NFKC", value)  # full-width ASCII → half-width, but keeps full-width kana
    text = jaconv.hira2kata(text)
    text = jaconv.z2h(text, kana=True, ascii=True, digit=True)
    text = text.replace("ｰ", "-").replace("－", "-").replace("‐", "-").replace("　", " ")
    text = text.upper().translate(_SMALL_TO_LARGE)
    bad = sorted({ch for ch in text if ch not in ALLOWED})
    if bad:
        where = f"{label}: " if label else ""
        raise InvalidInput(f"{where}振込データに使えない文字があります（{''.join(bad)}）。口座名義などはカナで登録してください")
    return text


def account_holder_kana(value: str, *, label: str = "口座名義") -> str:
    """A kana account name with the usual abbreviations applied (医療法人社団ヤマダ… → ｲ)ﾔﾏﾀﾞ…)."""
    for long, short in _ABBREVIATIONS:
        value = value.replace(long, short)
    return to_zengin_text(value, label=label)


def _n(value: int | str, width: int, label: str) -> str:
    text = str(value)
    if not text.isascii() or not text.isdigit():
        raise InvalidInput(f"{label}は数字で指定してください（{value!r}）")
    if len(text) > width:
        raise InvalidInput(f"{label}が{width}桁を超えています（{value}）")
    return text.zfill(width)


def _c(value: str, width: int, label: str, *, name: bool = False) -> str:
    text = account_holder_kana(value, label=label) if name else to_zengin_text(value, label=label)
    if len(text) > width:
        # Names longer than the field are cut, as the banks do; codes never reach here (they are N fields).
        text = text[:width]
    return text.ljust(width)


@dataclass(frozen=True)
class Header:
    requester_code: str  # 依頼人コード (assigned by the paying bank), 10 digits
    requester_name: str  # 依頼人名 (kana)
    transfer_date: date  # 振込指定日
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: str  # 1 普通, 2 当座
    account_no: str


@dataclass(frozen=True)
class Transfer:
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: str
    account_no: str
    payee_name: str  # 受取人名 (kana)
    amount: int
    new_code: str = "0"  # 0 その他, 1 第1回振込分, 2 変更分
    customer_code1: str = ""  # 顧客コード1 (e.g. the institution code), digits
    customer_code2: str = ""
    transfer_kind: str = "7"
    clearing_house: str = ""  # 手形交換所番号 (unused: zeros)


@dataclass
class ZenginFile:
    header: Header
    transfers: list[Transfer] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.transfers)

    @property
    def total(self) -> int:
        return sum(t.amount for t in self.transfers)


def _header_record(h: Header) -> str:
    if h.account_type not in ACCOUNT_TYPES:
        raise InvalidInput(f"依頼人の預金種目が正しくありません（{h.account_type}）")
    return ("1" + "21" + "0" + _n(h.requester_code, 10, "依頼人コード") + _c(h.requester_name, 40, "依頼人名", name=True)
            + h.transfer_date.strftime("%m%d") + _n(h.bank_code, 4, "仕向銀行番号") + _c(h.bank_name, 15, "仕向銀行名")
            + _n(h.branch_code, 3, "仕向支店番号") + _c(h.branch_name, 15, "仕向支店名") + h.account_type
            + _n(h.account_no, 7, "依頼人口座番号") + " " * 17)


def _data_record(t: Transfer, line: int) -> str:
    label = f"{line}件目"
    if t.account_type not in ACCOUNT_TYPES:
        raise InvalidInput(f"{label}: 預金種目が正しくありません（{t.account_type}）")
    if t.transfer_kind not in TRANSFER_KINDS:
        raise InvalidInput(f"{label}: 振込指定区分が正しくありません（{t.transfer_kind}）")
    if t.amount <= 0:
        raise InvalidInput(f"{label}: 振込金額は1円以上にしてください（{t.amount}）")
    return ("2" + _n(t.bank_code, 4, f"{label}の銀行番号") + _c(t.bank_name, 15, f"{label}の銀行名")
            + _n(t.branch_code, 3, f"{label}の支店番号") + _c(t.branch_name, 15, f"{label}の支店名")
            + _n(t.clearing_house or "0", 4, f"{label}の手形交換所番号") + t.account_type
            + _n(t.account_no, 7, f"{label}の口座番号") + _c(t.payee_name, 30, f"{label}の受取人名", name=True)
            + _n(t.amount, 10, f"{label}の振込金額") + _n(t.new_code, 1, f"{label}の新規コード")
            + _n(t.customer_code1 or "0", 10, f"{label}の顧客コード1") + _n(t.customer_code2 or "0", 10, f"{label}の顧客コード2")
            + t.transfer_kind + " " + " " * 7)


def write_zengin(f: ZenginFile, *, crlf: bool = True) -> bytes:
    """The file's bytes. Every record is checked to be exactly 120 bytes."""
    records = [_header_record(f.header)]
    records += [_data_record(t, i) for i, t in enumerate(f.transfers, start=1)]
    records.append("8" + _n(f.count, 6, "合計件数") + _n(f.total, 12, "合計金額") + " " * 101)
    records.append("9" + " " * 119)
    out = []
    for r in records:
        b = r.encode("cp932")
        if len(b) != RECORD_LENGTH:
            raise AssertionError(f"record of {len(b)} bytes: {r!r}")
        out.append(b)
    return (b"\r\n" if crlf else b"").join(out) + (b"\r\n" if crlf else b"")


class ZenginFormatError(InvalidInput):
    code = "E_ZENGIN_FORMAT"


def _records(content: bytes) -> list[str]:
    body = content.replace(b"\r\n", b"").replace(b"\n", b"")
    if len(body) % RECORD_LENGTH:
        raise ZenginFormatError(f"レコード長が120バイトの倍数ではありません（{len(body)}バイト）")
    return [body[i:i + RECORD_LENGTH].decode("cp932") for i in range(0, len(body), RECORD_LENGTH)]


def _fields(record: str, widths: list[int]) -> list[str]:
    out, pos = [], 0
    for w in widths:
        out.append(record[pos:pos + w])
        pos += w
    return out


def parse_zengin(content: bytes, *, year: int) -> ZenginFile:
    """Read a 総合振込 file back; checks the record order, the fixed codes and the trailer's totals.

    The file holds only MMDD of the transfer date: `year` completes it."""
    records = _records(content)
    if len(records) < 3 or records[0][0] != "1" or records[-1][0] != "9" or records[-2][0] != "8":
        raise ZenginFormatError("ヘッダー・データ・トレーラー・エンドの並びが正しくありません")
    kind, code, code_kind, req, req_name, mmdd, bank, bank_name, branch, branch_name, acct_type, acct, dummy = _fields(
        records[0], [1, 2, 1, 10, 40, 4, 4, 15, 3, 15, 1, 7, 17])
    if code != "21" or code_kind != "0":
        raise ZenginFormatError(f"種別コード・コード区分が総合振込ではありません（{code}/{code_kind}）")
    header = Header(requester_code=req, requester_name=req_name.rstrip(), transfer_date=date(year, int(mmdd[:2]), int(mmdd[2:])),
                    bank_code=bank, bank_name=bank_name.rstrip(), branch_code=branch, branch_name=branch_name.rstrip(),
                    account_type=acct_type, account_no=acct)
    transfers = []
    for i, r in enumerate(records[1:-2], start=2):
        if r[0] != "2":
            raise ZenginFormatError(f"{i}レコード目: データレコードではありません（区分 {r[0]}）")
        (_, bank, bank_name, branch, branch_name, clearing, acct_type, acct, payee, amount, new_code, c1, c2,
         kind_, ident, _dummy) = _fields(r, [1, 4, 15, 3, 15, 4, 1, 7, 30, 10, 1, 10, 10, 1, 1, 7])
        transfers.append(Transfer(bank_code=bank, bank_name=bank_name.rstrip(), branch_code=branch,
                                  branch_name=branch_name.rstrip(), account_type=acct_type, account_no=acct,
                                  payee_name=payee.rstrip(), amount=int(amount), new_code=new_code,
                                  customer_code1=c1, customer_code2=c2, transfer_kind=kind_, clearing_house=clearing))
    _, count, total, _ = _fields(records[-2], [1, 6, 12, 101])
    parsed = ZenginFile(header=header, transfers=transfers)
    if int(count) != parsed.count or int(total) != parsed.total:
        raise ZenginFormatError(f"トレーラーの合計（{int(count)}件・{int(total)}円）がデータ（{parsed.count}件・"
                                f"{parsed.total}円）と一致しません")
    return parsed
