"""File imports of billing: institutions' bank accounts, 地方税関係情報 from the tax system, clinics' claims.

Each file is one transaction with its audit row: good rows in, bad rows to the rejects file with the
line number and a Japanese reason (imports/csvfile.py, the pattern of registry imports). Re-importing
the same file changes nothing; a newer row for the same key replaces the older one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.billing.models import BillingClaim, BillingMonth, InstitutionBankAccount, TaxStatus
from sesshu.billing.rows import (
    ACCOUNT_HEADERS,
    CLAIM_HEADERS,
    TAX_HEADERS,
    parse_account_row,
    parse_claim_row,
    parse_tax_row,
)
from sesshu.clock import utcnow
from sesshu.db import Database
from sesshu.imports.batch import ImportSummary, close_batch, open_batch
from sesshu.imports.csvfile import CsvSource, RejectWriter, inspect_file
from sesshu.ledger.models import Institution, Vaccine
from sesshu.registry.models import Person
from sesshu.registry.rows import RowError


def _import(db: Database, *, actor: Actor, path: Path, rejects_path: Path | None, kind: str, headers: tuple,
            required: tuple, key: Callable[[dict], tuple], prepare: Callable[[Session], Callable[[dict], dict]],
            apply: Callable[[Session, dict, int], bool], action: str, purpose: str) -> ImportSummary:
    facts = inspect_file(path)
    source = CsvSource(path, facts=facts, required=required, known=headers)
    rejects = RejectWriter(rejects_path)
    try:
        with db.transaction() as s:
            batch = open_batch(s, kind=kind, path=path, facts=facts, actor=actor)
            summary = ImportSummary(batch_id=batch.id, file=path.name, encoding=facts.encoding)
            parse = prepare(s)
            seen: dict[tuple, int] = {}
            for row in source.rows():
                rejects.header = source.header
                summary.read += 1
                try:
                    if row.problem:
                        raise RowError(row.problem)
                    fields = parse(row.values)
                    first = seen.setdefault(key(fields), row.line_no)
                    if first != row.line_no:
                        raise RowError(f"同じ内容の行がファイル内で重複しています（{first}行目と同じキー）")
                except RowError as e:
                    summary.rejected += 1
                    rejects.write(row.line_no, "エラー", str(e), row.raw)
                    continue
                if apply(s, fields, batch.id):
                    summary.accepted += 1
                else:
                    summary.unchanged += 1
            rejects.header = source.header
            close_batch(batch, summary)
            audit.record(s, actor, action, purpose=purpose,
                         detail={"batch_id": batch.id, "file": path.name, "sha256": facts.sha256,
                                 **{k: v for k, v in summary.as_dict().items() if isinstance(v, int)}})
    finally:
        rejects.close()
    return summary


def _upsert(s: Session, model, current, values: dict) -> bool:
    if current is None:
        s.add(model(**values))
        s.flush()
        return True
    changed = [k for k, v in values.items() if k not in ("import_batch_id", "imported_at", "updated_at", "updated_by")
               and getattr(current, k) != v]
    if not changed:
        return False
    for k, v in values.items():
        setattr(current, k, v)
    s.flush()
    return True


def import_bank_accounts(db: Database, *, actor: Actor, path: Path, rejects_path: Path | None = None) -> ImportSummary:
    """振込先口座 of the institutions (one per institution; a new row replaces the old account)."""

    def prepare(s: Session):
        institutions = set(s.execute(select(Institution.code)).scalars())
        return lambda v: parse_account_row(v, institutions=institutions)

    def apply(s: Session, f: dict, batch_id: int) -> bool:
        values = {**f, "import_batch_id": batch_id, "updated_at": utcnow(), "updated_by": actor.label}
        return _upsert(s, InstitutionBankAccount, s.get(InstitutionBankAccount, f["institution_code"]), values)

    return _import(db, actor=actor, path=path, rejects_path=rejects_path, kind="billing:accounts",
                   headers=ACCOUNT_HEADERS, required=ACCOUNT_HEADERS, key=lambda f: (f["institution_code"],),
                   prepare=prepare, apply=apply, action="billing.accounts_import", purpose="医療機関の振込先口座の登録")


def import_tax_status(db: Database, *, actor: Actor, path: Path, rejects_path: Path | None = None) -> ImportSummary:
    """地方税関係情報 (per person and fiscal year: 課税/非課税, 生活保護) for matching subsidy applications."""

    def prepare(s: Session):
        def parse(v: dict) -> dict:
            f = parse_tax_row(v)
            if s.get(Person, f["atena_no"]) is None:
                raise RowError(f"宛名番号 {f['atena_no']} の方は住民記録に登録されていません")
            return f
        return parse

    def apply(s: Session, f: dict, batch_id: int) -> bool:
        current = s.execute(select(TaxStatus).where(TaxStatus.fiscal_year == f["fiscal_year"],
                                                    TaxStatus.atena_no == f["atena_no"])).scalar_one_or_none()
        return _upsert(s, TaxStatus, current, {**f, "import_batch_id": batch_id, "imported_at": utcnow()})

    return _import(db, actor=actor, path=path, rejects_path=rejects_path, kind="billing:tax_status",
                   headers=TAX_HEADERS, required=("年度", "宛名番号", "課税区分"),
                   key=lambda f: (f["fiscal_year"], f["atena_no"]), prepare=prepare, apply=apply,
                   action="billing.tax_import", purpose="費用助成の判定のための地方税関係情報の取込")


def import_claims(db: Database, *, actor: Actor, path: Path, rejects_path: Path | None = None) -> ImportSummary:
    """Clinics' own claim totals per month and vaccine (件数・金額) for reconciliation."""

    def prepare(s: Session):
        institutions = set(s.execute(select(Institution.code)).scalars())
        vaccines = set(s.execute(select(Vaccine.code)).scalars())
        closed = set(s.execute(select(BillingMonth.month).where(BillingMonth.status == "closed")).scalars())

        def parse(v: dict) -> dict:
            f = parse_claim_row(v, institutions=institutions, vaccines=vaccines)
            if f["month"] in closed:
                raise RowError(f"請求月 {f['month']} は締め済みです")
            return f
        return parse

    def apply(s: Session, f: dict, batch_id: int) -> bool:
        current = s.execute(select(BillingClaim).where(
            BillingClaim.month == f["month"], BillingClaim.institution_code == f["institution_code"],
            BillingClaim.vaccine_code == f["vaccine_code"])).scalar_one_or_none()
        return _upsert(s, BillingClaim, current, {**f, "import_batch_id": batch_id, "imported_at": utcnow()})

    return _import(db, actor=actor, path=path, rejects_path=rejects_path, kind="billing:claims",
                   headers=CLAIM_HEADERS, required=CLAIM_HEADERS,
                   key=lambda f: (f["month"], f["institution_code"], f["vaccine_code"]), prepare=prepare,
                   apply=apply, action="billing.claims_import", purpose="医療機関の請求書（件数・金額）の取込")
