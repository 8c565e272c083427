"""Layout pieces every mailed document shares: the address block for a window envelope, Japanese wrapping."""
from __future__ import annotations

from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics

from sesshu.printing.document import PdfDocument
from sesshu.printing.fonts import GOTHIC

# 長形3号 window envelope (A4 folded in three): the window is about 90 × 45 mm, 20–25 mm from the left
# and 12–15 mm from the top edge of the folded sheet. The block is kept inside (x, y, width, height) with a
# margin on every side so it stays visible whichever way the sheet shifts in the envelope.
ADDRESS_WINDOW = (25.0, 16.0, 85.0, 38.0)

# Characters that may not start a line (行頭禁則) in Japanese typesetting (JIS X 4051, simplified).
_NO_LINE_START = set("、。，．・：；？！ー）」』】〕〉》”’ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々")


# Glyph advances per (font, size): they add up (no kerning), so a character is measured once per process
# (a notice batch wraps a letter per person).
_ADVANCES: dict[tuple[str, float], dict[str, float]] = {}


def wrap_text(value: str, font: str, size: float, width_mm: float) -> list[str]:
    """Lines of at most `width_mm`, broken between any two characters (Japanese has no spaces), keeping
    closing punctuation and small kana off the start of a line. Newlines in `value` are kept."""
    width = width_mm * mm
    out: list[str] = []
    advance = _ADVANCES.setdefault((font, size), {})
    for paragraph in value.split("\n"):
        line, used = "", 0.0
        for ch in paragraph:
            w = advance.get(ch)
            if w is None:
                w = advance[ch] = pdfmetrics.stringWidth(ch, font, size)
            if line and used + w > width and ch not in _NO_LINE_START:
                out.append(line)
                line, used = ch, w
            else:
                line += ch
                used += w
        out.append(line)
    return out


def address_block(doc: PdfDocument, *, postal_code: str, address: str, name: str, honorific: str = "様",
                  window: tuple[float, float, float, float] = ADDRESS_WINDOW) -> None:
    """〒, address (wrapped) and name with 様, placed inside the envelope window."""
    x, y, w, h = window
    postal = postal_code.strip()
    if postal and "-" not in postal and len(postal) == 7:
        postal = f"{postal[:3]}-{postal[3:]}"
    baseline = y + 5
    if postal:
        doc.text(x, baseline, f"〒{postal}", size=10)
        baseline += 6
    for line in wrap_text(address, GOTHIC, 10.5, w)[:3]:
        doc.text(x, baseline, line, size=10.5)
        baseline += 5.5
    baseline = max(baseline + 3, y + 24)
    size = 14
    label = f"{name}　{honorific}" if honorific else name
    while size > 9 and pdfmetrics.stringWidth(label, GOTHIC, size) > w * mm:
        size -= 0.5
    doc.text(x, min(baseline, y + h - 2), label, size=size)


def wrapped_rows(widths: list[float], rows: list[list[str]], *, size: float, min_height: float = 7,
                 font: str = GOTHIC) -> list[tuple[list[list[str]], float]]:
    """Each row's cells as wrapped lines, with the row's height: nothing is cut, a long name takes
    another line (the cut tables printed 「熊谷市立こども…」 on certificates)."""
    line = size * 0.3528 * 1.25
    out = []
    for row in rows:
        cells = [wrap_text(str(c), font, size, w - 2) or [""] for w, c in zip(widths, row)]
        height = max(min_height, max(len(c) for c in cells) * line + 2.6)
        out.append((cells, height))
    return out


def draw_wrapped_table(doc: PdfDocument, x: float, y: float, widths: list[float],
                       rows: list[tuple[list[list[str]], float]], *, size: float, header: bool = True,
                       font: str = GOTHIC) -> float:
    """A ruled table of rows from wrapped_rows, from top-left (x, y); the first row shaded and centred
    when `header`. Returns the y below the table."""
    total = sum(widths)
    line = size * 0.3528 * 1.25
    top = y
    for r, (cells, height) in enumerate(rows):
        is_header = header and r == 0
        doc.box(x, top, total, height, width=0.4, fill_gray=0.9 if is_header else None)
        cx = x
        for i, (w, lines) in enumerate(zip(widths, cells)):
            if i:
                doc.line(cx, top, cx, top + height, width=0.4)
            first = top + (height - len(lines) * line) / 2 + line * 0.78
            for k, text in enumerate(lines):
                if is_header:
                    doc.text(cx + w / 2, first + k * line, text, size=size, font=font, align="center")
                else:
                    doc.text(cx + 1, first + k * line, text, size=size, font=font)
            cx += w
        top += height
    return top
