"""Loading the synthetic demo city into an empty database, and the demo staff accounts.

Loading is refused when the database already holds residents or the demo masters: a second load
changes nothing (no duplicates), and demo data can never be mixed into a real registry. The
demo accounts are created after the data is committed and skipped when their ID already exists.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.auth.models import StaffUser
from sesshu.auth.service import create_user
from sesshu.bulk import bulk_insert
from sesshu.clock import utcnow
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.demo.generator import PRODUCTS_BY_CODE, DemoMasters, generate_city, generate_masters, lot_expiry
from sesshu.domain.errors import Conflict, InvalidInput
from sesshu.keys import load_keyring
from sesshu.ledger.models import Doctor, Institution, Lot, Manufacturer, Product, VaccinationRecord, Venue
from sesshu.ledger.reference import sync_reference_data
from sesshu.payments import banks
from sesshu.registry.models import Person
from sesshu.registry.service import my_number_hash
from sesshu.retention import personkeys
from sesshu.access.tasks import DEFAULT_DEPARTMENT, TASKS
from sesshu.auth.permissions import has_permission

CHUNK_ROWS = 5000
_BY_LOT_PREFIX = {p.lot_prefix: p for p in PRODUCTS_BY_CODE.values()}
DEMO_PASSWORD = "kumagaya-sesshu-2026"
# The clerk's ID is not plain "demo": the password rules refuse a password that contains the ID.
DEMO_ACCOUNTS = (
    ("demo", "デモ職員", "clerk"),
    ("demo-super", "デモ上長", "supervisor"),
    # A second supervisor: four-eyes approvals (a campaign's activation, 住登外者の登録) need another person.
    ("demo-super2", "デモ上長（承認者）", "supervisor"),
    ("demo-security", "デモセキュリティ責任者", "security_officer"),
    ("demo-billing", "デモ委託料担当", "billing"),
)
# 振込先口座 of the demo institutions (sesshu.billing): banks of the region and their 熊谷 branches —
# (金融機関コード, 店舗コード), names taken from the 全銀協 master (sesshu.payments.banks); the account
# numbers and holders are made up. 埼玉りそな 熊谷, 武蔵野 熊谷, 三井住友 熊谷, 埼玉縣信金 熊谷東.
DEMO_BANKS = (("0017", "574"), ("0133", "008"), ("0009", "038"), ("1250", "076"))


@dataclass(frozen=True)
class DemoLogin:
    login_id: str
    display_name: str
    role: str
    password: str
    totp_secret: str | None  # None when the account existed before this load


@dataclass
class DemoSummary:
    seed: int
    as_of: date
    households: int = 0
    persons: int = 0
    records: int = 0
    institutions: int = 0
    doctors: int = 0
    venues: int = 0
    manufacturers: int = 0
    products: int = 0
    lots: int = 0
    persons_by_status: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    logins: list[DemoLogin] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("households", "persons", "records", "institutions", "doctors",
                                                "venues", "manufacturers", "products", "lots")}


def load_demo(db: Database, settings: Settings, *, actor: Actor, residents: int, seed: int,
              as_of: date) -> DemoSummary:
    """Write the demo city (masters, persons, records) in one transaction with a ``demo.load``
    audit entry, then create the demo accounts. Refuses (Conflict) if data is already there."""
    if residents < 1:
        raise InvalidInput("住民数は1以上を指定してください")
    started = time.monotonic()
    sync_reference_data(db)
    keys = load_keyring(settings)
    masters = generate_masters(seed)
    summary = DemoSummary(seed=seed, as_of=as_of)
    with db.transaction() as s:
        _refuse_if_loaded(s, masters)
        _insert_masters(s, masters, summary)
        _insert_bank_accounts(s, masters, actor)
        now = utcnow()
        persons: list[dict] = []
        records: list[dict] = []
        key_rows: list[dict] = []  # per-person data keys (sesshu.retention.personkeys)
        lots: set[str] = set()
        record_stamp = dict(status="active", version=1, import_batch_id=None, created_by=actor.label,
                            error_code="", created_at=now, updated_at=now, tuberculin_result="",
                            tuberculin_size_v=None, tuberculin_size_h=None, tuberculin_state="")
        for household in generate_city(residents=residents, seed=seed, as_of=as_of, masters=masters):
            if household.household_no:
                summary.households += 1
            numbers = {p["atena_no"]: p.pop("my_number") for p in household.persons}
            sealed, new_keys = personkeys.seal_new(keys, numbers)
            key_rows.extend(new_keys)
            for p in household.persons:
                number = numbers[p["atena_no"]]
                p.update(my_number_enc=sealed[p["atena_no"]],
                         my_number_hmac=my_number_hash(keys, number), version=1, created_at=now, updated_at=now)
                summary.persons_by_status[p["registry_status"]] = summary.persons_by_status.get(
                    p["registry_status"], 0) + 1
                persons.append(p)
            for r in household.records:
                r.update(record_stamp)
                if r["lot_no"]:
                    lots.add(r["lot_no"])
                records.append(r)
            if len(persons) >= CHUNK_ROWS:
                personkeys.insert_key_rows(s, key_rows)
                summary.persons += _flush(s, Person, persons)
            if len(records) >= CHUNK_ROWS:
                # Records refer to persons: write the persons pending first.
                summary.persons += _flush(s, Person, persons)
                summary.records += _flush(s, VaccinationRecord, records)
        personkeys.insert_key_rows(s, key_rows)
        summary.persons += _flush(s, Person, persons)
        summary.records += _flush(s, VaccinationRecord, records)
        summary.lots = _insert_lots(s, lots)
        audit.record(s, actor, "demo.load", purpose="デモデータの読込",
                     detail={"seed": seed, "as_of": as_of.isoformat(), **summary.counts(),
                             "persons_by_status": summary.persons_by_status})
    summary.logins = _create_demo_accounts(db, settings, actor=actor)
    summary.seconds = round(time.monotonic() - started, 1)
    return summary


def load_demo_masters(db: Database, *, masters: DemoMasters, actor: Actor) -> dict[str, int]:
    """Only the demo masters (医療機関, 医師, 実施場所, ワクチン会社, products), for building a city
    through the real import paths (benchmarks). Codes already present are left as they are."""
    summary = DemoSummary(seed=0, as_of=date.min)
    with db.transaction() as s:
        _insert_masters(s, masters, summary)
        counts = {k: getattr(summary, k) for k in ("institutions", "doctors", "venues", "manufacturers", "products")}
        audit.record(s, actor, "demo.load_masters", purpose="デモ用マスタの読込", detail=counts)
    return counts


def _refuse_if_loaded(s: Session, masters: DemoMasters) -> None:
    if s.execute(select(func.count()).select_from(Person)).scalar_one():
        raise Conflict("住民記録が既にあるため、デモデータは読み込めません（読込済み、または実データのあるデータベースです）")
    codes = [i["code"] for i in masters.institutions]
    if s.execute(select(func.count()).select_from(Institution).where(Institution.code.in_(codes))).scalar_one():
        raise Conflict("デモ用の医療機関マスタが既に登録されているため、デモデータは読み込めません")


def _insert_masters(s: Session, masters: DemoMasters, summary: DemoSummary) -> None:
    """Insert the masters whose codes are not there yet (a city may share ワクチン会社 with real data)."""
    for model, rows, attr in ((Manufacturer, masters.manufacturers, "manufacturers"),
                              (Institution, masters.institutions, "institutions"),
                              (Doctor, masters.doctors, "doctors"), (Venue, masters.venues, "venues"),
                              (Product, masters.products, "products")):
        known = set(s.execute(select(model.code)).scalars())
        new = [r for r in rows if r["code"] not in known]
        if new:
            s.execute(model.__table__.insert(), new)
        setattr(summary, attr, len(new))


def _insert_bank_accounts(s: Session, masters: DemoMasters, actor: Actor) -> None:
    from sesshu.billing.models import InstitutionBankAccount

    known = set(s.execute(select(InstitutionBankAccount.institution_code)).scalars())
    rows = []
    for n, inst in enumerate(masters.institutions, start=1):
        if inst["code"] in known:
            continue
        bank_code, branch_code = DEMO_BANKS[n % len(DEMO_BANKS)]
        rows.append(dict(institution_code=inst["code"], bank_code=bank_code, bank_name=banks.bank(bank_code).kana,
                         branch_code=branch_code, branch_name=banks.branch(bank_code, branch_code).kana,
                         account_type="1",
                         account_no=f"{1000000 + n * 7919 % 8999999:07d}", holder_kana=f"ｲ)ﾃﾞﾓ{n:03d}ｸﾘﾆﾂｸ",
                         import_batch_id=None, updated_at=utcnow(), updated_by=actor.label))
    if rows:
        s.execute(InstitutionBankAccount.__table__.insert(), rows)


def _flush(s: Session, model, rows: list[dict]) -> int:
    n = len(rows)
    if n:
        table = model.__table__
        # Every column but a generated surrogate key (vaccination_record.id).
        columns = tuple(c.name for c in table.c if not (c.primary_key and c.autoincrement is True))
        bulk_insert(s, table, rows, columns)
        rows.clear()
    return n


def _insert_lots(s: Session, lots: set[str]) -> int:
    known = set(s.execute(select(Lot.lot_no)).scalars())
    rows = []
    for lot in sorted(lots):
        if lot in known:
            continue
        product = _BY_LOT_PREFIX[lot[:2]]
        rows.append(dict(lot_no=lot, product_code=product.code, manufacturer_code=product.manufacturer_code,
                         expires_on=lot_expiry(lot, product)))
    for i in range(0, len(rows), CHUNK_ROWS):
        s.execute(Lot.__table__.insert(), rows[i:i + CHUNK_ROWS])
    return len(rows)


def _demo_tasks(role: str) -> tuple[tuple[str, str], ...]:
    """Staff who handle persons are assigned to the vaccination tasks; the security officer to none."""
    if not (has_permission(role, "person.view") or has_permission(role, "billing.view")):
        return ()
    return tuple((code, DEFAULT_DEPARTMENT) for code, task in TASKS.items() if task.population == "all")


def _create_demo_accounts(db: Database, settings: Settings, *, actor: Actor) -> list[DemoLogin]:
    logins = []
    for login_id, display_name, role in DEMO_ACCOUNTS:
        with db.transaction() as s:
            exists = s.execute(select(StaffUser.id).where(StaffUser.login_id == login_id)).first() is not None
        secret = None
        if not exists:
            secret = create_user(db, settings, actor=actor, login_id=login_id, display_name=display_name, role=role,
                                 password=DEMO_PASSWORD, is_demo=True,
                                 tasks=_demo_tasks(role)).totp_secret
        logins.append(DemoLogin(login_id=login_id, display_name=display_name, role=role, password=DEMO_PASSWORD,
                                totp_secret=secret))
    return logins
