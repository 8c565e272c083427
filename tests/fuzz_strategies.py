"""Hypothesis strategies for the files staff import: 住基 (registry) and 予診票 (records) CSV.

They mix good rows with the trouble real files bring: CP932 and UTF-8 (with or without BOM) and
bytes that are neither, every era and date spelling, full-width digits and spaces, broken rows
(too few/many columns, stray quotes, lone CR), huge fields, NUL bytes, and damaged headers."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, my_number

# Short in the suite, long in scripts/fuzz (SESSHU_FUZZ_EXAMPLES).
EXAMPLES = int(os.environ.get("SESSHU_FUZZ_EXAMPLES", "12"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("SESSHU_FUZZ_EXAMPLES"),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])

FULL = str.maketrans("0123456789-/ ", "０１２３４５６７８９－／　")
ERAS = ["M", "T", "S", "H", "R", "明治", "大正", "昭和", "平成", "令和", "m", "r", "X"]


def widen(text: str) -> str:
    return text.translate(FULL)


@st.composite
def dates(draw) -> str:
    y, m, d = draw(st.integers(1860, 2100)), draw(st.integers(0, 13)), draw(st.integers(0, 32))
    era = draw(st.sampled_from(ERAS))
    ey = draw(st.integers(0, 70))
    text = draw(st.sampled_from([
        f"{y}-{m:02d}-{d:02d}", f"{y}/{m}/{d}", f"{y}{m:02d}{d:02d}", f"{era}{ey}.{m}.{d}",
        f"{era}{ey}年{m}月{d}日", f"{era}元年{m}月{d}日", f"R{ey:02d}{m:02d}{d:02d}", f"{draw(st.integers(1, 5))}{ey:02d}{m:02d}{d:02d}",
        "", "不明", "2023-02-29", "0000-00-00",
    ]))
    return widen(text) if draw(st.booleans()) else text


NASTY = st.sampled_from(["\x00", "\x00\x00abc", '"', '""', "\r", "\n", "𠮷", "髙", "①", "ｶﾀｶﾅ", "\ufeff", "\u3000",
                         "=cmd|'/C calc'!A0", "<script>", "'; DROP TABLE person; --", "\\", "\t"])


def field(base: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        base, base.map(widen), NASTY,
        st.text(max_size=20),
        st.integers(1000, 100_000).map(lambda n: "あ" * n),  # huge field
        st.text(alphabet=st.characters(codec="utf-8"), max_size=5).map(lambda t: t + "\x00"),
    )


ATENA = st.one_of(st.sampled_from(["1001", "1002", "1003", "9999"]), st.from_regex(r"[0-9]{1,16}", fullmatch=True))
VACCINE = st.sampled_from(["MR", "HIB", "FLU_ELDER", "BCG", "PCV", "mr", "ＭＲ", "XYZ", ""])


def _csv_cell(value: str, quote: bool) -> str:
    if quote or any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def csv_file(draw, header: str, row: st.SearchStrategy[list[str]]) -> bytes:
    columns = header.split(",")
    head = draw(st.sampled_from(["ok", "ok", "ok", "shuffled", "missing", "duplicate", "extra", "empty", "wide"]))
    if head == "shuffled":
        columns = draw(st.permutations(columns))
    elif head == "missing":
        columns = columns[1:]
    elif head == "duplicate":
        columns = columns + [columns[0]]
    elif head == "extra":
        columns = columns + ["余分な列"]
    elif head == "wide":
        columns = [widen(c) + "　" for c in columns]
    lines = [] if head == "empty" else [",".join(columns)]
    for values in draw(st.lists(row, max_size=8)):
        shape = draw(st.sampled_from(["ok", "ok", "ok", "short", "long", "quoted", "broken_quote"]))
        if shape == "short":
            values = values[: draw(st.integers(0, len(values)))]
        elif shape == "long":
            values = values + ["x", "y"]
        line = ",".join(_csv_cell(v, shape == "quoted") for v in values)
        if shape == "broken_quote":
            line = '"' + line
        lines.append(line)
    newline = draw(st.sampled_from(["\r\n", "\n", "\r"]))
    text = newline.join(lines) + draw(st.sampled_from([newline, ""]))
    encoding = draw(st.sampled_from(["cp932", "utf-8", "utf-8-sig", "bytes"]))
    if encoding == "bytes":
        data = text.encode("utf-8")
        cut = draw(st.integers(0, max(0, len(data))))
        return data[:cut] + draw(st.binary(max_size=40)) + data[cut:]
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode("utf-8")


@st.composite
def record_row(draw) -> list[str]:
    values = [""] * 21
    values[0] = draw(field(ATENA))
    values[1] = draw(field(VACCINE))
    values[2] = draw(st.sampled_from(["", "1", "2", "１", "9"]))
    values[3] = draw(st.sampled_from(["", "1", "2", "3", "-1", "99999999999999999999"]))
    values[5] = draw(st.one_of(dates(), field(st.just("2023-06-09"))))
    values[7] = draw(st.sampled_from(["", "C001", "NOPE"]))
    values[13] = draw(field(st.just("AB123")))
    values[14] = draw(st.sampled_from(["", "0.5", "０．５", "abc", "1e309", "-1"]))
    values[15] = draw(st.sampled_from(["", "202306", "R5.6", "2023-13"]))
    values[20] = draw(field(st.just("備考")))
    return values


@st.composite
def registry_row(draw) -> list[str]:
    return [
        draw(field(ATENA)),
        draw(st.one_of(st.just(""), st.just(my_number("11112222333")), st.from_regex(r"[0-9]{10,13}", fullmatch=True))),
        draw(field(st.just("山田　太郎"))), draw(field(st.just("ヤマダ　タロウ"))),
        draw(st.sampled_from(["男", "女", "1", "2", "３", "他", ""])),
        draw(dates()), draw(field(st.just("360-0001"))), draw(field(st.just("熊谷市宮町一丁目1番地"))),
        draw(field(st.just("048-000-0000"))), draw(field(st.just("5001"))), draw(st.sampled_from(["世帯主", "子", ""])),
        draw(field(st.just("山田　太郎"))), draw(st.sampled_from(["住民", "転出", "死亡", "住登外", "宇宙人", ""])),
        draw(st.sampled_from(["", "転入", "出生"])), draw(st.one_of(dates(), st.just(""))),
    ]


RECORD_FILES = csv_file(RECORD_HEADER, record_row())
REGISTRY_FILES = csv_file(REGISTRY_HEADER, registry_row())
