"""Reading CSV files from clinics and other systems: CP932 or UTF-8 (with or without BOM).

The encoding is decided by a streaming pre-pass over the bytes, so memory stays flat whatever the
file size. Headers are matched after normalising (full-width → half-width, spaces removed).
Rows are yielded with their line number in the file, so staff can find a rejected row.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from sesshu.domain.errors import InvalidInput
from sesshu.domain.text import clean
from sesshu.exports.service import CsvWriter, open_private

_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileFacts:
    encoding: str  # "utf-8-sig", "utf-8" or "cp932"
    sha256: str
    size: int


def inspect_file(path: Path) -> FileFacts:
    """One pass over the bytes: the SHA-256 of the file and whether it is valid UTF-8."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8_ok, size, first = True, 0, b""
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            if not first:
                first = block[:3]
            size += len(block)
            digest.update(block)
            if utf8_ok:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    utf8_ok = False
    if utf8_ok:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_ok = False
    if first.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif utf8_ok:
        encoding = "utf-8"
    else:
        encoding = "cp932"
    return FileFacts(encoding=encoding, sha256=digest.hexdigest(), size=size)


def header_key(name: str) -> str:
    """Headers match whatever their width, spacing or letter case (Lot No, ＬｏｔＮｏ, LOTNO)."""
    return clean(name).replace(" ", "").replace("　", "").upper()


@dataclass(slots=True)
class CsvRow:
    line_no: int
    values: dict[str, str]
    raw: list[str]
    problem: str | None = None


class CsvSource:
    """Iterates data rows as {canonical header: raw text}; unknown extra columns are ignored."""

    def __init__(self, path: Path, *, facts: FileFacts, required: tuple[str, ...], known: tuple[str, ...]):
        self.path = path
        self.facts = facts
        self.required = required
        self.known = known
        self.header: list[str] = []

    def rows(self) -> Iterator[CsvRow]:
        # cp932 files may still hold bytes outside the code page; keep the row and reject it, not the file.
        errors = "replace" if self.facts.encoding == "cp932" else "strict"
        with open(self.path, encoding=self.facts.encoding, errors=errors, newline="") as f:
            reader = csv.reader(f)
            header_line: list[str] | None = None
            try:
                for header_line in reader:
                    if any(c.strip() for c in header_line):
                        break
            except csv.Error as e:
                # A field past the csv module's limit or a NUL in the first line (found by fuzzing).
                raise InvalidInput(f"{reader.line_num}行目付近でCSVの形式が壊れています（見出し行）: {e}") from None
            if not header_line:
                raise InvalidInput("ファイルが空です（見出し行がありません）")
            self.header = list(header_line)
            canonical = {header_key(k): k for k in self.known}
            keys = [canonical.get(header_key(h), "") for h in header_line]
            missing = [r for r in self.required if r not in keys]
            if missing:
                raise InvalidInput(f"必須の見出しがありません: {'、'.join(missing)}")
            index = [(k, i) for i, k in enumerate(keys) if k]
            width = len(keys)
            check_replaced = errors == "replace"
            try:
                yield from self._data_rows(reader, keys, index, width, check_replaced)
            except csv.Error as e:
                # An unterminated quote swallows the rest of the file: refuse the file, store nothing.
                raise InvalidInput(f"{reader.line_num}行目付近でCSVの形式が壊れています（引用符の閉じ忘れなど）: {e}") from None

    @staticmethod
    def _data_rows(reader, keys, index, width, check_replaced) -> Iterator[CsvRow]:
        for raw in reader:
            line_no = reader.line_num
            joined = "".join(raw)
            if not joined or joined.isspace():
                continue
            problem = None
            if len(raw) > width and not "".join(raw[width:]).strip():
                raw = raw[:width]  # trailing empty cells, as spreadsheets often write them
            if len(raw) != width:
                problem = f"列の数が見出しと一致しません（見出し{width}列、この行{len(raw)}列）"
                values = {k: (raw[i] if i < len(raw) else "") for k, i in index}
            else:
                if check_replaced and "\ufffd" in joined:
                    problem = "文字コードを解釈できない文字が含まれています"
                values = dict(zip(keys, raw))
            yield CsvRow(line_no=line_no, values=values, raw=raw, problem=problem)


class RejectWriter:
    """Rejected rows with their line number and a Japanese reason (UTF-8 with BOM, opens in Excel).

    Rows are buffered per chunk and written in line order when the chunk is flushed, so a reason
    found late (unknown person, duplicate) still lands in file order.
    """

    def __init__(self, path: Path | None, *, masked: dict[str, Callable[[str], str]] | None = None):
        """`masked`: columns (by header) whose values never reach the file in full (個人番号, 4情報)."""
        self.path = path
        self.masked = masked or {}
        self._file: io.TextIOWrapper | None = None
        self._writer = None
        self._pending: list[tuple[int, str, str, list[str]]] = []
        self.header: list[str] = []

    def write(self, line_no: int, kind: str, reason: str, raw: list[str]) -> None:
        if self.path is not None:
            self._pending.append((line_no, kind, reason, raw))

    def flush(self) -> None:
        if not self._pending:
            return
        if self._writer is None:
            self._file = open_private(self.path, "w", encoding="utf-8-sig", newline="")
            self._writer = CsvWriter(self._file)
            self._writer.writerow(["行番号", "区分", "理由", *self.header])
        self._pending.sort(key=lambda r: r[0])
        wanted = {header_key(k): f for k, f in self.masked.items()}
        masks = {i: wanted[header_key(h)] for i, h in enumerate(self.header) if header_key(h) in wanted}
        for line_no, kind, reason, raw in self._pending:
            self._writer.writerow([line_no, kind, reason,
                                   *[masks[i](v) if i in masks and v else v for i, v in enumerate(raw)]])
        self._pending.clear()

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
        elif self.path is not None:
            # Always leave a file behind so scripts need not special-case "no rejects".
            with open_private(self.path, "w", encoding="utf-8-sig", newline="") as f:
                CsvWriter(f).writerow(["行番号", "区分", "理由", *self.header])
