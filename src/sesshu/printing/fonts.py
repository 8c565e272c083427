"""Fonts embedded in every PDF: IPAex Gothic / Mincho for Japanese text, OCR-B for machine-read lines.

The fonts come from Debian's packages (fonts-ipaexfont-gothic, fonts-ipaexfont-mincho, fonts-ocr-b),
installed by scripts/setup. reportlab embeds a subset of each TrueType font it uses, so a PDF shows the
same glyphs on any viewer or printer, with no font installed there.

Debian ships OCR-B only as OpenType with PostScript (CFF) outlines, which reportlab cannot embed; it is
converted to TrueType outlines in memory once per process (fontTools, cubic → quadratic curves within
one font unit), which keeps the real glyph shapes and extractable text.
"""
from __future__ import annotations

import functools
import io
import os
import threading
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from sesshu.domain.errors import DomainError

GOTHIC = "IPAexGothic"
MINCHO = "IPAexMincho"
OCRB = "OCR-B"

# Debian's locations first; SESSHU_FONT_DIR (a folder holding the same file names) wins when set.
_CANDIDATES = {
    GOTHIC: ("ipaexg.ttf", ["/usr/share/fonts/opentype/ipaexfont-gothic", "/usr/share/fonts/truetype/ipaexfont-gothic"]),
    MINCHO: ("ipaexm.ttf", ["/usr/share/fonts/opentype/ipaexfont-mincho", "/usr/share/fonts/truetype/ipaexfont-mincho"]),
    OCRB: ("OCRB.otf", ["/usr/share/fonts/opentype/ocr-b"]),
}
_lock = threading.Lock()
_registered = False


class FontMissing(DomainError):
    code = "E_FONT_MISSING"


def font_path(name: str) -> Path:
    file_name, folders = _CANDIDATES[name]
    extra = os.environ.get("SESSHU_FONT_DIR")
    for folder in ([extra] if extra else []) + folders:
        path = Path(folder) / file_name
        if path.is_file():
            return path
    raise FontMissing(f"印刷用のフォント {file_name} が見つかりません。scripts/setup を実行して"
                      "フォント（fonts-ipaexfont-gothic / fonts-ipaexfont-mincho / fonts-ocr-b）を導入してください")


def _cff_to_truetype(path: Path) -> io.BytesIO:
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTFont as FtFont, newTable

    # recalcTimestamp=False: saving would stamp `head.modified` with the current time, which reaches every
    # PDF through the embedded subset — the same notice printed by two processes would differ in bytes
    # (and its logged SHA-256) although it prints the same.
    font = FtFont(str(path), recalcTimestamp=False)
    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    for attr in ("maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs", "maxStackElements",
                 "maxSizeOfInstructions", "maxComponentElements", "maxComponentDepth"):
        setattr(maxp, attr, 0)
    maxp.maxZones = 1
    for table in ("CFF ", "VORG"):
        if table in font:
            del font[table]
    font["head"].glyphDataFormat = 0
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    font.sfntVersion = "\x00\x01\x00\x00"
    out = io.BytesIO()
    font.save(out)
    out.seek(0)
    return out


def register_fonts() -> None:
    """Register the three fonts with reportlab (once per process; safe from several threads)."""
    global _registered
    if _registered:
        return
    with _lock:
        if _registered:
            return
        for font in (TTFont(GOTHIC, str(font_path(GOTHIC))), TTFont(MINCHO, str(font_path(MINCHO))),
                     TTFont(OCRB, _cff_to_truetype(font_path(OCRB)))):
            _reuse_subsets(font.face)
            pdfmetrics.registerFont(font)
        _registered = True


def _reuse_subsets(face) -> None:
    """Every PDF embeds a subset of each font it uses, and reportlab builds it from a copy of each table of
    the font file — IPAex's glyph table is megabytes — for every document: most of the cost of a small PDF
    (a month's files are 150 statements). The tables are read once per process instead, and a subset
    asked for again (the same title on every statement) is made once; both are pure functions of the font."""
    face.get_table = functools.cache(face.get_table)
    face.makeSubset = _cached_subset(face.makeSubset)


def _cached_subset(make_subset):
    @functools.lru_cache(maxsize=64)
    def by_key(key: tuple[int, ...]) -> bytes:
        return make_subset(list(key))

    return lambda subset: by_key(tuple(subset))
