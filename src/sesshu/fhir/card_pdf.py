"""The SMART Health Card on paper: the QR alone (for other certificates) and a one-page certificate."""
from __future__ import annotations

from sesshu.domain import shc
from sesshu.domain.wareki import to_wareki
from sesshu.printing import MINCHO, PdfDocument, PrintedPdf

MIN_QR_MM = 40  # the spec aims for QRs usable at 40 mm × 40 mm


def draw_shc_qr(doc: PdfDocument, x: float, y: float, size: float, text: str) -> int:
    """The card's QR at top-left (x, y), `size` mm square: "shc:/" in byte mode, the digits in numeric
    mode, error correction L (what the spec prescribes; a V22 code then holds a 1195-character JWS).
    Returns the QR version."""
    if not text.startswith(shc.QR_PREFIX):
        raise ValueError("not a shc:/ text")
    return doc.qr_segments(x, y, size, [("byte", shc.QR_PREFIX), ("numeric", text[len(shc.QR_PREFIX):])],
                           level="L")


def card_pdf(cards, *, municipality: str) -> PrintedPdf:
    """One A4 page per card (sesshu.fhir.shc.Card): title, the person, the doses, and the QR."""
    doc = PdfDocument(title="予防接種証明書（SMART Health Card）", author=municipality,
                      subject="SMART Health Card")
    for i, card in enumerate(cards):
        _page(doc, card, municipality=municipality, index=i + 1, total=len(cards))
    return doc.finish()


def _page(doc: PdfDocument, card, *, municipality: str, index: int, total: int) -> None:
    doc.new_page()
    doc.text(105, 28, "予防接種証明書", size=20, font=MINCHO, align="center")
    doc.text(105, 36, "Certificate of Vaccination (SMART Health Card)", size=10, align="center")
    doc.text(20, 52, f"氏名　{card.name}", size=12)
    doc.text(20, 60, f"生年月日　{to_wareki(card.birth_date)}（{card.birth_date.isoformat()}）", size=12)
    rows = [["接種年月日", "ワクチン", "回数", "ロット番号", "接種医療機関"]]
    for d in card.doses:
        rows.append([f"{to_wareki(d.vaccinated_on)}", d.vaccine, f"{d.dose_no}回目" if d.dose_no else "",
                     d.lot_no, d.institution])
    bottom = doc.table(20, 68, [34, 52, 16, 26, 42], rows, row_height=7, size=8.5)
    qr_top = max(bottom + 8, 150)
    draw_shc_qr(doc, 20, qr_top, 70, card.qr_text)
    doc.lines(96, qr_top + 12, [
        "このQRコードは SMART Health Cards 形式の電子署名付き証明書です。",
        "対応するアプリで読み取ると、発行者の公開鍵で内容を検証できます。",
        f"発行者: {card.issuer}",
        f"鍵ID: {card.kid[:22]}…",
        f"発行日時: {card.issued_at.astimezone().strftime('%Y-%m-%d %H:%M')}",
    ], size=8.5)
    if total > 1:
        doc.text(20, 285, f"{index} / {total}（接種種別ごとのカード）", size=9)
    doc.text(190, 285, municipality, size=11, font=MINCHO, align="right")
