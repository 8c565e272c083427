"""Shared PDF printing: embedded Japanese fonts, text that can be extracted, QR that scans back."""
from __future__ import annotations

import subprocess
from pathlib import Path

from sesshu.printing import MINCHO, OCRB, PdfDocument, SplitPdfWriter, address_block, wrap_text


def _pdf(tmp_path: Path) -> Path:
    doc = PdfDocument(title="テスト文書", author="熊谷市")
    address_block(doc, postal_code="3600001", address="埼玉県熊谷市宮町一丁目1番地", name="山田　太郎")
    doc.text(20, 80, "予防接種のお知らせ", size=16, font=MINCHO)
    doc.table(20, 90, [40, 60], [["接種日", "ワクチン"], ["令和5年8月3日", "麻しん風しん混合"]])
    doc.text(20, 140, "112020112345678901", size=12, font=OCRB)
    doc.qr(150, 120, 30, "112020112345678901")
    printed = doc.finish()
    path = tmp_path / "doc.pdf"
    path.write_bytes(printed.content)
    assert printed.pages == 1 and len(printed.sha256) == 64
    return path


def test_fonts_are_embedded(tmp_path):
    out = subprocess.run(["pdffonts", str(_pdf(tmp_path))], capture_output=True, text=True, check=True).stdout
    rows = out.splitlines()[2:]
    names = {r.split()[0].split("+")[-1] for r in rows}
    assert {"IPAexGothic", "IPAexMincho", "OCRB-Regular"} <= names
    assert all(" yes " in r for r in rows), out  # every font embedded, none left to the viewer


def test_text_is_extractable(tmp_path):
    text = subprocess.run(["pdftotext", "-layout", str(_pdf(tmp_path)), "-"], capture_output=True, text=True,
                          check=True).stdout
    for expected in ("〒360-0001", "埼玉県熊谷市宮町一丁目1番地", "山田", "太郎", "様", "予防接種のお知らせ",
                     "麻しん風しん混合", "112020112345678901"):
        assert expected in text


def test_qr_scans_back(tmp_path):
    pdf = _pdf(tmp_path)
    subprocess.run(["pdftoppm", "-r", "200", "-png", str(pdf), str(tmp_path / "page")], check=True)
    png = next(tmp_path.glob("page*.png"))
    out = subprocess.run(["zbarimg", "-q", "--raw", str(png)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "112020112345678901"


def test_same_content_gives_the_same_bytes():
    def build():
        doc = PdfDocument(title="同じ", author="熊谷市")
        doc.text(20, 20, "同じ内容")
        return doc.finish()
    assert build().sha256 == build().sha256


def test_split_writer_cuts_a_run_into_files(tmp_path):
    writer = SplitPdfWriter(tmp_path, "notices", title="通知", author="熊谷市", max_units=2)
    for i in range(5):
        writer.add(lambda doc, i=i: (doc.new_page(), doc.text(20, 20, f"{i}人目")))
    files = writer.close()
    assert [f.path.name for f in files] == ["notices-001.pdf", "notices-002.pdf", "notices-003.pdf"]
    assert [f.units for f in files] == [2, 2, 1]
    assert not list(tmp_path.glob("*.part"))
    text = subprocess.run(["pdftotext", str(files[1].path), "-"], capture_output=True, text=True, check=True).stdout
    assert "2人目" in text and "3人目" in text


def test_japanese_wrapping_keeps_punctuation_off_the_line_start():
    lines = wrap_text("予防接種を受ける前に、必ず予診票をお読みください。", "IPAexGothic", 10.5, 30)
    assert len(lines) > 1
    assert all(not line.startswith(("、", "。")) for line in lines)
    assert "".join(lines) == "予防接種を受ける前に、必ず予診票をお読みください。"


def test_qr_with_a_fixed_mask_scans_back(tmp_path):
    doc = PdfDocument(title="QR", author="熊谷市")
    for mask in range(8):
        doc.new_page()
        doc.qr(20, 20, 30, "111120200000012345", mask=mask)
    path = tmp_path / "masks.pdf"
    path.write_bytes(doc.finish().content)
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(path), str(tmp_path / "m")], check=True)
    for png in sorted(tmp_path.glob("m*.png")):
        out = subprocess.run(["zbarimg", "-q", "--raw", str(png)], capture_output=True, text=True, check=True).stdout
        assert out.strip() == "111120200000012345", png.name
def test_qr_segments_in_byte_and_numeric_mode_scan_back_as_one_text(tmp_path):
    doc = PdfDocument(title="QR", author="熊谷市")
    digits = "5676290952432060346029243740446031222959532654603460292540772804336028702864716745"
    doc.qr_segments(20, 20, 60, [("byte", "shc:/"), ("numeric", digits)], level="L")
    pdf = tmp_path / "qr.pdf"
    pdf.write_bytes(doc.finish().content)
    subprocess.run(["pdftoppm", "-r", "200", "-png", str(pdf), str(tmp_path / "page")], check=True)
    png = next(tmp_path.glob("page*.png"))
    out = subprocess.run(["zbarimg", "-q", "--raw", str(png)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "shc:/" + digits


def test_numeric_segment_keeps_a_long_digit_run_in_a_small_qr():
    digits = "5" * 2390  # a 1195-character SMART Health Card
    doc = PdfDocument(title="QR", author="熊谷市")
    assert doc.qr_segments(20, 20, 40, [("byte", "shc:/"), ("numeric", digits)], level="L") == 22
    assert doc.qr(20, 80, 40, "shc:/" + digits, level="L") > 30  # one byte-mode segment needs far more


def test_the_same_content_gives_the_same_bytes_in_two_processes():
    """A reprint made by another process (tomorrow's server, a CLI run) matches the logged SHA-256:
    nothing of the moment — no timestamp in the PDF, none in the OCR-B font converted at start-up."""
    import subprocess
    import sys

    program = (
        "from sesshu.printing import PdfDocument\n"
        "from sesshu.printing.fonts import OCRB, MINCHO\n"
        "doc = PdfDocument(title='再現', author='熊谷市')\n"
        "doc.text(20, 20, '予防接種済証 山田 花子', size=12)\n"
        "doc.text(20, 40, '123456789012345678', font=OCRB, size=12)\n"
        "doc.text(20, 60, '令和8年12月3日', font=MINCHO)\n"
        "print(doc.finish().sha256)\n")
    digests = {subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout
               for _ in range(2)}
    assert len(digests) == 1


def test_batch_qr_draws_the_same_modules_as_reportlabs_encoder():
    """The fixed-mask encoder lays out what codes share once per process; every module must still be
    the one reportlab's own QRCode.makeImpl gives, for every mask, level and size of code."""
    from reportlab.graphics.barcode import qrencoder

    from sesshu.printing.document import _FixedMaskQR

    samples = ["111120200000012345", "999999999999999999", "0", "shc:/" + "7" * 300, "熊谷市 予防接種" * 20]
    for data in samples:
        for level in ("L", "M", "Q", "H"):
            for mask in range(8):
                codes = []
                for cls in (qrencoder.QRCode, _FixedMaskQR, _FixedMaskQR):  # the second one copies the layout
                    code = cls(None, getattr(qrencoder.QRErrorCorrectLevel, level))
                    code.addData(data)
                    code.version = code.calculate_version()
                    code.makeImpl(False, mask)
                    codes.append(code.modules)
                assert codes[0] == codes[1] == codes[2], (data[:20], level, mask)


def test_nw7_bars_are_where_reportlabs_codabar_puts_them(tmp_path):
    """The ticket's NW-7 bars, drawn as one path, cover the same rectangles as reportlab's Codabar."""
    from reportlab.graphics.barcode import common
    from reportlab.lib.units import mm

    doc = PdfDocument(title="NW-7", author="熊谷市")
    doc.nw7(115, 25.5, "112020112345678901", height=7, bar_width=0.19)
    literal = doc.canvas._code[-1]
    unit, _b, _c, height = (float(v) for v in literal.split()[1:5])
    ours = [tuple(float(v) for v in part.split()[:4]) for part in literal.split(" cm ")[1].split(" re f")[:-1]]
    ours = [(x * unit, y * height, w * unit, h * height) for x, y, w, h in ours]

    class Recorder:
        rects: list = []

    bars = common.Codabar(value="A112020112345678901A", barHeight=7 * mm, barWidth=0.19 * mm, checksum=0, quiet=0,
                          humanReadable=0)
    bars.rect = lambda x, y, w, h: Recorder.rects.append((x, y, w, h))
    bars.draw()
    assert len(ours) == len(Recorder.rects) > 40
    # the page writes coordinates to 1/100 pt, as reportlab's own rect operations do
    assert all(abs(a - b) < 0.01 for o, r in zip(ours, Recorder.rects) for a, b in zip(o, r))
