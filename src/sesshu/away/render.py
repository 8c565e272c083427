"""住所地外接種届出済証 (A4, one page): what the person shows at the clinic or venue with the 接種券 from
their home municipality."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sesshu.domain.wareki import to_wareki
from sesshu.printing import MINCHO, PdfDocument, PrintedPdf

LEFT, RIGHT = 18.0, 192.0


@dataclass(frozen=True)
class ReceiptData:
    notice_no: str
    issued_on: date
    municipality_name: str
    name: str
    name_kana: str
    birth_date: date
    stay_address: str
    home_municipality: str
    reason: str
    reason_note: str
    vaccine: str
    period_from: date
    period_until: date
    home_ticket_no: str


def render_receipt(d: ReceiptData) -> PrintedPdf:
    doc = PdfDocument(title=f"住所地外接種届出済証 第{d.notice_no}号", author=d.municipality_name,
                      subject="住所地外接種届出済証")
    doc.new_page()
    doc.text(RIGHT, 16, f"第 {d.notice_no} 号", size=10, align="right")
    doc.text(105, 36, "住所地外接種届出済証", size=20, font=MINCHO, align="center")
    doc.text(LEFT, 50, "次の方から住所地外接種の届出があったことを証明します。", size=11, font=MINCHO)
    reason = d.reason + (f"（{d.reason_note}）" if d.reason_note else "")
    rows = [["氏名", f"{d.name}（{d.name_kana}）"], ["生年月日", to_wareki(d.birth_date)],
            ["滞在先（この市の居所）", d.stay_address], ["住民票所在地の市町村", d.home_municipality],
            ["住所地外接種の理由", reason], ["予防接種の種類", d.vaccine],
            ["滞在期間", f"{to_wareki(d.period_from)} 〜 {to_wareki(d.period_until)}"]]
    if d.home_ticket_no:
        rows.append(["住所地の接種券番号", d.home_ticket_no])
    y = doc.table(LEFT, 58, [52, RIGHT - LEFT - 52], rows, row_height=10, size=10.5, header=False)
    doc.lines(LEFT, y + 10, [
        "・接種を受けるときは、この届出済証と、住民票所在地の市町村が発行した接種券・予診票を",
        "　医療機関または接種会場にお持ちください。",
        "・滞在期間を過ぎた場合や、住民票所在地に戻った場合は、この届出済証は使えません。",
    ], size=10)
    doc.text(LEFT + 10, y + 42, to_wareki(d.issued_on), size=11, font=MINCHO)
    doc.text(RIGHT - 20, y + 56, f"{d.municipality_name}長", size=14, font=MINCHO, align="right")
    doc.box(RIGHT - 17, y + 48, 15, 15, width=0.4)  # 公印 area
    doc.text(RIGHT - 9.5, y + 57, "印", size=9, font=MINCHO, align="center")
    return doc.finish()
