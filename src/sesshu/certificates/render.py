"""予防接種済証 / 接種歴証明書 as a PDF: a clean function of the person's data and doses.

`render_certificate(data, extra_qr=...)` draws everything from `data`; an optional extra QR payload
(e.g. a SMART Health Card `shc:/…` string) is placed in its own box on the first page.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sesshu.domain.wareki import to_wareki
from sesshu.printing import MINCHO, PdfDocument, PrintedPdf
from sesshu.printing.document import fit_text
from sesshu.printing.fonts import GOTHIC

LEFT, RIGHT = 18.0, 192.0
WIDTH = RIGHT - LEFT
SEX = {"M": "男", "F": "女"}
ROWS_FIRST_PAGE, ROWS_NEXT_PAGES = 22, 32
COLUMNS = [28, 46, 22, 28, 50]  # date, vaccine, dose, lot, institution


@dataclass(frozen=True)
class Dose:
    vaccinated_on: date
    vaccine: str  # name as printed
    dose: str  # "1期 1回目"
    lot_no: str
    institution: str


@dataclass(frozen=True)
class CertificateData:
    title: str  # 接種歴証明書 / 予防接種済証
    issue_no: str
    issued_on: date
    municipality_name: str
    issuer: str  # 熊谷市長
    statement: str
    note: str
    atena_no: str
    name: str
    name_kana: str
    sex: str
    birth_date: date
    address: str
    doses: list[Dose] = field(default_factory=list)


def _header(doc: PdfDocument, d: CertificateData, page: int, pages: int) -> None:
    doc.text(RIGHT, 14, f"第 {d.issue_no} 号", size=10, align="right")
    doc.text(RIGHT, 19.5, f"{page} / {pages} ページ", size=8, align="right")


def render_certificate(d: CertificateData, *, extra_qr: str | None = None, extra_qr_label: str = "") -> PrintedPdf:
    doc = PdfDocument(title=f"{d.title} 第{d.issue_no}号", author=d.municipality_name, subject=d.title)
    rows = [[to_wareki(x.vaccinated_on), x.vaccine, x.dose, x.lot_no, x.institution] for x in d.doses]
    rest = max(0, len(rows) - ROWS_FIRST_PAGE)
    pages = 1 + (rest + ROWS_NEXT_PAGES - 1) // ROWS_NEXT_PAGES
    doc.new_page()
    _header(doc, d, 1, pages)
    doc.text(105, 36, d.title, size=20, font=MINCHO, align="center")
    facts = [["氏名", f"{d.name}（{d.name_kana}）"], ["生年月日", f"{to_wareki(d.birth_date)}（{SEX.get(d.sex, '')}）"],
             ["住所", d.address], ["宛名番号", d.atena_no]]
    width = WIDTH - (44 if extra_qr else 0)
    y = doc.table(LEFT, 46, [28, width - 28], facts, row_height=8, size=10.5, header=False)
    if extra_qr:
        doc.box(RIGHT - 40, 44, 40, 40, width=0.3)
        doc.qr(RIGHT - 39, 45, 34, extra_qr, level="L")
        doc.text(RIGHT - 20, 82.5, fit_text(extra_qr_label, GOTHIC, 6.5, 38), size=6.5, align="center")
        y = max(y, 86)
    y += 8
    doc.text(LEFT, y, "接種の記録", size=11)
    header = [["接種年月日", "予防接種の種類", "回数", "ロット番号", "接種医療機関"]]
    first = rows[:ROWS_FIRST_PAGE] or [["（記録はありません）", "", "", "", ""]]
    y = doc.table(LEFT, y + 3, COLUMNS, header + first, row_height=7, size=8.5)
    for p in range(1, pages):
        doc.new_page()
        _header(doc, d, p + 1, pages)
        chunk = rows[ROWS_FIRST_PAGE + (p - 1) * ROWS_NEXT_PAGES: ROWS_FIRST_PAGE + p * ROWS_NEXT_PAGES]
        doc.text(LEFT, 30, f"{d.title}（続き）　{d.name}", size=11)
        y = doc.table(LEFT, 34, COLUMNS, header + chunk, row_height=7, size=8.5)
    y = max(y + 10, 236) if pages == 1 else y + 10
    doc.text(LEFT, y, d.statement, size=10.5, font=MINCHO)
    doc.text(LEFT + 10, y + 12, to_wareki(d.issued_on), size=10.5, font=MINCHO)
    doc.text(RIGHT - 20, y + 24, d.issuer, size=14, font=MINCHO, align="right")
    doc.box(RIGHT - 17, y + 16, 15, 15, width=0.4)  # 公印 area
    doc.text(RIGHT - 9.5, y + 25, "印", size=9, font=MINCHO, align="center")
    doc.text(LEFT, 290, d.note, size=7.5)
    return doc.finish()
