"""国保連 route: doses given at clinics outside the city, claimed through the 国民健康保険団体連合会.

In the 2021 COVID-19 campaign clinics anywhere vaccinated a person holding this city's 接種券 and claimed the
fee, with the 予診票, through their prefecture's 国保連, which sends the city a monthly file of those doses
(from 2021-12 the 時間外・休日加算 too — 岐阜市「新型コロナウイルスワクチンの時間外・休日の接種加算について」
2022-11-29). The layout of the real file was not found through the search tool: this is sesshu's own CSV
(one row per dose), documented in docs/billing.md.

Each row is matched to the ledger and judged when the file is imported, in the file's transaction:
`paid` when the person (宛名番号, or the 券番号 of this city's ticket) has an active record of that vaccine on
that day, of a billable 接種区分 (住民接種・特定接種 included), judged valid, not paid by the city's own run
and not claimed through the 国保連 before, and the amount is the campaign's fee for it (休日・時間外加算 by the
record's date and 接種時刻); otherwise `returned` with every code and its Japanese reason. A dose is paid
once: one `paid` row per record (a partial unique index), and the city's run returns a record paid here
(R_PAID_VIA_KOKUHO). Rows that cannot be read are refused with line numbers and nothing of the file is
stored (the refusal is on the audit log).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.access.tasks import VACCINATION_TASKS
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.billing.codes import reason_of
from sesshu.billing.models import KokuhoClaim, PaymentLine
from sesshu.billing.reference import fee_table_for
from sesshu.billing.service import PURPOSE, check_month
from sesshu.clock import utcnow
from sesshu.db import Database
from sesshu.domain.errors import Conflict, InvalidInput
from sesshu.domain.fees import BILLABLE_CATEGORIES
from sesshu.domain.text import clean
from sesshu.domain.tickets import parse_ocr_line
from sesshu.domain.wareki import DateParseError, parse_date, parse_month, parse_time
from sesshu.imports.batch import open_batch
from sesshu.imports.csvfile import CsvSource, inspect_file
from sesshu.ledger.models import EvaluationQueue, ImportBatch, VaccinationRecord, Vaccine
from sesshu.ledger.reference import CATEGORIES
from sesshu.ledger.rows import SCREENING_INPUT
from sesshu.registry.rows import RowError, parse_atena_no
from sesshu.tickets.models import Ticket

KOKUHO_HEADERS = ("請求月", "医療機関コード", "医療機関名", "券番号", "宛名番号", "接種種別", "接種年月日", "接種時刻",
                  "予診区分", "請求額")
KOKUHO_REQUIRED = ("請求月", "医療機関コード", "接種種別", "接種年月日", "請求額")
ACTION = "billing.kokuho_import"
OUTCOMES = {"paid": "支払", "returned": "返戻"}


@dataclass
class KokuhoSummary:
    month: str = ""
    file: str = ""
    read: int = 0
    paid: int = 0
    paid_amount: int = 0
    returned: int = 0
    refused: bool = False  # a row could not be read: nothing of the file was stored
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, reason) of unreadable rows


def _parse(v: dict[str, str], vaccines: set[str]) -> dict:
    try:
        month = parse_month(v.get("請求月", ""))
    except DateParseError as e:
        raise RowError(f"請求月: {e}") from None
    code = clean(v.get("医療機関コード", "")).replace(" ", "")
    if not (code.isascii() and code.isdigit() and len(code) == 10):
        raise RowError(f"医療機関コードは10桁の数字です（都道府県2桁・点数表1桁・医療機関7桁）: {v.get('医療機関コード', '')}")
    vaccine = clean(v.get("接種種別", "")).replace(" ", "").upper()
    if vaccine not in vaccines:
        raise RowError(f"接種種別「{vaccine}」はマスタに登録されていません")
    try:
        on = parse_date(v.get("接種年月日", ""))
    except DateParseError as e:
        raise RowError(f"接種年月日: {e}") from None
    at = None
    if clean(v.get("接種時刻", "")):
        try:
            at = parse_time(v["接種時刻"])
        except DateParseError as e:
            raise RowError(f"接種時刻: {e}") from None
    screening = clean(v.get("予診区分", "")).replace(" ", "")
    if screening and screening not in SCREENING_INPUT:
        raise RowError(f"予診区分「{screening}」は使えません（接種/予診のみ）")
    raw_amount = clean(v.get("請求額", "")).replace(" ", "").replace(",", "").removesuffix("円")
    if not (raw_amount.isascii() and raw_amount.isdigit()) or int(raw_amount) > 10**7:
        raise RowError(f"請求額は0〜10,000,000の数字（円）で指定してください: {v.get('請求額', '')}")
    ticket = clean(v.get("券番号", "")).replace(" ", "").replace("-", "")
    if ticket:
        if len(ticket) == 18:
            try:
                ticket = parse_ocr_line(ticket).ticket_no
            except InvalidInput:
                raise RowError(f"券番号（OCRライン18桁）が読めません: {v.get('券番号', '')}") from None
        elif not (ticket.isascii() and ticket.isdigit() and len(ticket) == 10):
            raise RowError(f"券番号は10桁（またはOCRライン18桁）の数字です: {v.get('券番号', '')}")
    atena = clean(v.get("宛名番号", "")).replace(" ", "")
    if atena:
        atena = parse_atena_no(atena)
    if not ticket and not atena:
        raise RowError("券番号か宛名番号のどちらかが必要です")
    return {"month": month, "institution_code": code, "institution_name": clean(v.get("医療機関名", ""))[:100],
            "ticket_no": ticket, "atena_no": atena, "vaccine_code": vaccine, "vaccinated_on": on,
            "vaccination_time": at, "screening_result": SCREENING_INPUT.get(screening, "vaccinated"),
            "claimed_amount": int(raw_amount)}


def _month_label(month: str) -> str:
    return f"{month[:4]}年{int(month[5:])}月分"


def _judge(s: Session, scoped, f: dict, table) -> tuple[VaccinationRecord | None, int | None, list[tuple[str, str]]]:
    """(record, computed amount, [(code, detail)]) for one claimed dose; no codes: payable."""
    atena = f["atena_no"]
    if not atena and f["ticket_no"]:
        atena = s.execute(select(Ticket.atena_no).where(Ticket.ticket_no == f["ticket_no"])).scalar() or ""
    if atena and not scoped.visible([atena]):
        atena = ""  # outside the staff member's 事務: answered as no such person (purpose binding)
    f["atena_no"] = atena
    if not atena:
        return None, None, [("K_NO_PERSON", "")]
    R = VaccinationRecord
    r = s.execute(select(R).where(R.atena_no == atena, R.vaccine_code == f["vaccine_code"],
                                  R.vaccinated_on == f["vaccinated_on"], R.status == "active")).scalar_one_or_none()
    if r is None:
        return None, None, [("K_NO_RECORD", "")]
    codes: list[tuple[str, str]] = []
    if r.category not in BILLABLE_CATEGORIES:
        codes.append(("R_NOT_ROUTINE", CATEGORIES.get(r.category, r.category) or "未設定"))
    if s.get(EvaluationQueue, atena) is not None:
        codes.append(("R_NOT_EVALUATED", ""))
    codes += [(c, "") for c in filter(None, (r.error_code or "").split(","))]
    city = s.execute(select(PaymentLine.month).where(PaymentLine.record_id == r.id, PaymentLine.kind == "fee")).scalar()
    if city:
        codes.append(("K_PAID_BY_CITY", _month_label(city)))
    earlier = s.execute(select(KokuhoClaim.month, KokuhoClaim.line_no).where(
        KokuhoClaim.record_id == r.id, KokuhoClaim.outcome == "paid")).first()
    if earlier:
        codes.append(("K_ALREADY_CLAIMED", f"{_month_label(earlier[0])} {earlier[1]}行目"))
    fee = table.price(vaccine=r.vaccine_code, term=r.term or "", screening=r.screening_result or "vaccinated",
                      on=r.vaccinated_on, exempt=False, at=r.vaccination_time)
    computed = fee.amount if fee is not None else None
    if fee is None:
        codes.append(("R_NO_FEE", ""))
    elif f["claimed_amount"] != computed:
        codes.append(("K_AMOUNT", f"請求額 {f['claimed_amount']:,}円・市の算定額 {computed:,}円"
                                  + (f"・{fee.note}" if fee.note else "")))
    return r, computed, codes


def import_kokuho_claims(db: Database, *, actor: Actor, path: Path) -> KokuhoSummary:
    """One monthly 国保連 file: every row judged and stored (paid or returned) in one transaction with the
    audit entry; a file already imported is refused (its rows are on record with their verdicts)."""
    facts = inspect_file(path)
    source = CsvSource(path, facts=facts, required=KOKUHO_REQUIRED, known=KOKUHO_HEADERS)
    out = KokuhoSummary(file=path.name)
    with db.transaction() as s:
        if s.execute(select(ImportBatch.id).where(ImportBatch.kind == "billing:kokuho",
                                                  ImportBatch.file_sha256 == facts.sha256,
                                                  ImportBatch.finished_at.is_not(None))).first():
            raise Conflict(f"このファイル（{path.name}）は既に取り込まれています")
        scoped = access.scoped(s, actor, tasks=VACCINATION_TASKS)
        vaccines = set(s.execute(select(Vaccine.code)).scalars())
        rows = []
        for row in source.rows():
            out.read += 1
            try:
                if row.problem:
                    raise RowError(row.problem)
                rows.append((row.line_no, _parse(row.values, vaccines)))
            except RowError as e:
                out.problems.append((row.line_no, str(e)))
        months = {f["month"] for _, f in rows}
        if not out.problems and len(months) > 1:
            out.problems.append((0, f"1つのファイルに複数の請求月があります（{'、'.join(sorted(months))}）"))
        if not out.problems and not rows:
            out.problems.append((0, "ファイルにデータの行がありません（1行目は見出しです）"))
        if out.problems:
            out.refused = True
        else:
            out.month = check_month(rows[0][1]["month"])
            batch = open_batch(s, kind="billing:kokuho", path=path, facts=facts, actor=actor)
            table = fee_table_for(s)
            now = utcnow()
            for line_no, f in rows:
                r, computed, codes = _judge(s, scoped, f, table)
                outcome = "returned" if codes else "paid"
                s.add(KokuhoClaim(**f, line_no=line_no, category=r.category if r else "", computed_amount=computed,
                                  record_id=r.id if r else None, outcome=outcome,
                                  codes=",".join(c for c, _ in codes)[:200],
                                  reasons="\n".join(reason_of(c, d) for c, d in codes), import_batch_id=batch.id,
                                  imported_at=now))
                s.flush()  # a later row of the same dose in this file sees this one
                if codes:
                    out.returned += 1
                else:
                    out.paid += 1
                    out.paid_amount += computed or 0
            batch.rows_read, batch.rows_accepted, batch.rows_rejected = out.read, out.paid, out.returned
            batch.finished_at = utcnow()
    detail = {"file": path.name, "sha256": facts.sha256, "month": out.month, "read": out.read, "paid": out.paid,
              "amount": out.paid_amount, "returned": out.returned, **({"refused": True} if out.refused else {})}
    with db.transaction() as s:
        audit.record(s, actor, ACTION, purpose=PURPOSE, detail=detail)
    return out


@dataclass(frozen=True)
class KokuhoLine:
    line_no: int
    institution_code: str
    institution_name: str
    atena_no: str
    vaccine_code: str
    category: str
    vaccinated_on: date
    claimed_amount: int
    computed_amount: int | None
    outcome: str
    codes: str
    reasons: str


def reconcile_kokuho(db: Database, *, actor: Actor, month: str) -> list[KokuhoLine]:
    """The 国保連 claims of a month with their verdicts (paid, or returned with the Japanese reasons); audited
    (it names persons: only the staff of the vaccination 事務 see them)."""
    month = check_month(month)
    with db.transaction() as s:
        scoped = access.scoped(s, actor, tasks=VACCINATION_TASKS)
        rows = s.execute(select(KokuhoClaim).where(KokuhoClaim.month == month)
                         .order_by(KokuhoClaim.import_batch_id, KokuhoClaim.line_no)).scalars().all()
        seen = scoped.visible({r.atena_no for r in rows if r.atena_no})
        out = [KokuhoLine(r.line_no, r.institution_code, r.institution_name, r.atena_no if r.atena_no in seen else "",
                          r.vaccine_code, r.category, r.vaccinated_on, r.claimed_amount, r.computed_amount, r.outcome,
                          r.codes, r.reasons) for r in rows]
        audit.record(s, actor, "billing.kokuho_reconcile", purpose=PURPOSE,
                     detail={"month": month, "rows": len(out), "paid": sum(r.outcome == "paid" for r in out)})
    return out


def kokuho_totals(s: Session, month: str) -> dict:
    """Paid count and amount of the month's 国保連 claims (for the month's summary)."""
    n, amount = s.execute(select(func.count(), func.coalesce(func.sum(KokuhoClaim.computed_amount), 0)).where(
        KokuhoClaim.month == month, KokuhoClaim.outcome == "paid")).one()
    return {"kokuho_paid": int(n), "kokuho_amount": int(amount)}

