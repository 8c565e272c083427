"""The rows an import refused, in two forms (seed III: personal data leaves only as an encrypted file).

The import writes every refused row — line number, 区分, the full Japanese reason and the original
columns — to a rejects file in the server's private upload directory (as `sesshu import records`
does for the operator). Out of sesshu it goes in one of two forms:

- without personal data: line number, 区分, error code and a fixed Japanese reason per code. The full
  reason can quote the row (宛名番号, 券番号, another person's 接種年月日…), so it is replaced by the
  reason of its code, naming at most the column (a header of the 予診票 file, never a value);
- the full rows: only through `sesshu.exports` — an AES-256 ZIP with the password given at export.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from sesshu.ledger.rows import RECORD_HEADERS

# (code, pattern on the full reason, reason without personal data); first match wins.
# "{label}" is filled only with a column name of the file (see _LABELS).
REASON_CODES: tuple[tuple[str, str, str], ...] = (
    ("I_COLUMNS", r"^列の数が", "列の数が見出しと一致しません"),
    ("I_ENCODING", r"^文字コード", "文字コードを解釈できない文字が含まれています"),
    ("I_NO_PERSON", r"住民記録にありません", "宛名番号の方が住民記録にありません"),
    ("I_ATENA", r"^宛名番号", "宛名番号が空か、15桁以内の数字ではありません"),
    ("I_BEFORE_BIRTH", r"^接種年月日が生年月日", "接種年月日が生年月日より前です"),
    ("I_FUTURE", r"^接種年月日が未来", "接種年月日が未来の日付です"),
    ("I_DATE", r"^接種年月日", "接種年月日を日付として読めません"),
    ("I_BILLING_MONTH", r"^請求月", "請求月を年月として読めません"),
    ("I_TICKET_OTHER", r"^券番号.*別の方", "別の方の接種券の券番号です"),
    ("I_TICKET_USED", r"^券番号.*使用済み", "使用済みの接種券の券番号です"),
    ("I_TICKET_INVALID", r"^券番号.*無効", "無効になった接種券の券番号です"),
    ("I_TICKET_TWICE", r"^券番号.*このファイル", "同じ券番号がこのファイルの別の行でも使われています"),
    ("I_TICKET_VACCINE", r"^券番号.*の接種券です", "接種種別の違う接種券の券番号です"),
    ("I_TICKET", r"^券番号", "券番号を確認できません"),
    ("I_MASTER", r"^(?P<label>[^「:：（ ]+)「[^」]*」はマスタに登録されていません", "{label}がマスタに登録されていません"),
    ("I_NOT_ALLOWED", r"^(?P<label>[^「:：（ ]+)「[^」]*」は使えません", "{label}に使えない値です"),
    ("I_TOO_LONG", r"^(?P<label>[^「:：（ ]+)が長すぎます", "{label}が長すぎます"),
    ("I_EMPTY", r"^(?P<label>[^「:：（ ]+)が空です", "{label}が空です"),
    ("I_VALUE", r"^(?P<label>[^「:：（ ]+?)(は|が|:)", "{label}の値が正しくありません"),
)
DUPLICATE = ("I_DUPLICATE", "同じ方・同じ接種種別・同じ接種年月日の記録が既にあります")
OTHER = ("I_ROW", "この行の値に誤りがあります")
_COMPILED = [(code, re.compile(pattern), text) for code, pattern, text in REASON_CODES]
_LABELS = frozenset(RECORD_HEADERS) | {"接種医療機関", "接種医師", "予診医療機関", "予診医師", "実施場所"}
REASONS_HEADER = ["行番号", "区分", "理由", "エラーコード"]


@dataclass(frozen=True)
class Reject:
    line_no: int
    kind: str  # エラー | 重複
    code: str
    reason: str  # without personal data


def coded_reason(kind: str, reason: str) -> tuple[str, str]:
    """(error code, Japanese reason with no value from the row) for one refused row."""
    if kind == "重複":
        return DUPLICATE
    for code, pattern, text in _COMPILED:
        m = pattern.search(reason)
        if not m:
            continue
        label = m.groupdict().get("label")
        if label is None:
            return code, text
        if label in _LABELS:
            return code, text.format(label=label)
    return OTHER


def read_rejects(path: Path, *, limit: int | None = None) -> list[Reject]:
    """The refused rows of a rejects file (RejectWriter's format), reasons without personal data."""
    out: list[Reject] = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = csv.reader(f)
        next(rows, None)
        for row in rows:
            if limit is not None and len(out) >= limit:
                break
            if len(row) < 3 or not row[0].isdigit():
                continue
            code, reason = coded_reason(row[1], row[2])
            out.append(Reject(line_no=int(row[0]), kind=row[1], code=code, reason=reason))
    return out


def count_rejects(path: Path) -> int:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return max(sum(1 for _ in csv.reader(f)) - 1, 0)


def reasons_csv(rejects: list[Reject]) -> bytes:
    """行番号・区分・理由・エラーコード only (UTF-8 with BOM for Excel): no personal data."""
    buf = io.StringIO()
    from sesshu.exports.service import CsvWriter

    writer = CsvWriter(buf)
    writer.writerow(REASONS_HEADER)
    for r in rejects:
        writer.writerow([r.line_no, r.kind, r.reason, r.code])
    return buf.getvalue().encode("utf-8-sig")


def full_rows_csv(path: Path) -> tuple[str, int]:
    """The rejects file as it is (line, 区分, full reason, original columns) with a code column added,
    each cell spreadsheet-safe; for the encrypted export only."""
    from sesshu.exports.service import CsvWriter

    buf = io.StringIO()
    writer = CsvWriter(buf)
    rows = 0
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, ["行番号", "区分", "理由"])
        writer.writerow([*header[:3], "エラーコード", *header[3:]])
        for row in reader:
            code = coded_reason(row[1], row[2])[0] if len(row) >= 3 else OTHER[0]
            writer.writerow([*row[:3], code, *row[3:]])
            rows += 1
    return buf.getvalue(), rows
