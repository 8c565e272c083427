"""The disclosure package (開示文書) of a 開示請求, as one PDF.

Sections: 1 registry data (個人番号 masked unless the request covers it), 2 every vaccination record
(including voided ones, marked), 3 who accessed the data and when (department and role; staff names
only with SESSHU_DISCLOSURE_SHOW_STAFF_NAMES=true), 4 information-linkage exchanges about the person.
"""
from __future__ import annotations

from datetime import timezone

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.access.models import StaffAssignment
from sesshu.access.tasks import TASKS
from sesshu.actor import Actor
from sesshu.audit.lookup import plain_action_label
from sesshu.audit.models import AuditEntry
from sesshu.audit.periods import jst
from sesshu.auth.models import StaffUser
from sesshu.auth.permissions import ROLES
from sesshu.clock import today_jst
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.disclosure import service as inquiries
from sesshu.domain import my_number as mn_rules
from sesshu.domain.errors import Conflict
from sesshu.domain.wareki import to_wareki
from sesshu.exports.service import log_print
from sesshu.keys import load_keyring
from sesshu.ledger.service import person_records
from sesshu.printing import GOTHIC, MINCHO, PdfDocument, wrap_text
from sesshu.registry.models import REGISTRY_STATUSES, SEXES, Person
from sesshu.retention.personkeys import open_number

DOCUMENT = "開示文書（保有個人情報の開示）"
OPERATOR_LABEL = "システム運用"


def linkage_exchanges(s: Session, atena_no: str) -> list[dict]:
    """情報提供等記録 (番号法23条) about the person, oldest first, as the package prints them."""
    from sqlalchemy import select

    from sesshu.clock import JST
    from sesshu.linkage.models import LinkageExchange
    from sesshu.linkage.schemas import ExchangeOut

    rows = s.execute(select(LinkageExchange).where(LinkageExchange.atena_no == atena_no)
                     .order_by(LinkageExchange.occurred_at, LinkageExchange.id)).scalars().all()
    out = []
    for r in map(ExchangeOut.model_validate, rows):
        at = _moment(r.occurred_at.replace(tzinfo=timezone.utc).astimezone(JST))
        out.append({"at": at, "direction": f"{r.direction_label}（{r.outcome_label}）", "counterpart": r.counterpart,
                    "items": f"{r.task_label}・{r.info_label}"})
    return out


@dataclass(frozen=True)
class AccessLine:
    at: str
    action: str
    department: str
    role: str
    staff: str


def access_lines(s: Session, atena_no: str, *, show_names: bool) -> list[AccessLine]:
    """Every audit entry about the person, as the person may read it."""
    users = {u.login_id: u for u in s.execute(select(StaffUser)).scalars()}
    departments: dict[int, str] = {}
    for a in s.execute(select(StaffAssignment)).scalars():
        departments.setdefault(a.user_id, a.department)
    out = []
    for e in s.execute(select(AuditEntry).where(AuditEntry.atena_no == atena_no).order_by(AuditEntry.seq)).scalars():
        if e.actor_kind == "user" and e.actor in users:
            u = users[e.actor]
            dept, role = departments.get(u.id, "（所属の記録なし）"), ROLES.get(u.role, {}).get("label", u.role)
            staff = u.display_name if show_names else ""
        else:
            dept, role, staff = OPERATOR_LABEL, "運用担当", ""
        out.append(AccessLine(at=_moment(jst(e.occurred_at)), action=plain_action_label(e.action),
                              department=dept, role=role, staff=staff))
    return out


def _moment(dt) -> str:
    """令和8年12月6日 10:30 — the resident reads 和暦, as on every paper the city sends."""
    return f"{to_wareki(dt.date())} {dt:%H:%M}"


def _day(d) -> str:
    return to_wareki(d) if d else ""


def _record_rows(s: Session, records) -> list[list[str]]:
    """The records in words: the vaccine's name, not its code; the clinic's name, not its code."""
    from sesshu.ledger.models import Institution, Vaccine

    vaccines = dict(s.execute(select(Vaccine.code, Vaccine.name)).all())
    codes = {r.institution_code for r in records if r.institution_code}
    clinics = dict(s.execute(select(Institution.code, Institution.name).where(Institution.code.in_(codes))).all()) \
        if codes else {}
    rows = []
    for r in records:
        dose = f"{r.dose_no}回目" if r.dose_no else ""
        clinic = clinics.get(r.institution_code, "（医療機関名の登録なし）") if r.institution_code else "記録なし"
        rows.append([_day(r.vaccinated_on), vaccines.get(r.vaccine_code, "（名称の登録なし）"),
                     f"{r.term or ''} {dose}".strip(), clinic, r.lot_no or "",
                     "有効" if r.status == "active" else "取消"])
    return rows


def disclosure_package(db: Database, settings: Settings, *, actor: Actor, inquiry_id: int,
                       purpose: str = "開示請求への対応（開示文書の作成）"):
    """The PDF for a 開示請求, logged as a print in the transaction that read the data."""
    inquiries._require(actor)
    keys = load_keyring(settings)
    with db.transaction() as s:
        req = inquiries._load(s, actor, inquiry_id)
        if req.kind != "disclosure":
            raise Conflict("開示文書は開示請求の受付票からだけ作成できます")
        p = s.get(Person, req.atena_no)
        number = open_number(s, keys, p.atena_no, p.my_number_enc) if p.my_number_enc is not None else ""
        shown_number = number if req.covers_my_number else (mn_rules.mask(number) if number else "")
        records = person_records(s, p.atena_no, include_voided=True)
        accesses = access_lines(s, p.atena_no, show_names=settings.disclosure_show_staff_names)
        exchanges = linkage_exchanges(s, p.atena_no)
        pdf = _draw(settings, req, p, shown_number, _record_rows(s, records), accesses, exchanges)
        log_print(s, actor, document=DOCUMENT, purpose=purpose, rows=1, sha256=pdf.sha256, atena_no=p.atena_no,
                  detail={"inquiry_id": req.id, "my_number_shown": bool(req.covers_my_number and number),
                          "records": len(records), "accesses": len(accesses), "exchanges": len(exchanges),
                          "pages": pdf.pages})
        return pdf


def _draw(settings: Settings, req, p: Person, number: str, rec_rows: list[list[str]], accesses: list[AccessLine],
          exchanges: list[dict]):
    doc = PdfDocument(title=f"開示文書（受付番号 {req.id}）", author=settings.municipality_name, subject=DOCUMENT)
    y = [0.0]

    def page() -> None:
        doc.new_page()
        doc.text(105, 12, f"{settings.municipality_name}　保有個人情報開示文書（受付番号 {req.id}）", size=8, align="center")
        y[0] = 22

    def need(h: float) -> None:
        if y[0] + h > 282:
            page()

    def heading(text: str) -> None:
        need(14)
        doc.text(15, y[0] + 4, text, size=12)
        doc.line(15, y[0] + 6, 195, y[0] + 6, width=0.6)
        y[0] += 11

    def table(widths, header, rows, size=8.5) -> None:
        rows = rows or []
        need(7 * 2)
        chunk = [header]
        for r in rows:
            if y[0] + 6 * (len(chunk) + 1) > 282:
                doc.table(15, y[0], widths, chunk, row_height=6, size=size)
                page()
                chunk = [header]
            chunk.append(r)
        y[0] = doc.table(15, y[0], widths, chunk, row_height=6, size=size) + 5

    page()
    doc.text(105, y[0] + 6, "保有個人情報の開示について", size=16, font=MINCHO, align="center")
    y[0] += 16
    intro = (f"{_day(req.received_on)}に受け付けた開示請求（受付番号 {req.id}）について、"
             f"個人情報の保護に関する法律 第82条第1項により、{settings.municipality_name}が予防接種台帳システムに"
             "保有する次の個人情報を開示します。作成日: " + _day(today_jst()))
    for line in wrap_text(intro, MINCHO, 10, 180):
        doc.text(15, y[0], line, size=10, font=MINCHO)
        y[0] += 5.5
    y[0] += 4

    heading("1. 住民記録（宛名）")
    status = REGISTRY_STATUSES.get(p.registry_status, p.registry_status)
    rows = [["宛名番号", p.atena_no], ["氏名", p.name], ["氏名カナ", p.name_kana], ["性別", SEXES.get(p.sex, p.sex)],
            ["生年月日", _day(p.birth_date)], ["郵便番号", p.postal_code], ["住所", p.address],
            ["電話番号", p.phone], ["世帯番号", p.household_no], ["続柄", p.relationship],
            ["世帯主氏名", p.householder_name], ["住民区分", status],
            ["異動", f"{p.change_reason} {_day(p.changed_on)}".strip()],
            ["個人番号", (number or "登録なし") + ("" if req.covers_my_number or not number
                                                 else "（請求の対象外のため下4桁以外を伏せています）")]]
    table([40, 140], ["項目", "内容"], rows, size=9)

    heading("2. 予防接種の記録")
    if rec_rows:
        table([30, 42, 22, 48, 24, 14], ["接種日", "ワクチン", "期・回", "接種した医療機関", "ロット番号", "状態"], rec_rows)
    else:
        doc.text(15, y[0] + 4, "記録はありません。", size=9)
        y[0] += 9

    heading("3. あなたの情報を閲覧・操作した記録")
    for line in wrap_text("操作記録（改ざんできない形で保存）から、あなたの情報の閲覧・登録・修正・印刷・出力の記録を、"
                          "日時・部署・役職とともに示します。" +
                          ("" if accesses and accesses[0].staff else "職員の氏名は市の定めにより記載していません。"),
                          GOTHIC, 8.5, 180):
        need(6)
        doc.text(15, y[0], line, size=8.5)
        y[0] += 4.5
    y[0] += 2
    show_staff = any(a.staff for a in accesses)
    header = ["日時", "操作", "部署", "役職"] + (["職員"] if show_staff else [])
    widths = [38, 62, 42, 38] if not show_staff else [36, 50, 36, 28, 30]
    table(widths, header, [[a.at, a.action, a.department, a.role] + ([a.staff] if show_staff else [])
                           for a in accesses])

    heading("4. 情報連携（情報提供ネットワークシステム）の記録")
    if exchanges:
        table([38, 30, 56, 56], ["日時", "区分", "相手先", "特定個人情報の項目"],
              [[e.get("at", ""), e.get("direction", ""), e.get("counterpart", ""), e.get("items", "")] for e in exchanges])
    else:
        doc.text(15, y[0] + 4, "あなたの情報について、情報連携による照会・提供の記録はありません。", size=9)
        y[0] += 9
    return doc.finish()
