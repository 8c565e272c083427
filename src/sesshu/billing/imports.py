"""File imports of billing: institutions' bank accounts, 地方税関係情報 from the tax system, clinics' claims.

Each file is one transaction with its audit row: good rows in, bad rows to the rejects file with the
line number and a Japanese reason (imports/csvfile.py, the pattern of registry imports). Re-importing
the same file changes nothing; a newer row for the same key replaces the older one.

Uploaded on the web page the file is taken whole or not at all (`whole_file`): one bad row and nothing
of it is stored — the page lists every bad row with its line number and reason, staff fix the file and
send it again. The refusal is on the audit log too.
"""
from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

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
from sesshu.config import Settings
from sesshu.domain.errors import InvalidInput, NotFound
from sesshu.imports.batch import ImportSummary, close_batch, open_batch
from sesshu.imports.csvfile import CsvSource, RejectWriter, inspect_file
from sesshu.imports.uploads import MAX_UPLOAD_BYTES, safe_name, upload_dir
from sesshu.ledger.models import Institution, Vaccine
from sesshu.registry.models import Person
from sesshu.registry.rows import RowError


MAX_PROBLEMS = 1000  # listed on the page; the count covers them all


@dataclass
class BillingImportSummary(ImportSummary):
    refused: bool = False  # whole_file and some row was bad: nothing was stored
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason), the first MAX_PROBLEMS


class _Refused(Exception):
    """Raised inside the import's transaction to roll it back when a whole-file import has a bad row."""


def _import(db: Database, *, actor: Actor, path: Path, rejects_path: Path | None, kind: str, headers: tuple,
            required: tuple, key: Callable[[dict], tuple], prepare: Callable[[Session], Callable[[dict], dict]],
            apply: Callable[[Session, dict, int], bool], action: str, purpose: str,
            whole_file: bool = False) -> BillingImportSummary:
    facts = inspect_file(path)
    source = CsvSource(path, facts=facts, required=required, known=headers)
    rejects = RejectWriter(rejects_path)
    try:
        with db.transaction() as s:
            batch = open_batch(s, kind=kind, path=path, facts=facts, actor=actor)
            summary = BillingImportSummary(batch_id=batch.id, file=path.name, encoding=facts.encoding)
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
                    if len(summary.problems) < MAX_PROBLEMS:
                        summary.problems.append((row.line_no, str(e)))
                    continue
                if apply(s, fields, batch.id):
                    summary.accepted += 1
                else:
                    summary.unchanged += 1
            rejects.header = source.header
            if whole_file and not summary.read:
                raise InvalidInput("ファイルにデータの行がありません（1行目は見出しです）")
            if whole_file and summary.rejected:
                raise _Refused
            close_batch(batch, summary)
            audit.record(s, actor, action, purpose=purpose, detail=_detail(summary, path, facts.sha256))
    except _Refused:
        # Nothing of the file stays (not even its batch); the attempt itself is on record.
        summary.refused, summary.batch_id, summary.accepted, summary.unchanged = True, 0, 0, 0
        with db.transaction() as s:
            audit.record(s, actor, action, purpose=purpose, detail=_detail(summary, path, facts.sha256))
    finally:
        rejects.close()
    return summary


def _detail(summary: BillingImportSummary, path: Path, sha256: str) -> dict:
    counts = {k: v for k, v in summary.as_dict().items() if isinstance(v, int) and not isinstance(v, bool)}
    return {"file": path.name, "sha256": sha256, **counts, **({"refused": True} if summary.refused else {})}


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


def import_bank_accounts(db: Database, *, actor: Actor, path: Path, rejects_path: Path | None = None,
                         whole_file: bool = False) -> BillingImportSummary:
    """振込先口座 of the institutions (one per institution; a new row replaces the old account)."""

    def prepare(s: Session):
        institutions = set(s.execute(select(Institution.code)).scalars())
        return lambda v: parse_account_row(v, institutions=institutions)

    def apply(s: Session, f: dict, batch_id: int) -> bool:
        values = {**f, "import_batch_id": batch_id, "updated_at": utcnow(), "updated_by": actor.label}
        return _upsert(s, InstitutionBankAccount, s.get(InstitutionBankAccount, f["institution_code"]), values)

    return _import(db, actor=actor, path=path, rejects_path=rejects_path, kind="billing:accounts",
                   headers=ACCOUNT_HEADERS, required=ACCOUNT_HEADERS, key=lambda f: (f["institution_code"],),
                   prepare=prepare, apply=apply, action="billing.accounts_import", purpose="医療機関の振込先口座の登録",
                   whole_file=whole_file)


def import_tax_status(db: Database, *, actor: Actor, path: Path, rejects_path: Path | None = None,
                      whole_file: bool = False) -> BillingImportSummary:
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
                   action="billing.tax_import", purpose="費用助成の判定のための地方税関係情報の取込",
                   whole_file=whole_file)


def import_claims(db: Database, *, actor: Actor, path: Path, rejects_path: Path | None = None,
                  whole_file: bool = False) -> BillingImportSummary:
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
                   apply=apply, action="billing.claims_import", purpose="医療機関の請求書（件数・金額）の取込",
                   whole_file=whole_file)


UPLOAD_KINDS = {"tax": ("地方税関係情報", import_tax_status), "claims": ("医療機関の請求書（件数・金額）", import_claims),
                "accounts": ("医療機関の振込先口座", import_bank_accounts)}


def import_upload(db: Database, settings: Settings, *, actor: Actor, kind: str, file_name: str,
                  stream: BinaryIO) -> BillingImportSummary:
    """A billing file sent from the web page: kept in the private upload directory only while the same
    import the command runs takes it, whole or not at all."""
    if kind not in UPLOAD_KINDS:
        raise NotFound("取込の種類が正しくありません")
    label, run = UPLOAD_KINDS[kind]
    work = upload_dir(settings) / f"billing-{secrets.token_urlsafe(12)}"
    work.mkdir(mode=0o700)
    try:
        path = work / safe_name(file_name)
        size = 0
        with open(path, "wb") as out:
            while block := stream.read(1024 * 1024):
                size += len(block)
                if size > MAX_UPLOAD_BYTES:
                    raise InvalidInput(f"ファイルが大きすぎます（{MAX_UPLOAD_BYTES // (1024 * 1024)}MBまで）")
                out.write(block)
        if size == 0:
            raise InvalidInput(f"ファイルが空です。{label}のCSVファイルを選んでください")
        return run(db, actor=actor, path=path, whole_file=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
