"""The monthly 委託料 run for a 請求月, closing (locking) it, and the figures pages and files read.

A run is a sesshu.jobs job whose units are institutions: each chunk writes the paid lines
(`payment_line`, kind fee), the 過誤調整 lines (kind adjustment) and the returns (`billing_return`)
of its institutions, with the job's progress, in one transaction — a kill -9 at any moment and a
re-run give the same lines as an uninterrupted run. A month stays open (its lines are provisional
and a new run replaces them) until it is closed; a closed month is locked and what it paid counts
as paid for every later month. Reopening needs a second person's approval (approvals kind
`billing_month_reopen`).

What is paid (docs/billing.md): an active record whose 請求月 is the month, of a billable 接種区分
(定期 A類/B類, 臨時, 住民接種), with an empty エラーコード from the schedule engine (valid 定期),
evaluated, never paid before, with a price in the fee table on its 接種日, at an active institution
with a registered bank account. The amount is the fee less the copay the clinic collected, unless
the person's copay is exempt (費用助成) for the dose's fiscal year. Everything else claimed in the
month is returned with every code that applies and its Japanese reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, case, delete, extract, func, or_, select
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.billing.codes import reason_of
from sesshu.billing.models import (
    BillingClaim,
    BillingMonth,
    BillingReturn,
    BillingRun,
    InstitutionBankAccount,
    KokuhoClaim,
    PaymentLine,
    SubsidyDecision,
)
from sesshu.billing.reference import fee_table_for
from sesshu.bulk import bulk_copy
from sesshu.clock import utcnow
from sesshu.db import Database
from sesshu.domain.wareki import DateParseError, parse_month
from sesshu.domain.errors import Conflict, InvalidInput, NotFound
from sesshu.domain.fees import BILLABLE_CATEGORIES, FeeTable
from sesshu.domain.subsidy import EXEMPT
from sesshu.jobs import JobContext, JobOutcome, job_outcome, run_job
from sesshu.jobs.models import BatchJob
from sesshu.ledger.models import EvaluationQueue, Institution, Lot, Product, VaccinationRecord
from sesshu.ledger.reference import CATEGORIES

PURPOSE = "予防接種委託料の支払"
JOB_KIND = "billing"
NO_INSTITUTION_UNIT = "-"
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

R = VaccinationRecord
# Who is paid for a record: the vaccinating institution, or for 予診のみ the screening one.
PAYEE = case((and_(R.screening_result == "screened_only", R.screening_institution_code.is_not(None)),
              R.screening_institution_code), else_=R.institution_code)
# The lot's product, for a price of its own (高齢者インフルエンザ 高用量); None for most records.
_PRODUCT = (select(Product.name).join(Lot, Lot.product_code == Product.code).where(Lot.lot_no == R.lot_no)
            .limit(1).scalar_subquery().label("product"))
_REC_COLS = (R.id, R.atena_no, R.vaccine_code, R.term, R.category, R.vaccinated_on, R.vaccination_time,
             R.screening_result,
             R.institution_code, R.screening_institution_code, R.error_code, R.status, R.version, R.billing_month,
             _PRODUCT)


def check_month(month: str) -> str:
    """The 請求月 as YYYY-MM, typed as 2026-11, 202611, R8.11, 令和8年11月 or in full-width digits."""
    value = (month or "").strip()
    if not value:
        raise InvalidInput("請求月を入力してください（例：2026-11、R8.11、令和8年11月）")
    try:
        value = parse_month(value)
    except DateParseError as e:
        raise InvalidInput(f"請求月: {e}（例：2026-11、R8.11、令和8年11月）") from None
    if not _MONTH.match(value):
        raise InvalidInput(f"請求月は 2026-11 や R8.11 の形で指定してください（{month}）")
    return value


def payee_of(r) -> str | None:
    if r.screening_result == "screened_only" and r.screening_institution_code:
        return r.screening_institution_code
    return r.institution_code


@dataclass
class Verdict:
    """What the city owes for a record now: (institution, fee) when payable, else the return codes."""

    payee: str | None
    fee: object | None = None
    codes: list[tuple[str, str]] = field(default_factory=list)  # (code, detail)


@dataclass(frozen=True)
class Facts:
    """What a chunk looked up once for all its records."""

    table: FeeTable
    institutions: dict[str, bool]  # code → active
    accounts: frozenset[str]
    exempt: frozenset[tuple[str, int]]  # (atena_no, fiscal year)
    queued: frozenset[str]  # persons waiting for the schedule engine
    prices: dict = field(default_factory=dict)  # memo of fee lookups: most records share a price


def judge(r, facts: Facts, *, paid_in: str | None = None, kokuho_in: str | None = None) -> Verdict:
    """The verdict on one record (pure given the facts). paid_in: the month that already paid it;
    kokuho_in: the month of a 国保連 claim that paid it (billing/kokuho.py) — never paid twice."""
    payee = payee_of(r)
    on = r.vaccinated_on
    key = (r.vaccine_code, r.term or "", r.screening_result or "vaccinated", on,
           (r.atena_no, on.year if on.month >= 4 else on.year - 1) in facts.exempt, r.product,  # fiscal_year
           r.vaccination_time)
    fee = facts.prices.get(key, False)
    if fee is False:
        fee = facts.prices[key] = facts.table.price(vaccine=key[0], term=key[1], screening=key[2], on=key[3],
                                                    exempt=key[4], product=key[5], at=key[6])
    # Most records of a month are payable: one test for all the reasons not to pay before listing them.
    if (fee is not None and payee is not None and not r.error_code and not paid_in and not kokuho_in
            and facts.institutions.get(payee)
            and r.category in BILLABLE_CATEGORIES and r.atena_no not in facts.queued and payee in facts.accounts):
        return Verdict(payee=payee, fee=fee)
    v = Verdict(payee=payee)
    if payee is None:
        v.codes.append(("R_NO_INSTITUTION", ""))
    elif not facts.institutions.get(payee, False):
        v.codes.append(("R_INSTITUTION_INACTIVE", payee))
    if r.category not in BILLABLE_CATEGORIES:
        v.codes.append(("R_NOT_ROUTINE", CATEGORIES.get(r.category, r.category) or "未設定"))
    if r.atena_no in facts.queued:
        v.codes.append(("R_NOT_EVALUATED", ""))
    for code in filter(None, (r.error_code or "").split(",")):
        v.codes.append((code, ""))
    if paid_in:
        v.codes.append(("R_ALREADY_PAID", f"{paid_in[:4]}年{int(paid_in[5:])}月分"))
    if kokuho_in:
        v.codes.append(("R_PAID_VIA_KOKUHO", f"{kokuho_in[:4]}年{int(kokuho_in[5:])}月分"))
    if fee is None:
        v.codes.append(("R_NO_FEE", ""))
    if payee is not None and payee not in facts.accounts:
        v.codes.append(("R_NO_ACCOUNT", ""))
    if not v.codes:
        v.fee = fee
    return v


def _facts(s: Session, rows: list, extra: list, institution_codes: set[str]) -> Facts:
    """Lookups for a chunk. The chunk's own records come with their person's queue entry and exemption
    (`_chunk_rows`); the extra records of adjustments are looked up by their persons."""
    codes = sorted(c for c in institution_codes if c)
    institutions = dict(s.execute(select(Institution.code, Institution.active).where(Institution.code.in_(codes)))
                        .all()) if codes else {}
    accounts = frozenset(s.execute(select(InstitutionBankAccount.institution_code)
                                   .where(InstitutionBankAccount.institution_code.in_(codes))).scalars()) if codes else frozenset()
    exempt = {(r.atena_no, int(r.exempt_year)) for r in rows if r.exempt_year is not None}
    queued = {r.atena_no for r in rows if r.queued}
    others = sorted({r.atena_no for r in extra})
    sd = SubsidyDecision
    for i in range(0, len(others), 5000):  # adjustments: records of any month and fiscal year
        part = others[i:i + 5000]
        exempt.update((a, int(y)) for a, y in s.execute(select(sd.atena_no, sd.fiscal_year).where(
            sd.status == "current", sd.outcome == EXEMPT, sd.atena_no.in_(part))))
        queued.update(s.execute(select(EvaluationQueue.atena_no).where(EvaluationQueue.atena_no.in_(part))).scalars())
    return Facts(table=fee_table_for(s), institutions=institutions, accounts=accounts, exempt=frozenset(exempt),
                 queued=frozenset(queued))


def _chunk_rows(s: Session, month: str, where) -> list:
    """Records of the month (active, matching `where`), each with what the run needs besides it, in one round trip:
    whether its person waits for the schedule engine, the fiscal year of a copay exemption in force for
    its dose, and the month that already paid it (a fee line elsewhere)."""
    sd, eq, paid, kk = SubsidyDecision, EvaluationQueue, PaymentLine, KokuhoClaim
    return list(s.execute(
        select(*_REC_COLS, eq.atena_no.is_not(None).label("queued"), sd.fiscal_year.label("exempt_year"),
               paid.month.label("paid_in"), kk.month.label("kokuho_in"))
        .outerjoin(eq, eq.atena_no == R.atena_no)
        .outerjoin(sd, and_(sd.atena_no == R.atena_no, sd.status == "current", sd.outcome == EXEMPT,
                            sd.fiscal_year == _fiscal_year_of(R.vaccinated_on)))
        .outerjoin(paid, and_(paid.record_id == R.id, paid.kind == "fee", paid.month != month))
        .outerjoin(kk, and_(kk.record_id == R.id, kk.outcome == "paid"))
        .where(R.billing_month == month, R.status == "active", where)))


# --- months --------------------------------------------------------------------------------------------

def _month_row(s: Session, month: str, *, create: bool = False, lock: bool = False) -> BillingMonth | None:
    q = select(BillingMonth).where(BillingMonth.month == month)
    row = s.execute(q.with_for_update() if lock else q).scalar_one_or_none()
    if row is None and create:
        row = BillingMonth(month=month, status="open", revision=0)
        s.add(row)
        s.flush()
    return row


def _closed_months(s: Session):
    return select(BillingMonth.month).where(BillingMonth.status == "closed")


def _latest_run(s: Session, month: str) -> tuple[BillingRun, BatchJob] | None:
    row = s.execute(select(BillingRun, BatchJob).join(BatchJob, BatchJob.id == BillingRun.job_id)
                    .where(BillingRun.month == month).order_by(BillingRun.run_no.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


# --- the job -------------------------------------------------------------------------------------------

@dataclass
class Paid:
    """What the closed months paid for a record, and the record as its last line saw it."""

    amounts: dict[str, int]  # institution → amount paid to date
    version: int
    error_code: str
    status: str
    exempt: bool  # the copay exemption the last line applied


def _fiscal_year_of(col):
    return extract("year", col) - case((extract("month", col) < 4, 1), else_=0)


def _changed_paid_records(s: Session, month: str) -> dict[int, Paid]:
    """Records paid in a closed month that changed since their last line: candidates for a 過誤調整.

    Changed means a new version (a correction), another エラーコード (the schedule engine re-evaluated the
    person, e.g. after a history import or a linkage answer), another status (voided), or — for a dose
    with a copay — another 費用助成 decision in force for its fiscal year than the one the last line applied."""
    closed = _closed_months(s)
    latest = (select(PaymentLine.record_id, func.max(PaymentLine.id).label("lid"))
              .where(PaymentLine.month.in_(closed), PaymentLine.month != month)
              .group_by(PaymentLine.record_id).subquery())
    last = PaymentLine.__table__.alias("last")
    base = select(R.id, last.c.record_version, last.c.record_error_code, last.c.record_status, last.c.copay_exempt)\
        .join(latest, latest.c.record_id == R.id).join(last, last.c.id == latest.c.lid)
    found = {row[0]: row for row in s.execute(base.where(or_(
        R.version != last.c.record_version, R.error_code != last.c.record_error_code, R.status != last.c.record_status)))}
    table = fee_table_for(s)
    sd = SubsidyDecision
    exempt_now = (select(sd.id).where(sd.atena_no == R.atena_no, sd.fiscal_year == _fiscal_year_of(R.vaccinated_on),
                                      sd.status == "current", sd.outcome == EXEMPT).exists())
    copay_vaccines = table.copay_vaccines()
    if copay_vaccines:
        # The last line's flag against the decision now; a line of a record that was not payable then
        # (void, engine error) applied no exemption, and its record is looked at when that changes.
        for row in s.execute(base.add_columns(R.vaccine_code, R.term, R.screening_result, R.vaccinated_on,
                                              R.vaccination_time, exempt_now)
                             .where(R.vaccine_code.in_(copay_vaccines), last.c.record_status == "active",
                                    last.c.record_error_code == "", last.c.copay_exempt != exempt_now)):
            if row[0] in found:
                continue
            fee = table.price(vaccine=row.vaccine_code, term=row.term or "", screening=row.screening_result or "vaccinated",
                              on=row.vaccinated_on, exempt=bool(row[-1]), at=row.vaccination_time)
            if fee is not None and fee.exempt != bool(row.copay_exempt):
                found[row[0]] = row
    changed = sorted(found)
    out: dict[int, Paid] = {rid: Paid(amounts={}, version=row.record_version, error_code=row.record_error_code,
                                      status=row.record_status, exempt=bool(row.copay_exempt))
                            for rid, row in found.items()}
    for i in range(0, len(changed), 5000):
        for rid, inst, amount in s.execute(
                select(PaymentLine.record_id, PaymentLine.institution_code, func.sum(PaymentLine.amount))
                .where(PaymentLine.record_id.in_(changed[i:i + 5000]), PaymentLine.month.in_(closed),
                       PaymentLine.month != month)
                .group_by(PaymentLine.record_id, PaymentLine.institution_code)):
            out[rid].amounts[inst] = int(amount)
    return out


def _records(s: Session, ids: list[int]) -> list:
    out = []
    for i in range(0, len(ids), 5000):
        out += s.execute(select(*_REC_COLS).where(R.id.in_(ids[i:i + 5000]))).all()
    return out


class BillingJob:
    kind = JOB_KIND
    label = "委託料の月次処理"

    def __init__(self) -> None:
        self._changed: dict[int, Paid] | None = None
        self._screened: list | None = None

    def plan(self, s: Session, ctx: JobContext) -> list[str]:
        month = ctx.params["month"]
        m = _month_row(s, month, create=True, lock=True)
        if m.status != "open":
            raise Conflict(f"{month} は締め済みです")
        # A new computation of an open month replaces the provisional lines of the previous one.
        s.execute(delete(PaymentLine).where(PaymentLine.month == month))
        s.execute(delete(BillingReturn).where(BillingReturn.month == month))
        s.add(BillingRun(month=month, run_no=ctx.params["run_no"], job_id=ctx.job_id,
                         transfer_date=date.fromisoformat(ctx.params["transfer_date"]), started_at=utcnow(),
                         started_by=ctx.actor.label))
        units = set(s.execute(select(PAYEE).where(R.billing_month == month, R.status == "active")
                              .distinct()).scalars())
        changed = self._changed = _changed_paid_records(s, month)  # the run's first chunk starts from it
        for paid in changed.values():
            units.update(paid.amounts)
        units.update(payee_of(r) for r in _records(s, sorted(changed)))
        return sorted(NO_INSTITUTION_UNIT if u is None else u for u in units)

    def process(self, s: Session, ctx: JobContext, chunk_no: int, units: list[str]) -> None:
        month = ctx.params["month"]
        run_id = s.execute(select(BillingRun.id).where(BillingRun.job_id == ctx.job_id)).scalar_one()
        codes = [u for u in units if u != NO_INSTITUTION_UNIT]
        wanted = set(codes)
        # Each part on its own index (an OR of them, or a condition on the screening clinic, would make
        # every chunk read the whole month); 予診のみ records paid to their screening clinic are listed once.
        if self._screened is None:
            self._screened = s.execute(select(R.id, R.screening_institution_code).where(
                R.billing_month == month, R.status == "active", R.screening_result == "screened_only",
                R.screening_institution_code.is_not(None))).all()
        parts = [R.institution_code.in_(codes)] if codes else []
        if NO_INSTITUTION_UNIT in units:
            parts.append(R.institution_code.is_(None))
        screened = [rid for rid, payee in self._screened if payee in wanted]
        parts += [R.id.in_(screened[i:i + 5000]) for i in range(0, len(screened), 5000)]
        found = {}
        for part in parts:
            found.update((r.id, r) for r in _chunk_rows(s, month, part))
        rows = [r for _id, r in sorted(found.items()) if (payee_of(r) or NO_INSTITUTION_UNIT) in units]
        # Once per process, not per chunk: it reads every line of the closed months.
        if self._changed is None:
            self._changed = _changed_paid_records(s, month)
        changed = self._changed
        changed_rows = [r for r in _records(s, sorted(changed))
                        if wanted & (set(changed[r.id].amounts) | {payee_of(r)})]
        facts = _facts(s, rows, changed_rows, wanted | {payee_of(r) for r in changed_rows})
        lines, returns = [], []
        for r in rows:
            v = judge(r, facts, paid_in=r.paid_in, kokuho_in=r.kokuho_in)
            if v.fee is not None:
                lines.append(_fee_line(r, v.payee, v.fee))
            else:
                returns.append({"institution_code": v.payee or "", "record_id": r.id, "atena_no": r.atena_no,
                                "vaccine_code": r.vaccine_code, "term": r.term or "", "vaccinated_on": r.vaccinated_on,
                                "codes": ",".join(c for c, _ in v.codes)[:200],
                                "reasons": "\n".join(reason_of(c, d) for c, d in v.codes)})
        for r in changed_rows:
            if r.status == "active" and r.atena_no in facts.queued:
                continue  # the engine has yet to judge the person again: adjusted in the run after it has
            paid = changed[r.id]
            v = judge(r, facts) if r.status == "active" else Verdict(payee=payee_of(r), codes=[("VOID", "")])
            due = {v.payee: v.fee.amount} if v.fee is not None else {}
            for inst in sorted(wanted & (set(paid.amounts) | set(due))):
                diff = due.get(inst, 0) - paid.amounts.get(inst, 0)
                if diff:
                    note = f"過誤調整: {adjustment_reason(r, v, paid, inst)}"[:200]
                    lines.append(_line(r, v, "adjustment", diff, note, institution=inst))
        stamp = {"month": month, "run_id": run_id}
        bulk_copy(s, PaymentLine.__table__, lines, _LINE_COLS, constants=stamp)
        bulk_copy(s, BillingReturn.__table__, returns, _RETURN_COLS, constants=stamp)

    def write_output(self, s: Session, ctx: JobContext, chunk_no: int, units: list[str]) -> None:
        """Files are written from the closed or computed month by `outputs.write_month_files`."""

    def finish(self, s: Session, ctx: JobContext) -> dict:
        totals = month_totals(s, ctx.params["month"])
        audit.record(s, ctx.actor, "billing.run", purpose=PURPOSE,
                     detail={"month": ctx.params["month"], "run_no": ctx.params["run_no"], **totals})
        return totals


def adjustment_reason(r, v: Verdict, paid: Paid, institution: str) -> str:
    """Why a paid record is paid differently now, in the words of the statement (Japanese)."""
    engine = r.version == paid.version and r.status == paid.status and (r.error_code or "") != paid.error_code
    if r.status != "active":
        return "記録の取消"
    if v.fee is None:
        codes = ",".join(c for c, _ in v.codes)
        return f"スケジュールの再判定により支払対象外（{codes}）" if engine else f"記録の修正により支払対象外（{codes}）"
    if not any(paid.amounts.values()):
        return "スケジュールの再判定により支払対象" if engine else "記録の修正により支払対象"
    if institution != v.payee or institution not in paid.amounts:
        return "記録の修正（医療機関の変更）"
    if v.fee.exempt != paid.exempt:
        return ("費用助成の判定の変更（自己負担を免除）" if v.fee.exempt
                else "費用助成の判定の変更（自己負担の免除を取消）")
    return "記録の修正（金額の変更）"


_LINE_COLS = ("kind", "institution_code", "record_id", "atena_no", "vaccine_code", "term", "screening_result",
              "category", "vaccinated_on", "unit_fee", "copay", "copay_exempt", "amount", "record_version",
              "record_error_code", "record_status", "note")
_RETURN_COLS = ("institution_code", "record_id", "atena_no", "vaccine_code", "term", "vaccinated_on", "codes", "reasons")


def _fee_line(r, payee: str, fee) -> dict:
    """_line(r, v, "fee", fee.amount, fee.note) for a payable record: the month's tens of thousands of lines."""
    return {"kind": "fee", "institution_code": payee, "record_id": r.id, "atena_no": r.atena_no,
            "vaccine_code": r.vaccine_code, "term": r.term or "", "screening_result": r.screening_result or "vaccinated",
            "category": r.category, "vaccinated_on": r.vaccinated_on, "unit_fee": fee.unit_fee,
            "copay": fee.copay_charged, "copay_exempt": bool(fee.exempt), "amount": fee.amount,
            "record_version": r.version, "record_error_code": r.error_code or "", "record_status": r.status,
            "note": fee.note}


def _line(r, v: Verdict, kind: str, amount: int, note: str, *, institution: str | None = None) -> dict:
    fee = v.fee
    return {"kind": kind, "institution_code": institution or v.payee, "record_id": r.id, "atena_no": r.atena_no,
            "vaccine_code": r.vaccine_code, "term": r.term or "", "screening_result": r.screening_result or "vaccinated",
            "category": r.category, "vaccinated_on": r.vaccinated_on,
            "unit_fee": fee.unit_fee if fee and kind == "fee" else 0,
            "copay": fee.copay_charged if fee and kind == "fee" else 0,
            "copay_exempt": bool(fee and fee.exempt), "amount": amount, "record_version": r.version,
            "record_error_code": r.error_code or "", "record_status": r.status, "note": note}


def month_totals(s: Session, month: str) -> dict:
    fee = s.execute(select(func.count(), func.coalesce(func.sum(PaymentLine.amount), 0)).where(
        PaymentLine.month == month, PaymentLine.kind == "fee")).one()
    adj = s.execute(select(func.count(), func.coalesce(func.sum(PaymentLine.amount), 0)).where(
        PaymentLine.month == month, PaymentLine.kind == "adjustment")).one()
    returns = s.execute(select(func.count()).select_from(BillingReturn).where(BillingReturn.month == month)).scalar_one()
    institutions = s.execute(select(func.count(func.distinct(PaymentLine.institution_code)))
                             .where(PaymentLine.month == month)).scalar_one()
    return {"paid_records": int(fee[0]), "fee_amount": int(fee[1]), "adjustments": int(adj[0]),
            "adjustment_amount": int(adj[1]), "returns": int(returns), "institutions": int(institutions),
            "total": int(fee[1]) + int(adj[1])}


# --- use cases -----------------------------------------------------------------------------------------

@dataclass
class RunResult:
    month: str
    run_no: int
    transfer_date: date
    outcome: JobOutcome
    files_pending: bool = False  # a finished run whose command stopped before writing its files, kept as it is


def run_month(db: Database, *, actor: Actor, month: str, transfer_date: date, chunk_size: int = 10,
              max_chunks: int | None = None, job: BillingJob | None = None, keep_unwritten: bool = False) -> RunResult:
    """Compute (or resume computing) the month. An unfinished run is resumed with the same transfer date;
    after a finished one, a new run recomputes the open month from the ledger as it is now.
    `keep_unwritten` (the CLI, which writes the files after the run): a finished run whose files were never
    written — the command was killed after the computation, or the month was computed on the web — is
    kept instead of recomputed when the transfer date is the same and nothing the month depends on moved
    since it began (the checks of closing); the command then writes its files from it.
    `job`: the definition to run (tests pass one that kills its own process at a chosen chunk)."""
    month = check_month(month)
    if transfer_date is None:
        raise InvalidInput("振込指定日を指定してください")
    with db.transaction() as s:
        m = _month_row(s, month)
        if m is not None and m.status == "closed":
            raise Conflict(f"{month} は締め済みのため再計算できません（締めの解除には承認が必要です）")
        latest = _latest_run(s, month)
        revision = m.revision if m else 0
        kept = None
        if latest and latest[1].status != "done":
            run, _job = latest
            if run.transfer_date != transfer_date:
                raise Conflict(f"{month} の前回の処理が途中です。同じ振込指定日（{run.transfer_date.isoformat()}）"
                               "で再実行して完了させてください")
            run_no = run.run_no
        elif (keep_unwritten and latest and latest[0].files_at is None and latest[0].transfer_date == transfer_date
              and not _changed_since(s, month, latest[0])):
            kept = (latest[0].run_no, latest[1].id)
        else:
            run_no = (latest[0].run_no + 1) if latest else 1
    if kept:
        return RunResult(month=month, run_no=kept[0], transfer_date=transfer_date,
                         outcome=job_outcome(db, kept[1], already_done=True), files_pending=True)
    params = {"month": month, "transfer_date": transfer_date.isoformat(), "run_no": run_no, "revision": revision}
    outcome = run_job(db, job or BillingJob(), actor=actor, key=f"{month}:{run_no}", params=params, chunk_size=chunk_size,
                      max_chunks=max_chunks)
    return RunResult(month=month, run_no=run_no, transfer_date=transfer_date, outcome=outcome)


def _changed_since(s: Session, month: str, run: BillingRun) -> str:
    """Why the run no longer reflects the ledger (Japanese, for the staff), or "" when nothing moved."""
    changed = s.execute(select(func.count()).select_from(R).where(
        R.billing_month == month, R.updated_at > run.started_at)).scalar_one()
    if changed:
        return f"{month} の接種記録が {changed} 件変わりました"
    return _stale_since(s, month, run.started_at)


def _stale_since(s: Session, month: str, started_at) -> str:
    """What moved since the run began without a clerk's edit of the month's records: the schedule engine's
    verdict or the queue of a paid record, or a 費用助成 decision of a person the month pays or claims."""
    L = PaymentLine
    engine = s.execute(select(func.count(func.distinct(L.record_id))).select_from(L).join(R, R.id == L.record_id)
                       .where(L.month == month, or_(R.error_code != L.record_error_code, R.status != L.record_status,
                                                    R.atena_no.in_(select(EvaluationQueue.atena_no))))).scalar_one()
    if engine:
        return f"支払対象の接種記録 {engine} 件のスケジュール判定が変わりました（または判定待ちです）"
    persons = or_(SubsidyDecision.atena_no.in_(select(R.atena_no).where(R.billing_month == month)),
                  SubsidyDecision.atena_no.in_(select(L.atena_no).where(L.month.in_(_closed_months(s)))))
    decided = s.execute(select(func.count()).select_from(SubsidyDecision)
                        .where(SubsidyDecision.decided_at > started_at, persons)).scalar_one()
    if decided:
        return f"費用助成の判定が {decided} 件ありました"
    return ""


def close_month(db: Database, *, actor: Actor, month: str) -> dict:
    """Lock the month: what it pays is paid. Refused while a run is unfinished or the data moved since."""
    month = check_month(month)
    with db.transaction() as s:
        m = _month_row(s, month, lock=True)
        latest = _latest_run(s, month)
        if m is None or latest is None:
            raise NotFound(f"{month} はまだ計算されていません（sesshu billing run を先に実行してください）")
        if m.status == "closed":
            raise Conflict(f"{month} は既に締め済みです")
        run, job = latest
        if job.status != "done":
            raise Conflict(f"{month} の計算が途中です。同じ条件で再実行して完了させてから締めてください")
        changed = _changed_since(s, month, run)
        if changed:
            raise Conflict(f"計算の後に、{changed}。再計算してから締めてください")
        totals = month_totals(s, month)
        m.status, m.closed_at, m.closed_by = "closed", utcnow(), actor.label
        audit.record(s, actor, "billing.close", purpose=PURPOSE, detail={"month": month, "run_no": run.run_no, **totals})
        return totals


def reopen_month_in(s: Session, actor: Actor, *, month: str, approval_id: int, reason: str) -> str:
    """Open a closed month again, in the approval's transaction (approvals kind billing_month_reopen)."""
    m = _month_row(s, month, lock=True)
    if m is None or m.status != "closed":
        raise Conflict(f"{month} は締め済みではありません")
    later = s.execute(select(BillingMonth.month).where(BillingMonth.month > month,
                                                       BillingMonth.status == "closed")).scalars().first()
    if later:
        raise Conflict(f"後の請求月（{later}）が締め済みのため、{month} の締めは解除できません")
    m.status, m.revision, m.closed_at, m.closed_by = "open", m.revision + 1, None, None
    audit.record(s, actor, "billing.reopen", purpose=PURPOSE,
                 detail={"month": month, "approval_id": approval_id, "reason": reason, "revision": m.revision})
    return month


def check_reopenable(s: Session, month: str) -> None:
    m = _month_row(s, month)
    if m is None or m.status != "closed":
        raise InvalidInput(f"{month} は締め済みではありません")
    later = s.execute(select(BillingMonth.month).where(BillingMonth.month > month,
                                                       BillingMonth.status == "closed")).scalars().first()
    if later:
        raise InvalidInput(f"後の請求月（{later}）が締め済みのため、{month} の締めは解除できません")


# --- reading -------------------------------------------------------------------------------------------

@dataclass
class InstitutionTotal:
    code: str
    name: str
    fee_count: int = 0
    fee_amount: int = 0
    copay: int = 0
    adjustment_amount: int = 0
    returns: int = 0
    has_account: bool = False

    @property
    def total(self) -> int:
        return self.fee_amount + self.adjustment_amount


@dataclass
class MonthOverview:
    month: str
    status: str
    revision: int
    run_no: int | None
    job_status: str | None
    transfer_date: date | None
    totals: dict
    institutions: list[InstitutionTotal]
    unassigned_returns: int


def institution_totals(s: Session, month: str) -> list[InstitutionTotal]:
    out: dict[str, InstitutionTotal] = {}
    names = dict(s.execute(select(Institution.code, Institution.name)).all())
    accounts = set(s.execute(select(InstitutionBankAccount.institution_code)).scalars())

    def get(code: str) -> InstitutionTotal:
        if code not in out:
            out[code] = InstitutionTotal(code=code, name=names.get(code, ""), has_account=code in accounts)
        return out[code]

    for inst, kind, n, amount, copay in s.execute(
            select(PaymentLine.institution_code, PaymentLine.kind, func.count(), func.sum(PaymentLine.amount),
                   func.sum(PaymentLine.copay)).where(PaymentLine.month == month)
            .group_by(PaymentLine.institution_code, PaymentLine.kind)):
        t = get(inst)
        if kind == "fee":
            t.fee_count, t.fee_amount, t.copay = int(n), int(amount), int(copay)
        else:
            t.adjustment_amount = int(amount)
    for inst, n in s.execute(select(BillingReturn.institution_code, func.count()).where(BillingReturn.month == month)
                             .group_by(BillingReturn.institution_code)):
        if inst:
            get(inst).returns = int(n)
    return [out[k] for k in sorted(out)]


def month_overview(db: Database, *, actor: Actor, month: str) -> MonthOverview:
    month = check_month(month)
    with db.transaction() as s:
        m = _month_row(s, month)
        latest = _latest_run(s, month)
        totals = month_totals(s, month)
        unassigned = s.execute(select(func.count()).select_from(BillingReturn).where(
            BillingReturn.month == month, BillingReturn.institution_code == "")).scalar_one()
        audit.record(s, actor, "billing.view", purpose=PURPOSE, detail={"month": month})
        return MonthOverview(month=month, status=m.status if m else "open", revision=m.revision if m else 0,
                             run_no=latest[0].run_no if latest else None,
                             job_status=latest[1].status if latest else None,
                             transfer_date=latest[0].transfer_date if latest else None, totals=totals,
                             institutions=institution_totals(s, month), unassigned_returns=int(unassigned))


def month_status(db: Database, month: str) -> str:
    with db.transaction() as s:
        m = _month_row(s, check_month(month))
        return m.status if m else "open"


def list_months(db: Database, *, actor: Actor) -> list[dict]:
    with db.transaction() as s:
        rows = s.execute(select(BillingMonth).order_by(BillingMonth.month.desc())).scalars().all()
        out = []
        for m in rows:
            latest = _latest_run(s, m.month)
            out.append({"month": m.month, "status": m.status, "closed_at": m.closed_at, "closed_by": m.closed_by,
                        "run_no": latest[0].run_no if latest else None,
                        "job_status": latest[1].status if latest else None, **month_totals(s, m.month)})
        audit.record(s, actor, "billing.list", purpose=PURPOSE, detail={"months": len(out)})
        return out


def claim_months(s: Session) -> list[str]:
    return list(s.execute(select(BillingClaim.month).distinct()).scalars())
