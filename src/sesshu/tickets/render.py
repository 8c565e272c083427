"""The mailed paper: the notice letter (個別通知) and the pre-filled 予診票 with its 接種券 (OCR line, QR).

Pure drawing over `sesshu.printing.PdfDocument`: each function takes the data to print and draws one
page; no database. Millimetres from the top-left corner of an A4 sheet.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from sesshu.domain.wareki import to_wareki
from sesshu.printing import GOTHIC, MINCHO, PdfDocument, address_block, wrap_text
from sesshu.printing.document import fit_text
from sesshu.tickets.catalog import letters

LEFT, RIGHT = 18.0, 192.0
WIDTH = RIGHT - LEFT
SEX = {"M": "男", "F": "女"}
# One mask pattern for every ticket's QR: searching all eight is most of the cost of a page (any mask scans).
QR_MASK = 0


@dataclass(frozen=True)
class NoticeData:
    """Everything printed for one person (a snapshot: the same data gives the same page)."""

    atena_no: str
    name: str
    name_kana: str
    sex: str
    birth_date: date
    postal_code: str
    address: str
    line_name: str  # 麻しん風しん混合（MR）
    term: str  # 1期 / ""
    dose_no: int
    earliest: date | None
    legal_until: date | None
    standard_from: date | None
    standard_until: date | None
    ocr_line: str  # 18 digits
    issued_on: date
    municipality_name: str
    reissue: bool = False
    dose_text: str = ""  # "2期" / "1期 3回目" (catalog.LineInfo.dose_text)
    line: str = ""  # eligibility line code: picks the 予診票 form (letters.yaml questionnaire_forms)
    category: str = ""  # the line's 接種区分 (catalog.LineInfo.category): the wording of a campaign's letter

    @property
    def dose_label(self) -> str:
        return self.dose_text or f"{self.term + ' ' if self.term else ''}{self.dose_no}回目"

    @property
    def minor(self) -> bool:
        """Under 16 on the day of issue: the letter goes to the 保護者 (定期接種実施要領 第1 9)."""
        b, d = self.birth_date, self.issued_on
        return (d.year - b.year - ((d.month, d.day) < (b.month, b.day))) < 16

    def to_json(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, data: dict) -> "NoticeData":
        dates = {"birth_date", "earliest", "legal_until", "standard_from", "standard_until", "issued_on"}
        return cls(**{k: (date.fromisoformat(v) if k in dates and v else v) for k, v in data.items()})


def _span(a: date | None, b: date | None) -> str:
    if a and b:
        return f"{to_wareki(a)} 〜 {to_wareki(b)}"
    if b:
        return f"{to_wareki(b)} まで"
    return to_wareki(a) + " から" if a else ""


def _static(doc: PdfDocument, name: str, draw) -> None:
    """Draw the parts every page of this kind shares once per file, as a PDF form XObject, and place it.

    A notice run prints the same questions, boxes and wording thousands of times; a form keeps each file
    small and the run fast (only the person's own fields are drawn per page)."""
    c = doc.canvas
    if not c.hasForm(name):
        c.beginForm(name)
        draw(doc)
        c.endForm()
    c.doForm(name)


@lru_cache(maxsize=256)
def _wrapped(value: str, font: str, size: float, width: float) -> tuple[str, ...]:
    return tuple(wrap_text(value, font, size, width))


def _fit(value: str, size: float, width: float, font: str = GOTHIC) -> str:
    return fit_text(value, font, size, width)


def _grouped(ocr: str) -> str:
    return f"{ocr[:2]} {ocr[2:8]} {ocr[8:]}"


# --- the notice letter --------------------------------------------------------------------------------
_LETTER_TABLE_Y = 121.0
_LETTER_ROWS = ("対象の方", "生年月日", "予防接種の種類", "接種できる期間", "標準的な接種期間", "接種券番号")
_LETTER_ROW_H = 8.5
_LETTER_LABEL_W = 42.0


def _letter_static(doc: PdfDocument, municipality_name: str) -> None:
    t = letters()
    for y in (99.0, 198.0):  # A4 folded in three for a 長形3号 envelope: ticks at 1/3 and 2/3
        doc.line(3, y, 8, y, width=0.3)
        doc.line(202, y, 207, y, width=0.3)
    doc.text(RIGHT, 30, f"{municipality_name}長", size=10.5, align="right")
    doc.text(RIGHT, 36, f"（{t['contact']['department']}）", size=9, align="right")
    doc.box(128, 42, 64, 11, width=0.3)
    doc.line(LEFT + 20, 75, RIGHT - 20, 75, width=0.4)
    doc.text(105, _LETTER_TABLE_Y - 5, "記", size=11, font=MINCHO, align="center")
    x = LEFT + 6
    doc.table(x, _LETTER_TABLE_Y, [_LETTER_LABEL_W, WIDTH - 12 - _LETTER_LABEL_W], [[label, ""] for label in _LETTER_ROWS],
              row_height=_LETTER_ROW_H, size=10.5, header=False)
    y = _LETTER_TABLE_Y + len(_LETTER_ROWS) * _LETTER_ROW_H
    doc.text(LEFT + 2, y + 9, "■ 持ち物", size=11)
    y = doc.lines(LEFT + 6, y + 16, [f"・{item}" for item in t["notice"]["bring"]], size=10, leading=6)
    doc.text(LEFT + 2, y + 4, "■ ご注意", size=11)
    y += 11
    for note in t["notice"]["notes"]:
        y = doc.lines(LEFT + 6, y, list(_wrapped("・" + note, GOTHIC, 9.5, WIDTH - 8)), size=9.5, leading=5.4)
    c = t["contact"]
    top = 262.0
    doc.box(LEFT, top, WIDTH, 24, width=0.5)
    doc.text(LEFT + 4, top + 7, "お問い合わせ先", size=10)
    doc.text(LEFT + 4, top + 14, f"{municipality_name} {c['department']}", size=10.5)
    doc.text(LEFT + 4, top + 20, f"〒 {c['address']}　電話 {c['phone']}（{c['hours']}）", size=9)


def draw_notice_letter(doc: PdfDocument, d: NoticeData) -> None:
    t = letters()
    doc.new_page()
    _static(doc, "letter", lambda doc: _letter_static(doc, d.municipality_name))
    honorific = "様（保護者様）" if d.minor else "様"
    address_block(doc, postal_code=d.postal_code, address=d.address, name=d.name, honorific=honorific)
    doc.text(RIGHT, 22, to_wareki(d.issued_on), size=10.5, align="right")
    doc.text(130, 49, f"宛名番号 {d.atena_no}", size=9)
    if d.reissue:
        doc.text(RIGHT, 62, "【再発行】", size=11, align="right")
    doc.text(105, 72, _fit(f"{d.line_name} 予防接種のお知らせ", 16, WIDTH, MINCHO), size=16, font=MINCHO,
             align="center")
    body = t["notice"].get("body_by_category", {}).get(d.category, t["notice"]["body"]).format(name=d.name.replace("　", " "), line=f"{d.line_name}（{d.dose_label}）")
    doc.lines(LEFT + 2, 86, list(_wrapped(body, MINCHO, 10.5, WIDTH - 4))[:4], size=10.5, font=MINCHO, leading=6.2)
    values = [f"{d.name}（{d.name_kana}）", f"{to_wareki(d.birth_date)}（{SEX.get(d.sex, '')}）",
              f"{d.line_name}　{d.dose_label}", _span(d.earliest, d.legal_until),
              _span(d.standard_from, d.standard_until) or "―", _grouped(d.ocr_line)]
    x = LEFT + 6 + _LETTER_LABEL_W + 1
    w = WIDTH - 12 - _LETTER_LABEL_W - 2
    for i, value in enumerate(values):
        doc.text(x, _LETTER_TABLE_Y + i * _LETTER_ROW_H + _LETTER_ROW_H / 2 + 1.3, _fit(value, 10.5, w), size=10.5)


# --- the 予診票 -----------------------------------------------------------------------------------------
_Q_TABLE_Y = 45.0
_Q_ROWS = ("住所", "フリガナ", "受ける方の氏名", "生年月日", "保護者の氏名", "宛名番号")
_Q_ROW_H = 7.5
_Q_LABEL_W = 34.0


def questionnaire_of(line: str) -> tuple[str, list[str], str]:
    """(form, questions, consent) of the 予診票 for an eligibility line: infant (様式第二) by default,
    adult (B類, 本人) or pregnant (RSウイルス 母子免疫), plus the line's own questions."""
    t = letters()
    form = t.get("questionnaire_forms", {}).get(line, "")
    questions = list(t["questionnaires"][form]) if form else list(t["questionnaire"])
    extra = t.get("questionnaire_extra", {}).get(line, [])
    questions[-1:-1] = extra  # before "質問がありますか"
    consent = t["consent_adult"] if form else t["consent"]
    return form, questions, consent


def _questionnaire_static(doc: PdfDocument, municipality_name: str, line: str = "") -> None:
    t = letters()
    _form, questions, consent = questionnaire_of(line)
    doc.box(112, 10, 80, 31, width=0.6)
    doc.text(115, 15.5, "接種券", size=8)
    y = doc.table(LEFT, _Q_TABLE_Y, [_Q_LABEL_W, WIDTH - _Q_LABEL_W], [[label, ""] for label in _Q_ROWS],
                  row_height=_Q_ROW_H, size=10, header=False)
    doc.text(RIGHT, y + 4.5, "診察前の体温　　　　　℃", size=9.5, align="right")
    doc.text(LEFT, y + 4.5, "太枠内を記入してください（該当するものに○）", size=8.5)
    y += 7
    widths = [WIDTH - 58, 14, 14, 30]
    doc.table(LEFT, y, widths, [["質問事項", "回答", "", "医師記入欄"]], row_height=6, size=8.5)
    y += 6
    for i, q in enumerate(questions, 1):
        wrapped = _wrapped(f"{i}. {q}", GOTHIC, 8.5, widths[0] - 3)
        h = max(8.0, 4.3 * len(wrapped) + 3.2)
        doc.box(LEFT, y, sum(widths), h, width=0.4)
        x = LEFT
        for w in widths[:-1]:
            x += w
            doc.line(x, y, x, y + h, width=0.4)
        doc.lines(LEFT + 1.5, y + h / 2 + 1.2 - 2.15 * (len(wrapped) - 1), list(wrapped), size=8.5, leading=4.3)
        doc.text(LEFT + widths[0] + 7, y + h / 2 + 1.2, "はい", size=8.5, align="center")
        doc.text(LEFT + widths[0] + 21, y + h / 2 + 1.2, "いいえ", size=8.5, align="center")
        y += h
    y += 4
    doc.box(LEFT, y, WIDTH, 16, width=0.5)
    doc.text(LEFT + 2, y + 5, "医師記入欄", size=8.5)
    doc.text(LEFT + 2, y + 10, t["doctor_statement"], size=8.5)
    doc.text(RIGHT - 2, y + 14, "医師の署名又は記名押印　　　　　　　　　　　　", size=8.5, align="right")
    y += 19
    doc.box(LEFT, y, WIDTH, 18, width=0.5)
    doc.lines(LEFT + 2, y + 4.5, list(_wrapped(consent, GOTHIC, 8.5, WIDTH - 4)), size=8.5, leading=4.3)
    doc.text(RIGHT - 2, y + 15.5, "保護者（本人）自署　　　　　　　　　　　　", size=8.5, align="right")
    y += 21
    widths = [50, 26, WIDTH - 76]
    doc.table(LEFT, y, widths, [["ワクチン名・Lot No", "接種量", "実施場所・医師名・接種年月日"]], row_height=6.5, size=8.5)
    doc.box(LEFT, y + 6.5, WIDTH, 18, width=0.4)
    doc.line(LEFT + 50, y + 6.5, LEFT + 50, y + 24.5, width=0.4)
    doc.line(LEFT + 76, y + 6.5, LEFT + 76, y + 24.5, width=0.4)
    doc.text(LEFT + 74, y + 16.5, "mL", size=8.5, align="right")
    doc.lines(LEFT + 78, y + 11.5, ["実施場所：", "医師名：", "接種年月日：令和　　年　　月　　日"], size=8.5, leading=5.2)
    doc.text(LEFT, 291, "※ 右上の接種券は医療機関が読み取ります。切り離したり、折り曲げたり、汚したりしないでください。", size=7.5)
    doc.text(RIGHT, 291, f"{municipality_name}", size=7.5, align="right")


def draw_questionnaire(doc: PdfDocument, d: NoticeData) -> None:
    doc.new_page()
    # one form per 予診票 kind (questions differ by line: infant, adult, pregnant, + the line's own)
    _static(doc, f"questionnaire:{d.line}", lambda doc: _questionnaire_static(doc, d.municipality_name, d.line))
    doc.text(LEFT, 20, _fit(d.line_name, 13, 92), size=13)
    doc.text(LEFT, 29, f"予防接種 予診票（{d.dose_label}）", size=15, font=MINCHO)
    kind = letters()["notice"].get("questionnaire_kind", {}).get(d.category, "定期予防接種")
    doc.text(LEFT, 36, f"{d.municipality_name}　{kind}" + ("　【再発行】" if d.reissue else ""), size=9)
    # The 接種券: OCR line in OCR-B, NW-7 bars and the QR code, all the same 18 digits.
    doc.qr(166, 11, 25, d.ocr_line, mask=QR_MASK)
    doc.spaced_text(115, 23, d.ocr_line, pitch=2.65, size=10.5)
    doc.nw7(115, 25.5, d.ocr_line, height=7, bar_width=0.19)
    doc.text(115, 38.5, "有効期限 " + (to_wareki(d.legal_until) if d.legal_until else "―"), size=7.5)
    postal = d.postal_code
    if len(postal) == 7 and postal.isdigit():
        postal = f"{postal[:3]}-{postal[3:]}"
    values = [f"〒{postal}　{d.address}" if postal else d.address, d.name_kana,
              f"{d.name}　　（{SEX.get(d.sex, '')}）", f"{to_wareki(d.birth_date)}生", "", d.atena_no]
    x, w = LEFT + _Q_LABEL_W + 1.5, WIDTH - _Q_LABEL_W - 3
    for i, value in enumerate(values):
        if value:
            doc.text(x, _Q_TABLE_Y + i * _Q_ROW_H + _Q_ROW_H / 2 + 1.2, _fit(value, 10, w), size=10)
