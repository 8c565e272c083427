"""予防接種済証 / 接種歴証明書 as a PDF: a clean function of the person's data and doses.

`render_certificate(data, extra_qr=..., cards=...)` draws everything from `data`; an optional extra QR
payload is placed in its own box on the first page. `cards` are the person's SMART Health Cards (one, or
one per 接種種別 when the history does not fit one QR): they get pages of their own after the doses, each
QR drawn as the spec wants it (`draw_shc_qr`: byte + numeric segments, level L) and labelled 1/2, 2/2….
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Sequence

from sesshu.domain.wareki import to_wareki
from sesshu.fhir.card_pdf import draw_shc_qr
from sesshu.printing import MINCHO, PdfDocument, PrintedPdf
from sesshu.printing.document import fit_text
from sesshu.printing.fonts import GOTHIC
from sesshu.printing.layout import draw_wrapped_table, wrap_text, wrapped_rows

LEFT, RIGHT = 18.0, 192.0
WIDTH = RIGHT - LEFT
SEX = {"M": "男", "F": "女"}
ROWS_FIRST_PAGE, ROWS_NEXT_PAGES = 22, 32
COLUMNS = [32, 56, 20, 24, 42]  # date (平成30年10月15日 fits), vaccine (新型コロナワクチン（ファイザー社） fits), dose, lot, institution
CARDS_PER_PAGE = 4  # 2 × 2 QRs of CARD_QR_MM
INVALID_NOTE = ("※「無効」の接種は、接種の間隔・年齢などが定期接種の基準を満たさないため、定期接種の回数に数えていません。"
                "詳しくは市の予防接種担当にお問い合わせください。")
CARD_QR_MM = 74  # the spec asks for at least 40 mm; a bigger code scans from a phone at arm's length


@dataclass(frozen=True)
class Dose:
    vaccinated_on: date
    vaccine: str  # name as printed
    dose: str  # "1期 1回目", or 「無効※」 (see INVALID_NOTE) for a dose the schedule engine judged invalid
    lot_no: str
    institution: str
    invalid: bool = False


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


@dataclass(frozen=True)
class CardQr:
    """One SMART Health Card of the set: its shc:/ text and what it covers (printed under its QR)."""

    qr_text: str
    caption: str  # "ヒブ 3件"


def _header(doc: PdfDocument, d: CertificateData, page: int, pages: int) -> None:
    doc.text(RIGHT, 14, f"第 {d.issue_no} 号", size=10, align="right")
    doc.text(RIGHT, 19.5, f"{page} / {pages} ページ", size=8, align="right")


def _pages_of(rows: list, first_room: float, next_room: float) -> list[list]:
    """Dose rows (with their wrapped heights) split over pages by the room each page has."""
    pages: list[list] = [[]]
    room, used = first_room, 0.0
    for row in rows:
        if pages[-1] and used + row[1] > room:
            pages.append([])
            room, used = next_room, 0.0
        pages[-1].append(row)
        used += row[1]
    return pages


def render_certificate(d: CertificateData, *, extra_qr: str | None = None, extra_qr_label: str = "",
                       cards: Sequence[CardQr] = ()) -> PrintedPdf:
    doc = PdfDocument(title=f"{d.title} 第{d.issue_no}号", author=d.municipality_name, subject=d.title)
    rows = wrapped_rows(COLUMNS, [[to_wareki(x.vaccinated_on), x.vaccine, x.dose, x.lot_no, x.institution]
                                  for x in d.doses] or [["（記録はありません）", "", "", "", ""]], size=8.5)
    first_rows = ROWS_FIRST_PAGE - (2 if extra_qr or cards else 0)  # the QR box or the card row takes two rows' room
    dose_chunks = _pages_of(rows, first_rows * 7, ROWS_NEXT_PAGES * 7)
    dose_pages = len(dose_chunks)
    pages = dose_pages + (len(cards) + CARDS_PER_PAGE - 1) // CARDS_PER_PAGE
    doc.new_page()
    _header(doc, d, 1, pages)
    doc.text(105, 36, d.title, size=20, font=MINCHO, align="center")
    facts = [["氏名", f"{d.name}（{d.name_kana}）"], ["生年月日", f"{to_wareki(d.birth_date)}（{SEX.get(d.sex, '')}）"],
             ["住所", d.address], ["宛名番号", d.atena_no]]
    if cards:
        where = f"{dose_pages + 1}ページ目" if pages == dose_pages + 1 else f"{dose_pages + 1}〜{pages}ページ目"
        facts.append(["電子証明書", f"SMART Health Card {len(cards)}枚（{where}のQRコード）"])
    width = WIDTH - (44 if extra_qr else 0)
    y = draw_wrapped_table(doc, LEFT, 46, [28, width - 28], wrapped_rows([28, width - 28], facts, size=10.5, min_height=8),
                           size=10.5, header=False)
    if extra_qr:
        doc.box(RIGHT - 40, 44, 40, 40, width=0.3)
        doc.qr(RIGHT - 39, 45, 34, extra_qr, level="L")
        doc.text(RIGHT - 20, 82.5, fit_text(extra_qr_label, GOTHIC, 6.5, 38), size=6.5, align="center")
        y = max(y, 86)
    y += 8
    doc.text(LEFT, y, "接種の記録", size=11)
    header = wrapped_rows(COLUMNS, [["接種年月日", "予防接種の種類", "回数", "ロット番号", "接種医療機関"]], size=8.5)
    y = draw_wrapped_table(doc, LEFT, y + 3, COLUMNS, header + dose_chunks[0], size=8.5)
    for p, chunk in enumerate(dose_chunks[1:], start=1):
        doc.new_page()
        _header(doc, d, p + 1, pages)
        doc.text(LEFT, 30, f"{d.title}（続き）　{d.name}", size=11)
        y = draw_wrapped_table(doc, LEFT, 34, COLUMNS, header + chunk, size=8.5)
    if any(x.invalid for x in d.doses):
        y += 5
        for line in wrap_text(INVALID_NOTE, GOTHIC, 8, WIDTH):
            doc.text(LEFT, y, line, size=8)
            y += 3.8
    y = max(y + 10, 236) if dose_pages == 1 else y + 10
    doc.text(LEFT, y, d.statement, size=10.5, font=MINCHO)
    doc.text(LEFT + 10, y + 12, to_wareki(d.issued_on), size=10.5, font=MINCHO)
    doc.text(RIGHT - 20, y + 24, d.issuer, size=14, font=MINCHO, align="right")
    doc.box(RIGHT - 17, y + 16, 15, 15, width=0.4)  # 公印 area
    doc.text(RIGHT - 9.5, y + 25, "印", size=9, font=MINCHO, align="center")
    doc.text(LEFT, 290, d.note, size=7.5)
    for first_card in range(0, len(cards), CARDS_PER_PAGE):
        _card_page(doc, d, cards, first_card, dose_pages + 1 + first_card // CARDS_PER_PAGE, pages)
    return doc.finish()


def _card_page(doc: PdfDocument, d: CertificateData, cards: Sequence[CardQr], first: int, page: int,
               pages: int) -> None:
    doc.new_page()
    _header(doc, d, page, pages)
    doc.text(105, 34, "SMART Health Card（電子署名付きの接種証明）", size=15, font=MINCHO, align="center")
    doc.lines(LEFT, 44, [
        f"{d.name}（{to_wareki(d.birth_date)}生）の接種記録を、{d.municipality_name}の電子署名を付けて次のQRコードに収めています。",
        "SMART Health Cards に対応するアプリで読み取ると、発行者の公開鍵で内容を検証できます。"
        + ("接種種別ごとに分けています。" if len(cards) > 1 else ""),
    ], size=9)
    gap = (WIDTH - 2 * CARD_QR_MM) / 2
    on_page = cards[first:first + CARDS_PER_PAGE]
    for i, card in enumerate(on_page):
        col, row = i % 2, i // 2
        x = 105 - CARD_QR_MM / 2 if len(on_page) == 1 else LEFT + gap / 2 + col * (CARD_QR_MM + gap)
        top = 56 + row * (CARD_QR_MM + 40)
        draw_shc_qr(doc, x, top, CARD_QR_MM, card.qr_text)
        label = f"{first + i + 1} / {len(cards)}　{card.caption}"
        doc.text(x + CARD_QR_MM / 2, top + CARD_QR_MM + 6, fit_text(label, GOTHIC, 10, CARD_QR_MM + gap - 4), size=10,
                 align="center")
    doc.text(LEFT, 290, d.note, size=7.5)
