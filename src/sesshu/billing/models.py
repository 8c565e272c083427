"""Tables of 委託料の支払い: bank accounts, tax facts and exemptions, months, runs, paid lines, returns, claims."""
from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, Time, text
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base

MONTH_STATUSES = {"open": "未締め", "closed": "締め済み"}
LINE_KINDS = {"fee": "委託料", "adjustment": "過誤調整"}


class InstitutionBankAccount(Base):
    """振込先口座 of a 医療機関 (one current account; changes are on the audit log)."""

    __tablename__ = "institution_bank_account"

    institution_code: Mapped[str] = mapped_column(ForeignKey("institution.code"), primary_key=True)
    bank_code: Mapped[str] = mapped_column(String(4))
    bank_name: Mapped[str] = mapped_column(String(15))  # half-width kana, as the 全銀 file needs
    branch_code: Mapped[str] = mapped_column(String(3))
    branch_name: Mapped[str] = mapped_column(String(15))
    account_type: Mapped[str] = mapped_column(String(1))  # 1 普通, 2 当座, 4 貯蓄
    account_no: Mapped[str] = mapped_column(String(7))
    holder_kana: Mapped[str] = mapped_column(String(30))  # 口座名義 (half-width kana)
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[str] = mapped_column(String(64))


class TaxStatus(Base):
    """地方税関係情報 of one person for one fiscal year, as the tax system sent it."""

    __tablename__ = "tax_status"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    atena_no: Mapped[str] = mapped_column(ForeignKey("person.atena_no"))
    household_no: Mapped[str] = mapped_column(String(15), default="")
    taxable: Mapped[bool] = mapped_column(Boolean)  # 市民税 課税
    welfare: Mapped[bool] = mapped_column(Boolean)  # 生活保護
    import_batch_id: Mapped[int] = mapped_column(ForeignKey("import_batch.id"))
    imported_at: Mapped[datetime] = mapped_column(DateTime)


Index("uq_tax_status_year_person", TaxStatus.fiscal_year, TaxStatus.atena_no, unique=True)
Index("ix_tax_status_year_household", TaxStatus.fiscal_year, TaxStatus.household_no)


class SubsidyDecision(Base):
    """費用助成の判定: the outcome, the tax rows it used (basis), who decided, and any approval."""

    __tablename__ = "subsidy_decision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    atena_no: Mapped[str] = mapped_column(ForeignKey("person.atena_no"))
    fiscal_year: Mapped[int] = mapped_column(Integer)
    household_no: Mapped[str] = mapped_column(String(15), default="")
    outcome: Mapped[str] = mapped_column(String(16))  # exempt | not_exempt | undetermined
    method: Mapped[str] = mapped_column(String(10))  # matching | override
    reason: Mapped[str] = mapped_column(String(400))
    basis: Mapped[str] = mapped_column(Text)  # JSON: members and tax rows used
    decided_by: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(DateTime)
    approval_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="current")  # current | superseded


Index("uq_subsidy_decision_current", SubsidyDecision.atena_no, SubsidyDecision.fiscal_year, unique=True,
      sqlite_where=text("status = 'current'"), postgresql_where=text("status = 'current'"))


class BillingMonth(Base):
    """請求月: open while it is computed; closed (locked) once paid. Reopening needs an approval."""

    __tablename__ = "billing_month"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    status: Mapped[str] = mapped_column(String(8), default="open")
    revision: Mapped[int] = mapped_column(Integer, default=0)  # +1 each time it is reopened
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class BillingRun(Base):
    """One computation of a month (a sesshu.jobs job); the month's lines belong to its latest run."""

    __tablename__ = "billing_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(ForeignKey("billing_month.month"))
    run_no: Mapped[int] = mapped_column(Integer)
    job_id: Mapped[int] = mapped_column(ForeignKey("batch_job.id"))
    transfer_date: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    started_by: Mapped[str] = mapped_column(String(64))
    # Set with the `billing.files` audit entry: the command that computed the run also wrote its files.
    files_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


Index("uq_billing_run_month_no", BillingRun.month, BillingRun.run_no, unique=True)


class PaymentLine(Base):
    """One paid record (kind fee) or a correction of an earlier payment (kind adjustment, 過誤調整).

    A record is paid once: the partial unique index allows one fee line per record, ever."""

    __tablename__ = "payment_line"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(ForeignKey("billing_month.month"))
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_run.id"))
    kind: Mapped[str] = mapped_column(String(12))
    institution_code: Mapped[str] = mapped_column(ForeignKey("institution.code"))
    record_id: Mapped[int] = mapped_column(ForeignKey("vaccination_record.id"))
    atena_no: Mapped[str] = mapped_column(String(15))
    vaccine_code: Mapped[str] = mapped_column(String(20))
    term: Mapped[str] = mapped_column(String(8), default="")
    screening_result: Mapped[str] = mapped_column(String(20), default="")
    category: Mapped[str] = mapped_column(String(20))
    vaccinated_on: Mapped[date] = mapped_column(Date)
    unit_fee: Mapped[int] = mapped_column(Integer)
    copay: Mapped[int] = mapped_column(Integer)  # copay the clinic collected (0 when exempt)
    copay_exempt: Mapped[bool] = mapped_column(Boolean, default=False)
    amount: Mapped[int] = mapped_column(Integer)  # paid to the clinic (negative: taken back)
    # The record as it was paid: a later change of any of these is looked at for a 過誤調整.
    record_version: Mapped[int] = mapped_column(Integer)
    record_error_code: Mapped[str] = mapped_column(String(200), default="")
    record_status: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(String(200), default="")


Index("ix_payment_line_month_institution", PaymentLine.month, PaymentLine.institution_code)
Index("ix_payment_line_record", PaymentLine.record_id)
Index("uq_payment_line_fee_record", PaymentLine.record_id, unique=True,
      sqlite_where=text("kind = 'fee'"), postgresql_where=text("kind = 'fee'"))
Index("uq_payment_line_adjustment", PaymentLine.month, PaymentLine.record_id, PaymentLine.institution_code,
      unique=True, sqlite_where=text("kind = 'adjustment'"), postgresql_where=text("kind = 'adjustment'"))


class BillingReturn(Base):
    """返戻: a claimed record the city does not pay this month, with codes and Japanese reasons."""

    __tablename__ = "billing_return"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(ForeignKey("billing_month.month"))
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_run.id"))
    institution_code: Mapped[str] = mapped_column(String(20), default="")  # "" when the record names none
    record_id: Mapped[int] = mapped_column(ForeignKey("vaccination_record.id"))
    atena_no: Mapped[str] = mapped_column(String(15))
    vaccine_code: Mapped[str] = mapped_column(String(20))
    term: Mapped[str] = mapped_column(String(8), default="")
    vaccinated_on: Mapped[date] = mapped_column(Date)
    codes: Mapped[str] = mapped_column(String(200))
    reasons: Mapped[str] = mapped_column(Text)


Index("uq_billing_return_month_record", BillingReturn.month, BillingReturn.record_id, unique=True)
Index("ix_billing_return_month_institution", BillingReturn.month, BillingReturn.institution_code)


class BillingClaim(Base):
    """A clinic's own claim totals (請求書) for a month, per vaccine, to reconcile with the city's figures."""

    __tablename__ = "billing_claim"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(String(7))
    institution_code: Mapped[str] = mapped_column(ForeignKey("institution.code"))
    vaccine_code: Mapped[str] = mapped_column(ForeignKey("vaccine.code"))
    count: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)
    import_batch_id: Mapped[int] = mapped_column(ForeignKey("import_batch.id"))
    imported_at: Mapped[datetime] = mapped_column(DateTime)


Index("uq_billing_claim_key", BillingClaim.month, BillingClaim.institution_code, BillingClaim.vaccine_code,
      unique=True)


class KokuhoClaim(Base):
    """One dose claimed through the 国保連 (国民健康保険団体連合会) route: a clinic outside the city vaccinated
    a person of this city and claimed the fee through its prefecture's 国保連, which sends the city a monthly
    file of such doses. Each row is matched to the ledger and judged when the file is imported: `paid` (the
    city pays it through the 国保連) or `returned` with codes and Japanese reasons. A dose is paid once: one
    `paid` row per record (partial unique index), and a record the city's own run paid is returned here, as
    a record paid here is returned by the city's run (R_PAID_VIA_KOKUHO)."""

    __tablename__ = "kokuho_claim"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(String(7))  # 請求月 of the 国保連 file
    line_no: Mapped[int] = mapped_column(Integer)
    institution_code: Mapped[str] = mapped_column(String(10))  # the claiming clinic's 医療機関コード (not our master)
    institution_name: Mapped[str] = mapped_column(String(100), default="")
    ticket_no: Mapped[str] = mapped_column(String(20), default="")
    atena_no: Mapped[str] = mapped_column(String(15), default="")  # as matched ("" when no person was found)
    vaccine_code: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20), default="")
    vaccinated_on: Mapped[date] = mapped_column(Date)
    vaccination_time: Mapped[time | None] = mapped_column(Time, nullable=True)
    screening_result: Mapped[str] = mapped_column(String(20), default="vaccinated")
    claimed_amount: Mapped[int] = mapped_column(Integer)
    computed_amount: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the campaign's fee for it
    record_id: Mapped[int | None] = mapped_column(ForeignKey("vaccination_record.id"), nullable=True)
    outcome: Mapped[str] = mapped_column(String(10))  # paid | returned
    codes: Mapped[str] = mapped_column(String(200), default="")
    reasons: Mapped[str] = mapped_column(Text, default="")
    import_batch_id: Mapped[int] = mapped_column(ForeignKey("import_batch.id"))
    imported_at: Mapped[datetime] = mapped_column(DateTime)


Index("ix_kokuho_claim_month", KokuhoClaim.month, KokuhoClaim.line_no)
Index("ix_kokuho_claim_record", KokuhoClaim.record_id)
Index("uq_kokuho_claim_paid_record", KokuhoClaim.record_id, unique=True,
      sqlite_where=text("outcome = 'paid'"), postgresql_where=text("outcome = 'paid'"))
