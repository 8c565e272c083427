"""予防接種台帳: master data and vaccination records with their change history."""
from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    Time,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base


class Vaccine(Base):
    """接種種別. Loaded from data/vaccines.yaml; pandemic vaccines are added as data."""

    __tablename__ = "vaccine"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    default_category: Mapped[str] = mapped_column(String(20))
    injected_live: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Institution(Base):
    """医療機関 (clinics that vaccinate or screen and are paid the 委託料)."""

    __tablename__ = "institution"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_kana: Mapped[str] = mapped_column(String(100), default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Doctor(Base):
    __tablename__ = "doctor"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    institution_code: Mapped[str | None] = mapped_column(ForeignKey("institution.code"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Venue(Base):
    """実施場所 (a clinic, a health centre, a group-vaccination site)."""

    __tablename__ = "venue"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Manufacturer(Base):
    """ワクチン会社."""

    __tablename__ = "manufacturer"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class Product(Base):
    """A vaccine product (e.g. 9価HPV), used for 初回ワクチン区分 and product-consistency rules."""

    __tablename__ = "product"

    code: Mapped[str] = mapped_column(String(30), primary_key=True)
    vaccine_code: Mapped[str] = mapped_column(ForeignKey("vaccine.code"))
    name: Mapped[str] = mapped_column(String(100))
    manufacturer_code: Mapped[str | None] = mapped_column(ForeignKey("manufacturer.code"))


class Lot(Base):
    __tablename__ = "lot"

    lot_no: Mapped[str] = mapped_column(String(30), primary_key=True)
    product_code: Mapped[str | None] = mapped_column(ForeignKey("product.code"))
    manufacturer_code: Mapped[str | None] = mapped_column(ForeignKey("manufacturer.code"))
    expires_on: Mapped[date | None] = mapped_column(Date)


class ImportBatch(Base):
    """One imported file: who, when, what it held and what became of it."""

    __tablename__ = "import_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    file_name: Mapped[str] = mapped_column(String(260))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    encoding: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_accepted: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    rows_duplicate: Mapped[int] = mapped_column(Integer, default=0)


class VaccinationRecord(Base):
    """One vaccination (or screening) of one person: the 25 business fields of 別添1."""

    __tablename__ = "vaccination_record"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    atena_no: Mapped[str] = mapped_column(ForeignKey("person.atena_no"))
    vaccine_code: Mapped[str] = mapped_column(ForeignKey("vaccine.code"))
    term: Mapped[str] = mapped_column(String(8), default="")  # 期
    dose_no: Mapped[int | None] = mapped_column(Integer)  # 回数
    category: Mapped[str] = mapped_column(String(20), default="")  # 接種区分
    vaccinated_on: Mapped[date] = mapped_column(Date)  # 接種年月日
    # 接種時刻 (optional; migration 0026): a campaign's 時間外加算 needs it. Blank on most 予診票 and all
    # older records: such a dose gets no time addition (docs/billing.md).
    vaccination_time: Mapped[time | None] = mapped_column(Time, nullable=True)
    screening_result: Mapped[str] = mapped_column(String(20), default="")  # 予診区分
    institution_code: Mapped[str | None] = mapped_column(ForeignKey("institution.code"))
    doctor_code: Mapped[str | None] = mapped_column(ForeignKey("doctor.code"))
    screening_institution_code: Mapped[str | None] = mapped_column(ForeignKey("institution.code"))
    screening_doctor_code: Mapped[str | None] = mapped_column(ForeignKey("doctor.code"))
    venue_code: Mapped[str | None] = mapped_column(ForeignKey("venue.code"))
    manufacturer_code: Mapped[str | None] = mapped_column(ForeignKey("manufacturer.code"))
    lot_no: Mapped[str] = mapped_column(String(30), default="")
    dose_volume_ml: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    billing_month: Mapped[str] = mapped_column(String(7), default="")  # 請求月 YYYY-MM
    first_product: Mapped[str] = mapped_column(String(30), default="")  # 初回ワクチン区分
    dt_kind: Mapped[str] = mapped_column(String(20), default="")  # 二混合区分
    former_municipality: Mapped[str] = mapped_column(String(40), default="")  # 合併前市町村
    ticket_no: Mapped[str] = mapped_column(String(20), default="")  # 券番号
    tuberculin_result: Mapped[str] = mapped_column(String(10), default="")
    tuberculin_size_v: Mapped[int | None] = mapped_column(Integer)
    tuberculin_size_h: Mapped[int | None] = mapped_column(Integer)
    tuberculin_state: Mapped[str] = mapped_column(String(20), default="")
    error_code: Mapped[str] = mapped_column(String(200), default="")  # エラーコード
    remarks: Mapped[str] = mapped_column(Text, default="")  # 備考
    # Nothing is hard-deleted: a voided record stays, with its reason in the history.
    status: Mapped[str] = mapped_column(String(10), default="active")
    version: Mapped[int] = mapped_column(Integer, default=1)
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    __mapper_args__ = {"version_id_col": version}


Index("ix_vaccination_record_atena_no", VaccinationRecord.atena_no, VaccinationRecord.vaccinated_on)
# Doses of a day or a week (daily counts, the dashboard's last days): migration 0020.
Index("ix_vaccination_record_vaccinated_on", VaccinationRecord.vaccinated_on)
Index("ix_vaccination_record_institution", VaccinationRecord.institution_code, VaccinationRecord.billing_month)
# The record list's filters (ledger/listing.py): a lot recall, a 請求月, an import's records, a vaccine by date.
Index("ix_vaccination_record_lot_no", VaccinationRecord.lot_no)
Index("ix_vaccination_record_billing_month", VaccinationRecord.billing_month)
Index("ix_vaccination_record_import_batch", VaccinationRecord.import_batch_id)
Index("ix_vaccination_record_vaccine_date", VaccinationRecord.vaccine_code, VaccinationRecord.vaccinated_on)
# Records with an エラーコード (無効・任意) are few: the list of them reads this small index, newest first.
Index("ix_vaccination_record_flagged", VaccinationRecord.vaccinated_on, VaccinationRecord.id,
      sqlite_where=text("error_code <> ''"), postgresql_where=text("error_code <> ''"))
Index(
    "uq_vaccination_record_active_key",
    VaccinationRecord.atena_no,
    VaccinationRecord.vaccine_code,
    VaccinationRecord.vaccinated_on,
    unique=True,
    sqlite_where=text("status = 'active'"),
    postgresql_where=text("status = 'active'"),
)


class VaccinationRecordHistory(Base):
    """職権修正 and voiding keep the old values, who changed them, when and why."""

    __tablename__ = "vaccination_record_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("vaccination_record.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    changed_at: Mapped[datetime] = mapped_column(DateTime)
    changed_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(400))
    old_values: Mapped[str] = mapped_column(Text)


class EvaluationQueue(Base):
    """Persons whose records changed and must be re-evaluated by the schedule engine.

    Imports fill it in their own transaction; evaluation drains it in small committed batches,
    so a crash between the two loses nothing and the next run finishes the work.
    """

    __tablename__ = "evaluation_queue"

    atena_no: Mapped[str] = mapped_column(String(15), primary_key=True)
    queued_at: Mapped[datetime] = mapped_column(DateTime)
