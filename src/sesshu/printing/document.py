"""A4 documents laid out in millimetres from the top-left corner, as paper forms are specified.

`PdfDocument` wraps a reportlab canvas: text in the embedded Japanese fonts, lines and boxes, tables,
QR codes (vector, model 2), NW-7 (Codabar) bars and OCR-B lines. `finish()` returns the bytes and their
SHA-256 — the hash that goes into the print log.

`SplitPdfWriter` is for batch runs (notices for tens of thousands of persons): a reportlab canvas keeps
its pages in memory until saved, so a run is cut into files of at most `max_units` units (a unit = one
person's pages) and memory stays flat whatever the run's size. Each file is written to a temporary name
and renamed when complete, so a file with the final name is never half written.
"""
from __future__ import annotations

import functools
import hashlib
import io
import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from reportlab.graphics.barcode import common, qrencoder
from reportlab.lib.pagesizes import A4
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen import canvas

from sesshu.exports.service import open_private, private_dir
from sesshu.printing.fonts import GOTHIC, OCRB, register_fonts

_DARK_RUNS = re.compile(rb"\x01+")  # a run of dark modules in a row of a QR code (bools as bytes)
_QR_MODES = {"byte": qrencoder.QR8bitByte, "numeric": qrencoder.QRNumber}
PAGE_WIDTH_MM = A4[0] / mm   # 210
PAGE_HEIGHT_MM = A4[1] / mm  # 297


@dataclass(frozen=True)
class PrintedPdf:
    content: bytes
    sha256: str
    pages: int

    media_type = "application/pdf"


class PdfDocument:
    """One PDF. Coordinates are millimetres from the page's top-left corner; `y` is a text's baseline."""

    def __init__(self, *, title: str, author: str, subject: str = "", target=None):
        register_fonts()
        self._buffer = target if target is not None else io.BytesIO()
        # invariant=1: no creation timestamp or random id, so the same content gives the same bytes
        # (a reprint can be matched to the print log by its hash).
        self.canvas = canvas.Canvas(self._buffer, pagesize=A4, invariant=1, pageCompression=1,
                                    initialFontName=GOTHIC, initialFontSize=10.5)
        self.canvas.setTitle(title)
        self.canvas.setAuthor(author)
        self.canvas.setSubject(subject)
        self.canvas.setCreator("sesshu")
        self.pages = 0
        self._page_open = False
        # Text operators by (position, value, size, font, align), valid within this document (its font subsets)
        self._texts: dict[tuple, str] = {}

    # --- pages ---------------------------------------------------------------------------------------
    def new_page(self) -> None:
        if self._page_open:
            self.canvas.showPage()
        self._page_open = True
        self.pages += 1

    def _ensure_page(self) -> None:
        if not self._page_open:
            self.new_page()

    # --- drawing -------------------------------------------------------------------------------------
    @staticmethod
    def _xy(x_mm: float, y_mm: float) -> tuple[float, float]:
        return x_mm * mm, (PAGE_HEIGHT_MM - y_mm) * mm

    def text(self, x: float, y: float, value: str, *, size: float = 10.5, font: str = GOTHIC,
             align: str = "left") -> None:
        """One line of text with its baseline at (x, y). align: left / right / center (x is that edge)."""
        self._ensure_page()
        c = self.canvas
        if c._fontname != font or c._fontsize != size:
            c.setFont(font, size)
        key = (x, y, value, size, font, align)
        code = self._texts.get(key)
        if code is not None:  # the same field with the same value (a batch's date, line, municipality)
            c._code.append(code)
            return
        px, py = self._xy(x, y)
        if align != "left":
            width = pdfmetrics.stringWidth(value, font, size)
            px -= width if align == "right" else width / 2
        # The text object canvas.drawString would build, written straight into the page: a batch of
        # notices draws a quarter of a million strings, and reportlab's general text object (shaping,
        # rise, cursor state) was a third of a page's time. Same operators: font subset, Tm, Tj.
        f = pdfmetrics.getFont(font)
        doc = c._doc
        code = [f"BT 1 0 0 1 {fp_str(px, py)} Tm"]
        subset_font = f"{fp_str(size)} Tf {fp_str(size * 1.2)} TL"
        last = None
        for subset, t in f.splitString(value, doc):
            if subset != last:
                code.append(f"{f.getSubsetInternalName(subset, doc)} {subset_font}")
                last = subset
            code.append(f"({c._escape(t)}) Tj")
        code.append("ET")
        self._texts[key] = code = " ".join(code)
        c._code.append(code)

    def lines(self, x: float, y: float, values: list[str], *, size: float = 10.5, font: str = GOTHIC,
              leading: float | None = None) -> float:
        """Several lines downwards from baseline y; returns the baseline after the last one."""
        step = leading if leading is not None else size * 0.3528 * 1.6  # pt → mm, 1.6 line spacing
        for value in values:
            self.text(x, y, value, size=size, font=font)
            y += step
        return y

    def spaced_text(self, x: float, y: float, value: str, *, pitch: float, size: float, font: str = OCRB) -> None:
        """Characters at a fixed pitch (mm), as OCR lines and pre-printed digit boxes need."""
        advances = {pdfmetrics.stringWidth(ch, font, size) for ch in set(value)}
        if len(advances) == 1:
            # A monospaced font (OCR-B): one string with character spacing puts every glyph at the same place
            # as one string per character, and the line stays one word for text extraction.
            self._ensure_page()
            px, py = self._xy(x, y)
            t = self.canvas.beginText(px, py)
            t.setFont(font, size)
            t.setCharSpace(pitch * mm - advances.pop())
            t.textOut(value)
            self.canvas.drawText(t)
            return
        for i, ch in enumerate(value):
            self.text(x + i * pitch, y, ch, size=size, font=font)

    def line(self, x1: float, y1: float, x2: float, y2: float, *, width: float = 0.5, dash: tuple | None = None) -> None:
        self._ensure_page()
        c = self.canvas
        c.setLineWidth(width)
        if dash:  # a dashed line resets the dash after itself, so a solid one needs no reset
            c.setDash(*dash)
        c.line(*self._xy(x1, y1), *self._xy(x2, y2))
        if dash:
            c.setDash()

    def box(self, x: float, y: float, w: float, h: float, *, width: float = 0.5, fill_gray: float | None = None) -> None:
        """A rectangle whose top-left corner is (x, y)."""
        self._ensure_page()
        c = self.canvas
        c.setLineWidth(width)
        px, py = self._xy(x, y + h)
        if fill_gray is not None:
            c.setFillGray(fill_gray)
            c.rect(px, py, w * mm, h * mm, stroke=1, fill=1)
            c.setFillGray(0)
        else:
            c.rect(px, py, w * mm, h * mm, stroke=1, fill=0)

    def table(self, x: float, y: float, widths: list[float], rows: list[list[str]], *, row_height: float = 7,
              size: float = 9, header: bool = True, align: list[str] | None = None, font: str = GOTHIC) -> float:
        """A ruled table from top-left (x, y); the first row is shaded when `header`. Cells are cut to their
        width (never overflow into the next). Returns the y below the table."""
        total = sum(widths)
        for r, row in enumerate(rows):
            top = y + r * row_height
            self.box(x, top, total, row_height, width=0.4, fill_gray=0.9 if header and r == 0 else None)
            cx = x
            for i, (w, cell) in enumerate(zip(widths, row)):
                if i:
                    self.line(cx, top, cx, top + row_height, width=0.4)
                kind = (align[i] if align else "left") if not (header and r == 0) else "center"
                value = fit_text(str(cell), font, size, w - 2)
                baseline = top + row_height / 2 + size * 0.3528 * 0.35
                if kind == "right":
                    self.text(cx + w - 1, baseline, value, size=size, font=font, align="right")
                elif kind == "center":
                    self.text(cx + w / 2, baseline, value, size=size, font=font, align="center")
                else:
                    self.text(cx + 1, baseline, value, size=size, font=font)
                cx += w
        return y + len(rows) * row_height

    def qr(self, x: float, y: float, size: float, data: str, *, level: str = "M", mask: int | None = None) -> int:
        """A QR code (model 2) whose top-left corner is (x, y), `size` mm square including the 4-module
        quiet zone. Modules are drawn straight on the canvas as filled rectangles (vector, no image).
        Returns the QR version (1–40) it needed.

        `mask` (0–7) fixes the mask pattern instead of trying all eight for the best score — most of the
        encoding time; every reader decodes any mask (batch runs print tens of thousands of codes)."""
        return self.qr_segments(x, y, size, [("auto", data)], level=level, mask=mask)

    def qr_segments(self, x: float, y: float, size: float, segments: list[tuple[str, str]], *,
                    level: str = "M", mask: int | None = None) -> int:
        """A QR code made of explicit data segments, each (mode, text) with mode byte / numeric / auto.

        Some formats fix the segments: a SMART Health Card is "shc:/" in byte mode followed by its digits
        in numeric mode (one segment per mode keeps the code small enough for a 40 mm print)."""
        self._ensure_page()
        code = (qrencoder.QRCode if mask is None else _FixedMaskQR)(None, getattr(qrencoder.QRErrorCorrectLevel, level))
        for mode, text in segments:
            code.addData(_QR_MODES[mode](text) if mode != "auto" else text)
        if mask is None:
            code.make()
        else:
            if code.version is None:
                code.version = code.calculate_version()
            code.makeImpl(False, mask)
        count = code.getModuleCount()
        cell = size / (count + 8)
        # One filled path in module units: a transformation maps module (col, row) to the page, so each run
        # of dark modules is a short integer "re" — a batch prints tens of thousands of codes.
        runs = [f"{m.start()} {r} {m.end() - m.start()} 1 re"
                for r, row in enumerate(code.modules) for m in _DARK_RUNS.finditer(bytes(row))]
        x0, y0 = self._xy(x + 4 * cell, y + 4 * cell)
        c = self.canvas
        c.setFillGray(0)
        c.addLiteral(f"q {cell * mm:.4f} 0 0 {-cell * mm:.4f} {x0:.3f} {y0:.3f} cm {' '.join(runs)} f Q")
        return code.version

    def nw7(self, x: float, y: float, data: str, *, height: float = 10, bar_width: float = 0.3) -> None:
        """An NW-7 (Codabar) barcode, start/stop character A, whose top-left corner is (x, y)."""
        self._ensure_page()
        bars = common.Codabar(value=f"A{data}A", barHeight=height * mm, barWidth=bar_width * mm,
                              checksum=0, quiet=0, humanReadable=0)
        bars.validate()
        bars.encode()
        bars.decompose()
        # The bars as Codabar.draw places them (narrow b, wide B, spaces s/S, gap i), in units of the narrow
        # bar, in one literal instead of a canvas call each (a batch prints tens of thousands). Each bar stays
        # a fill of its own: rasterisers snap a single-rectangle fill to whole pixels, so bars stay crisp.
        unit = bars.barWidth
        widths = {"b": 1.0, "B": bars.ratio, "s": 1.0, "S": bars.ratio,
                  "i": (bars.gap if bars.gap is not None else unit) / unit}
        left, rects = 0.0, []
        for ch in bars.decomposed:
            w = widths[ch]
            if ch in "bB":
                rects.append("%s 0 %s 1 re f" % (left, w) if left % 1 or w % 1 else "%d 0 %d 1 re f" % (left, w))
            left += w
        px, py = self._xy(x, y + height)
        self.canvas.setFillGray(0)
        self.canvas.addLiteral(f"q {fp_str(unit)} 0 0 {fp_str(bars.barHeight)} {fp_str(px, py)} cm {' '.join(rects)} Q")

    # --- output --------------------------------------------------------------------------------------
    def finish(self) -> PrintedPdf:
        self._ensure_page()
        self.canvas.showPage()
        self.canvas.save()
        if not isinstance(self._buffer, io.BytesIO):
            raise TypeError("finish() returns bytes only for in-memory documents; use SplitPdfWriter for files")
        content = self._buffer.getvalue()
        return PrintedPdf(content=content, sha256=hashlib.sha256(content).hexdigest(), pages=self.pages)


@functools.cache
def _rs_generator_logs(ec_count: int) -> tuple[int, ...]:
    """The Reed–Solomon generator polynomial of a block with ec_count error-correction codewords (reportlab's),
    as the logarithms of its coefficients after the leading 1."""
    return tuple(qrencoder.LOG_TABLE[c] for c in qrencoder.QRUtil.getErrorCorrectPolynomial(ec_count).num[1:])


def _rs_remainder(data: list[int], ec_count: int) -> list[int]:
    """The error-correction codewords of a block: data·x^ec mod the generator, by the shift-register division
    every QR encoder uses (reportlab divides polynomial objects recursively: most of a ticket's QR time)."""
    gen, exp, log = _rs_generator_logs(ec_count), qrencoder.EXP_TABLE, qrencoder.LOG_TABLE
    rem = [0] * ec_count
    for d in data:
        factor = d ^ rem[0]
        rem = rem[1:]
        rem.append(0)
        if factor:
            lf = log[factor]
            rem = [r ^ exp[(lf + g) % 255] for r, g in zip(rem, gen)]
    return rem


class _FixedMaskQR(qrencoder.QRCode):
    """reportlab's QR code with a mask chosen by the caller, for batch prints: what every code of one
    version, level and mask shares — the finder, timing and alignment patterns, format information,
    the order of the data modules and the mask over them — is laid out once per process and copied.
    Module for module the code `QRCode.makeImpl(False, mask)` draws (tests/unit/test_printing.py)."""

    _layouts: dict[tuple[int, int, int], tuple[list[list[bool]], list[tuple[int, int, bool]]]] = {}

    def makeImpl(self, test, maskPattern):
        key = (self.version, self.errorCorrectLevel, maskPattern)
        layout = None if test else self._layouts.get(key)
        if layout is None:
            if test:
                return super().makeImpl(test, maskPattern)
            self.moduleCount = self.version * 4 + 17
            self.modules = [[False] * self.moduleCount for _ in range(self.moduleCount)]
            self.setupPositionProbePattern(0, 0)
            self.setupPositionProbePattern(self.moduleCount - 7, 0)
            self.setupPositionProbePattern(0, self.moduleCount - 7)
            self.setupPositionAdjustPattern()
            self.setupTimingPattern()
            self.setupTypeInfo(False, maskPattern)
            if self.version >= 7:
                self.setupTypeNumber(False)
            mask = qrencoder.QRUtil.getMask(maskPattern)
            layout = self._layouts[key] = ([row[:] for row in self.modules],
                                           [(col, row, bool(mask(row, col))) for col, row in self.dataPosIterator()])
        template, positions = layout
        self.moduleCount = len(template)
        self.modules = [row[:] for row in template]
        if self.dataCache is None:
            self.dataCache = self._codewords()
        bits = list(self.dataBitIterator(self.dataCache))
        bits += [False] * (len(positions) - len(bits))
        modules = self.modules
        for (col, row, masked), dark in zip(positions, bits):
            modules[row][col] = dark ^ masked

    def _codewords(self) -> list[int]:
        """QRCode.createData: the segments, terminator and padding, then each block's data and error-correction
        codewords interleaved — with the error correction computed by _rs_remainder."""
        blocks = qrencoder.QRRSBlock.getRSBlocks(self.version, self.errorCorrectLevel)
        buffer = qrencoder.QRBitBuffer()
        for data in self.dataList:
            data.write(buffer, self.version)
        capacity = sum(b.dataCount for b in blocks) * 8
        if buffer.getLengthInBits() > capacity:
            raise ValueError(f"code length overflow. ({buffer.getLengthInBits()} > {capacity})")
        if buffer.getLengthInBits() + 4 <= capacity:
            buffer.put(0, 4)
        while buffer.getLengthInBits() % 8:
            buffer.putBit(False)
        codewords = buffer.buffer
        pads = itertools.cycle((qrencoder.QRCode.PAD0, qrencoder.QRCode.PAD1))
        while len(codewords) * 8 < capacity:
            codewords.append(next(pads))
        dc, ec, offset = [], [], 0
        for b in blocks:
            dc.append(codewords[offset:offset + b.dataCount])
            offset += b.dataCount
            ec.append(_rs_remainder(dc[-1], b.totalCount - b.dataCount))
        return [d for group in itertools.chain(itertools.zip_longest(*dc), itertools.zip_longest(*ec))
                for d in group if d is not None]


def fit_text(value: str, font: str, size: float, width_mm: float) -> str:
    """The value cut (with …) so it fits `width_mm`."""
    if pdfmetrics.stringWidth(value, font, size) <= width_mm * mm:
        return value
    while value and pdfmetrics.stringWidth(value + "…", font, size) > width_mm * mm:
        value = value[:-1]
    return value + "…"


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    sha256: str
    pages: int
    units: int


class SplitPdfWriter:
    """Writes units (one person's pages each) into files `{stem}-001.pdf`, `-002`, … of at most `max_units`.

    `draw(doc)` callbacks add a unit's pages to the current document. Files appear under their final
    name only when complete.
    """

    def __init__(self, out_dir: Path, stem: str, *, title: str, author: str, max_units: int = 1000,
                 first_index: int = 1):
        self.out_dir = Path(out_dir)
        private_dir(self.out_dir)
        self.stem, self.title, self.author, self.max_units = stem, title, author, max_units
        self.index = first_index - 1
        self.files: list[WrittenFile] = []
        self._doc: PdfDocument | None = None
        self._units = 0
        self._tmp: Path | None = None

    def file_name(self, index: int) -> str:
        return f"{self.stem}-{index:03d}.pdf"

    def add(self, draw: Callable[[PdfDocument], None]) -> None:
        if self._doc is None:
            self._open()
        draw(self._doc)
        self._units += 1
        if self._units >= self.max_units:
            self._close()

    def _open(self) -> None:
        self.index += 1
        self._tmp = self.out_dir / (self.file_name(self.index) + ".part")
        self._handle = open_private(self._tmp)  # printed letters carry names and addresses: 0600
        self._doc = PdfDocument(title=f"{self.title}（{self.index}）", author=self.author, target=self._handle)
        self._units = 0

    def _close(self) -> None:
        doc, tmp = self._doc, self._tmp
        doc._ensure_page()
        doc.canvas.showPage()
        doc.canvas.save()
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        final = self.out_dir / self.file_name(self.index)
        os.replace(tmp, final)
        digest = hashlib.sha256(final.read_bytes()).hexdigest()
        self.files.append(WrittenFile(path=final, sha256=digest, pages=doc.pages, units=self._units))
        self._doc, self._tmp = None, None

    def close(self) -> list[WrittenFile]:
        if self._doc is not None:
            self._close()
        return self.files
