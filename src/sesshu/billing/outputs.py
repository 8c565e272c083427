"""What a month's run hands out: statements (PDF), the 返戻 list (PDF, CSV), the accounting summary (CSV)
and the 全銀 総合振込 file — all built from the month's committed lines, so writing them again gives the
same bytes. Each file is written under a temporary name and renamed, and each is on the audit log
(prints with exports.log_print, the returns CSV with exports.log_export) in the transaction that read it.
"""
from __future__ import annotations

import hashlib
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.billing.codes import reason_of
from sesshu.billing.models import BillingReturn, BillingRun, InstitutionBankAccount, PaymentLine
from sesshu.billing.reference import fee_table, payer
from sesshu.billing.service import PURPOSE, _latest_run, _month_row, check_month, institution_totals
from sesshu.clock import utcnow
from sesshu.db import Database
from sesshu.domain.errors import NotFound
from sesshu.domain.fees import BILLABLE_CATEGORIES, NO_TIME_NOTE
from sesshu.domain.wareki import to_wareki
from sesshu.exports import service as exports
from sesshu.jobs.crash import crash_point
from sesshu.ledger.models import Institution, Vaccine
from sesshu.ledger.reference import SCREENING_RESULTS
from sesshu.payments.zengin import Header, Transfer, ZenginFile, write_zengin
from sesshu.printing import GOTHIC, MINCHO, PdfDocument, address_block, wrap_text
from sesshu.printing.document import fit_text
from sesshu.registry.models import Person

ACCOUNT_TYPES = {"1": "普通", "2": "当座", "4": "貯蓄", "9": "その他"}
RETURNS_HEADER = ("医療機関コード", "医療機関名", "記録番号", "宛名番号", "氏名", "生年月日", "接種種別", "期", "接種年月日",
                  "エラーコード", "返戻理由")
SUMMARY_HEADER = ("予算区分", "科目", "委託料件数", "委託料（単価計）", "自己負担額", "委託料支払額", "過誤調整件数",
                  "過誤調整額", "支払額合計")


def month_label(month: str) -> str:
    y, m = int(month[:4]), int(month[5:])
    return f"{to_wareki(date(y, m, 1)).split('年')[0]}年{m}月分"


def _yen(v: int) -> str:
    return f"{v:,}"


@dataclass(frozen=True)
class Output:
    name: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def _context(s: Session, month: str) -> tuple[BillingRun, str]:
    month = check_month(month)
    m = _month_row(s, month)
    latest = _latest_run(s, month)
    if m is None or latest is None or latest[1].status != "done":
        raise NotFound(f"{month} の計算結果がありません（計算が終わっていません）")
    return latest[0], m.status


# --- statement ------------------------------------------------------------------------------------------

@dataclass
class _StatementFacts:
    """What one institution's statement prints, read for many institutions at once (a month's files
    print 150 statements: a handful of grouped queries instead of six per statement)."""

    institution: Institution
    groups: dict[tuple, list[int]]  # (vaccine, term, screening, unit fee, copay, exempt, note) → [count, amount]
    adjustments: list
    returns: int
    account: InstitutionBankAccount | None


def _statement_facts(s: Session, month: str, codes: list[str]) -> dict[str, _StatementFacts]:
    L = PaymentLine
    where = (L.month == month, L.institution_code.in_(codes))
    out = {inst.code: _StatementFacts(institution=inst, groups={}, adjustments=[], returns=0, account=None)
           for inst in s.execute(select(Institution).where(Institution.code.in_(codes))).scalars()}
    # Aggregated in the database: a clinic's month can hold thousands of fee lines.
    # A campaign's 休日加算 / 時間外加算 (or its absence for want of a 接種時刻) is the fee line's note: a group of its own.
    for inst, vac, term, scr, unit, copay, exempt, note, n, amount in s.execute(
            select(L.institution_code, L.vaccine_code, L.term, L.screening_result, L.unit_fee, L.copay, L.copay_exempt,
                   L.note, func.count(), func.sum(L.amount)).where(*where, L.kind == "fee")
            .group_by(L.institution_code, L.vaccine_code, L.term, L.screening_result, L.unit_fee, L.copay,
                      L.copay_exempt, L.note)):
        if inst in out:
            out[inst].groups[(vac, term, scr, unit, copay, bool(exempt), note)] = [int(n), int(amount)]
    for a in s.execute(select(L.institution_code, L.record_id, L.vaccine_code, L.vaccinated_on, L.note, L.amount)
                       .where(*where, L.kind == "adjustment").order_by(L.institution_code, L.vaccine_code, L.term, L.id)):
        if a.institution_code in out:
            out[a.institution_code].adjustments.append(a)
    for inst, n in s.execute(select(BillingReturn.institution_code, func.count()).where(
            BillingReturn.month == month, BillingReturn.institution_code.in_(codes)).group_by(BillingReturn.institution_code)):
        if inst in out:
            out[inst].returns = int(n)
    for account in s.execute(select(InstitutionBankAccount)
                             .where(InstitutionBankAccount.institution_code.in_(codes))).scalars():
        if account.institution_code in out:
            out[account.institution_code].account = account
    return out


def statement_pdf(s: Session, month: str, institution_code: str, *, municipality: str,
                  context: tuple[BillingRun, str] | None = None, facts: _StatementFacts | None = None) -> Output:
    """One institution's statement. `context` and `facts`: read once for all the month's statements by
    write_month_files; read here for a single print."""
    run, status = context or _context(s, month)
    if facts is None:
        facts = _statement_facts(s, month, [institution_code]).get(institution_code)
        if facts is None:
            raise NotFound(f"医療機関コード {institution_code} は登録されていません")
    inst, groups, adjustments, returns, account = (facts.institution, facts.groups, facts.adjustments, facts.returns,
                                                   facts.account)
    vaccines = _vaccine_names(s)
    fee_total = sum(v[1] for v in groups.values())
    adj_total = sum(a.amount for a in adjustments)

    doc = PdfDocument(title=f"委託料支払明細書 {month} {institution_code}", author=municipality,
                      subject="予防接種委託料")
    doc.new_page()
    address_block(doc, postal_code="", address=inst.address, name=inst.name, honorific="御中")
    doc.text(195, 20, f"振込指定日 {to_wareki(run.transfer_date)}", size=10, align="right")
    doc.text(195, 26, f"{municipality}長", size=10, align="right")
    doc.text(105, 66, "予防接種委託料 支払明細書", size=16, font=MINCHO, align="center")
    doc.text(20, 76, f"請求月: {month_label(month)}　　医療機関コード: {institution_code}"
                     f"{'　　（締め前の試算）' if status != 'closed' else ''}", size=10)
    doc.text(20, 82, f"振込指定日: {to_wareki(run.transfer_date)}　　下記のとおり支払います。", size=10)
    y = 88
    rows = [["接種種別", "期", "予診区分・加算", "件数", "単価", "自己負担", "金額"]]
    for (vac, term, scr, unit, copay, exempt, note), (n, amount) in sorted(groups.items()):
        rows.append([vaccines.get(vac, vac), term, SCREENING_RESULTS.get(scr, scr) + ("（免除）" if exempt else "")
                     + (f" {_short_note(note)}" if note else ""),
                     _yen(n), _yen(unit), _yen(copay), _yen(amount)])
    rows.append(["委託料 計", "", "", _yen(sum(v[0] for v in groups.values())), "", "", _yen(fee_total)])
    y = _table(doc, y, [50, 10, 44, 14, 20, 20, 30], rows, ["left", "left", "left", "right", "right", "right", "right"])
    if any(key[6] == NO_TIME_NOTE for key in groups):
        y += 5
        doc.text(20, y, "「時刻なし」: 予診票に接種時刻の記載がないため、時間外加算の有無を判定せず加算していません。", size=8)
        y += 4
        doc.text(20, y, "接種時刻を記載した予診票で記録を修正すると、時間外の接種は翌月以降の過誤調整で支払います。", size=8)
    if adjustments:
        y += 6
        doc.text(20, y, "過誤調整（既に支払った記録の修正による増減）", size=10)
        y += 3
        rows = [["記録番号", "接種種別", "接種年月日", "内容", "金額"]]
        rows += [[str(a.record_id), vaccines.get(a.vaccine_code, a.vaccine_code), to_wareki(a.vaccinated_on),
                  a.note.removeprefix("過誤調整: "), _yen(a.amount)] for a in adjustments]
        rows.append(["過誤調整 計", "", "", "", _yen(adj_total)])
        y = _table(doc, y, [22, 40, 32, 66, 30], rows, ["right", "left", "left", "left", "right"])
    y += 8
    y = _page_room(doc, y, 40)
    doc.box(110, y, 80, 10, width=0.8)
    doc.text(114, y + 6.8, "支払額", size=11)
    doc.text(186, y + 6.8, f"{_yen(fee_total + adj_total)} 円", size=13, align="right")
    y += 18
    doc.text(20, y, f"返戻: {returns} 件（理由は返戻一覧のとおり。修正のうえ再請求してください）", size=10)
    y += 7
    if account:
        doc.text(20, y, f"振込先: {account.bank_name}（{account.bank_code}） {account.branch_name}（{account.branch_code}） "
                        f"{ACCOUNT_TYPES.get(account.account_type, '')} {account.account_no} 名義 {account.holder_kana}", size=9)
    else:
        doc.text(20, y, "振込先: 口座が登録されていません", size=9)
    printed = doc.finish()
    return Output(name=f"statement-{institution_code}.pdf", content=printed.content)


def _vaccine_names(s: Session) -> dict[str, str]:
    """Names of the vaccines, read once per transaction (a month's files print 150 statements in one)."""
    names = s.info.get("billing_vaccine_names")
    if names is None:
        names = s.info["billing_vaccine_names"] = dict(s.execute(select(Vaccine.code, Vaccine.name)).all())
    return names


def _page_room(doc: PdfDocument, y: float, need: float) -> float:
    if y + need > 280:
        doc.new_page()
        return 20
    return y


def _short_note(note: str) -> str:
    """A fee line's note as the statement's narrow column shows it."""
    return "時刻なし" if note == NO_TIME_NOTE else note


def _table(doc: PdfDocument, y: float, widths: list[float], rows: list[list[str]], align: list[str],
           *, size: float = 9) -> float:
    """A table that continues on new pages (header repeated)."""
    header, body = rows[0], rows[1:]
    per_page = max(1, int((280 - y) // 7) - 1)
    while True:
        part, body = body[:per_page], body[per_page:]
        y = doc.table(20, y, widths, [header, *part], align=align, size=size)
        if not body:
            return y
        doc.new_page()
        y = 20
        per_page = int((280 - y) // 7) - 1


# --- returns ---------------------------------------------------------------------------------------------

def return_rows(s: Session, month: str, *, institution_code: str | None = None) -> list[dict]:
    """The 返戻 of the month, and the paid doses it takes back because the schedule engine judged them
    invalid since (code R_TAKEN_BACK first, then the engine's codes), by clinic and 接種年月日."""
    q = (select(BillingReturn, Person.name, Person.birth_date, Institution.name.label("inst_name"))
         .join(Person, Person.atena_no == BillingReturn.atena_no)
         .outerjoin(Institution, Institution.code == BillingReturn.institution_code)
         .where(BillingReturn.month == month))
    L = PaymentLine
    back = (select(L, Person.name, Person.birth_date, Institution.name.label("inst_name"))
            .join(Person, Person.atena_no == L.atena_no).outerjoin(Institution, Institution.code == L.institution_code)
            .where(L.month == month, L.kind == "adjustment", L.amount < 0, L.record_status == "active",
                   L.record_error_code != ""))
    if institution_code is not None:
        q = q.where(BillingReturn.institution_code == institution_code)
        back = back.where(L.institution_code == institution_code)
    vaccines = _vaccine_names(s)

    def row(r, name, birth, inst_name, codes: str, reasons: list[str]) -> dict:
        return {"institution_code": r.institution_code, "institution_name": inst_name or "（不明）",
                "record_id": r.record_id, "atena_no": r.atena_no, "name": name, "birth_date": birth,
                "vaccine": vaccines.get(r.vaccine_code, r.vaccine_code), "vaccine_code": r.vaccine_code, "term": r.term,
                "vaccinated_on": r.vaccinated_on, "codes": codes, "reasons": reasons}

    out = [row(r, name, birth, inst_name, r.codes, r.reasons.split("\n")) for r, name, birth, inst_name in s.execute(q)]
    for ln, name, birth, inst_name in s.execute(back):
        engine = [c for c in ln.record_error_code.split(",") if c]
        out.append(row(ln, name, birth, inst_name, ",".join(["R_TAKEN_BACK", *engine]),
                       [reason_of("R_TAKEN_BACK", f"{-ln.amount:,}円"), *(reason_of(c) for c in engine)]))
    return sorted(out, key=lambda r: (r["institution_code"], r["vaccinated_on"], r["record_id"]))


def returns_csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = exports.CsvWriter(buf)
    w.writerow(RETURNS_HEADER)
    for r in rows:
        w.writerow([v for v in (
            r["institution_code"], r["institution_name"], r["record_id"], r["atena_no"], r["name"],
            r["birth_date"].isoformat(), r["vaccine"], r["term"], r["vaccinated_on"].isoformat(), r["codes"],
            " / ".join(r["reasons"]))])
    return buf.getvalue().encode("utf-8-sig")


RETURN_WIDTHS = [14, 19, 24, 31, 24, 68]
RETURN_HEADER = ["記録番号", "宛名番号", "氏名", "接種種別", "接種年月日", "返戻理由（エラーコード）"]


def _return_row(doc: PdfDocument, y: float, cells: list[str], reasons: list[str]) -> float:
    """One returned record: the reasons wrapped in the last column, the row as tall as they need."""
    size = 7.5
    lines = [ln for reason in reasons for ln in wrap_text(reason, GOTHIC, size, RETURN_WIDTHS[-1] - 2)]
    height = max(7.0, 3.4 * len(lines) + 3)
    doc.box(20, y, sum(RETURN_WIDTHS), height, width=0.4)
    x = 20
    for i, (w, cell) in enumerate(zip(RETURN_WIDTHS, cells + [""])):
        if i:
            doc.line(x, y, x, y + height, width=0.4)
        if i < len(cells):
            value = fit_text(cell, GOTHIC, size, w - 2)
            if i == 0:
                doc.text(x + w - 1, y + 4.6, value, size=size, align="right")
            else:
                doc.text(x + 1, y + 4.6, value, size=size)
        x += w
    for k, ln in enumerate(lines):
        doc.text(x - RETURN_WIDTHS[-1] + 1, y + 4.6 + 3.4 * k, ln, size=size)
    return y + height


def returns_pdf(month: str, rows: list[dict], *, municipality: str) -> bytes:
    doc = PdfDocument(title=f"返戻一覧 {month}", author=municipality, subject="予防接種委託料")
    doc.new_page()
    doc.text(105, 18, f"予防接種委託料 返戻一覧（{month_label(month)}）", size=14, font=MINCHO, align="center")
    doc.text(195, 25, f"{municipality}　{len(rows)}件", size=9, align="right")
    y = 30
    by_inst: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_inst[r["institution_code"]].append(r)
    for code in sorted(by_inst):
        items = by_inst[code]
        y = _page_room(doc, y, 24)
        doc.text(20, y + 5, f"{code or '医療機関不明'}　{items[0]['institution_name']}　{len(items)}件", size=10)
        y += 7
        y = doc.table(20, y, RETURN_WIDTHS, [RETURN_HEADER], size=7.5)
        for r in items:
            reasons = [f"{reason}（{code_}）" for reason, code_ in zip(r["reasons"], r["codes"].split(","))]
            if y + 3.4 * len(reasons) * 2 + 3 > 282:
                doc.new_page()
                y = doc.table(20, 20, RETURN_WIDTHS, [RETURN_HEADER], size=7.5)
            y = _return_row(doc, y, [str(r["record_id"]), r["atena_no"], r["name"],
                                     f"{r['vaccine']} {r['term']}".strip(), to_wareki(r["vaccinated_on"])], reasons)
        y += 5
    return doc.finish().content


# --- summary and bank file ----------------------------------------------------------------------------------

def summary_rows(s: Session, month: str) -> list[list]:
    table = fee_table()
    acc: dict[str, list] = {}
    for category in BILLABLE_CATEGORIES:
        b = table.budget_of(category)
        acc.setdefault(b.label, [b.label, b.account, 0, 0, 0, 0, 0, 0])
    L = PaymentLine
    for kind, category, n, unit_fee, copay, amount in s.execute(
            select(L.kind, L.category, func.count(), func.sum(L.unit_fee), func.sum(L.copay), func.sum(L.amount))
            .where(L.month == month).group_by(L.kind, L.category)):
        row = acc[table.budget_of(category).label]
        if kind == "fee":
            row[2] += int(n)
            row[3] += int(unit_fee)
            row[4] += int(copay)
            row[5] += int(amount)
        else:
            row[6] += int(n)
            row[7] += int(amount)
    out = [r + [r[5] + r[7]] for r in acc.values()]
    total = ["合計", ""] + [sum(r[i] for r in out) for i in range(2, 9)]
    return out + [total]


def summary_csv(rows: list[list]) -> bytes:
    buf = io.StringIO()
    w = exports.CsvWriter(buf)
    w.writerow(SUMMARY_HEADER)
    for r in rows:
        w.writerow(r)
    return buf.getvalue().encode("utf-8-sig")


def zengin_file(s: Session, month: str) -> tuple[bytes, list[dict]]:
    """The 総合振込 file: one transfer per institution whose month total is positive. Returns the bytes and
    the institutions left out (no account, or nothing to pay after adjustments)."""
    run, _status = _context(s, month)
    p = payer()
    header = Header(requester_code=p["requester_code"], requester_name=p["requester_name"],
                    transfer_date=run.transfer_date, bank_code=p["bank_code"], bank_name=p["bank_name"],
                    branch_code=p["branch_code"], branch_name=p["branch_name"], account_type=p["account_type"],
                    account_no=p["account_no"])
    transfers, skipped = [], []
    for t in institution_totals(s, month):
        account = s.get(InstitutionBankAccount, t.code)
        if t.total <= 0 or account is None:
            skipped.append({"institution_code": t.code, "total": t.total,
                            "reason": "口座未登録" if account is None else "支払額なし（過誤調整による相殺）"})
            continue
        transfers.append(Transfer(bank_code=account.bank_code, bank_name=account.bank_name,
                                  branch_code=account.branch_code, branch_name=account.branch_name,
                                  account_type=account.account_type, account_no=account.account_no,
                                  payee_name=account.holder_kana, amount=t.total,
                                  customer_code1=t.code if t.code.isdigit() and len(t.code) <= 10 else "",
                                  customer_code2=month.replace("-", "")))
    return write_zengin(ZenginFile(header=header, transfers=transfers)), skipped


# --- writing the run's files -----------------------------------------------------------------------------

def _write(out_dir: Path, name: str, content: bytes) -> Path:
    return exports.write_private(out_dir / name, content)  # names and birth dates (returns.csv): 0600


def write_month_files(db: Database, *, actor: Actor, month: str, out_dir: Path, municipality: str) -> dict:
    """statement-<code>.pdf per paid institution, returns.pdf, returns.csv, summary.csv and zengin.txt."""
    out_dir = Path(out_dir)
    exports.private_dir(out_dir)
    with db.transaction() as s:
        run, status = _context(s, month)
        written = {}
        totals = institution_totals(s, month)
        facts = _statement_facts(s, month, [t.code for t in totals])
        printed = []
        for t in totals:
            if t.code not in facts:
                raise NotFound(f"医療機関コード {t.code} は登録されていません")
            out = statement_pdf(s, month, t.code, municipality=municipality, context=(run, status), facts=facts[t.code])
            _write(out_dir, out.name, out.content)
            printed.append(exports.print_event(document="委託料支払明細書", purpose=PURPOSE, rows=t.fee_count,
                                               sha256=out.sha256,
                                               detail={"month": month, "institution_code": t.code, "file": out.name}))
            written[out.name] = out.sha256
        audit.record_many(s, actor, printed)  # one append for the statements, in their order
        rows = return_rows(s, month)
        pdf = Output("returns.pdf", returns_pdf(month, rows, municipality=municipality))
        _write(out_dir, pdf.name, pdf.content)
        exports.log_print(s, actor, document="返戻一覧", purpose=PURPOSE, rows=len(rows), sha256=pdf.sha256,
                          detail={"month": month, "file": pdf.name})
        rcsv = Output("returns.csv", returns_csv(rows))
        _write(out_dir, rcsv.name, rcsv.content)
        exports.log_export(s, actor, document="返戻一覧", purpose=PURPOSE, rows=len(rows), sha256=rcsv.sha256,
                           file=rcsv.name, detail={"month": month})
        summary = Output("summary.csv", summary_csv(summary_rows(s, month)))
        _write(out_dir, summary.name, summary.content)
        zengin, skipped = zengin_file(s, month)
        bank = Output("zengin.txt", zengin)
        _write(out_dir, bank.name, bank.content)
        written.update({o.name: o.sha256 for o in (pdf, rcsv, summary, bank)})
        crash_point("files", s)  # the files are on disk, their log and files_at not yet committed
        if run.files_at is None:
            run.files_at = utcnow()
        audit.record(s, actor, "billing.files", purpose=PURPOSE,
                     detail={"month": month, "run_no": run.run_no, "status": status, "files": written,
                             "not_transferred": skipped})
    return {"files": sorted(written), "not_transferred": skipped}



# --- downloads (web) ----------------------------------------------------------------------------------------

def print_statement(db: Database, *, actor: Actor, month: str, institution_code: str, municipality: str) -> Output:
    with db.transaction() as s:
        out = statement_pdf(s, check_month(month), institution_code, municipality=municipality)
        exports.log_print(s, actor, document="委託料支払明細書", purpose=PURPOSE, rows=1, sha256=out.sha256,
                          detail={"month": month, "institution_code": institution_code})
        return out


RETURNS_PER_PAGE = 200


def view_returns(db: Database, *, actor: Actor, month: str, page: int = 1,
                 per_page: int = RETURNS_PER_PAGE) -> tuple[list[dict], int]:
    """One page of the 返戻 list on screen (names persons) and the month's total: for staff assigned to the
    vaccination task; audited. A month with 20,000 returns is 100 pages, not one 8 MB page."""
    month = check_month(month)
    page = max(1, page)
    with db.transaction() as s:
        scope = access.require_some_task(s, actor)
        rows = [r for r in return_rows(s, month) if scope.all_persons or access.is_visible(s, scope, r["atena_no"])]
        shown = rows[(page - 1) * per_page: page * per_page]
        audit.record(s, actor, "billing.returns_view", purpose=PURPOSE,
                     detail={"month": month, "rows": len(rows), "page": page, "shown": len(shown)})
        return shown, len(rows)


def print_returns(db: Database, *, actor: Actor, month: str, municipality: str) -> Output:
    month = check_month(month)
    with db.transaction() as s:
        _context(s, month)
        scope = access.require_some_task(s, actor)
        rows = [r for r in return_rows(s, month) if scope.all_persons or access.is_visible(s, scope, r["atena_no"])]
        out = Output(f"returns-{month}.pdf", returns_pdf(month, rows, municipality=municipality))
        exports.log_print(s, actor, document="返戻一覧", purpose=PURPOSE, rows=len(rows), sha256=out.sha256,
                          detail={"month": month})
        return out


def download_summary(db: Database, *, actor: Actor, month: str) -> Output:
    """The accounting summary (aggregates only, no personal data); on record like every output."""
    month = check_month(month)
    with db.transaction() as s:
        _context(s, month)
        out = Output(f"summary-{month}.csv", summary_csv(summary_rows(s, month)))
        audit.record(s, actor, "billing.summary_download", purpose=PURPOSE,
                     detail={"month": month, "sha256": out.sha256})
        return out


def download_zengin(db: Database, *, actor: Actor, month: str) -> Output:
    month = check_month(month)
    with db.transaction() as s:
        content, skipped = zengin_file(s, month)
        out = Output(f"zengin-{month}.txt", content)
        audit.record(s, actor, "billing.zengin_download", purpose=PURPOSE,
                     detail={"month": month, "sha256": out.sha256, "not_transferred": skipped})
        return out
