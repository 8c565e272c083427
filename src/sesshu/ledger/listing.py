"""The record list: vaccination records found by 判定, エラーコード, 接種区分, 請求月, Lot No, vaccine,
date range or import batch — how a clerk finds the doses the engine refused after an import, and how
a lot recall finds every person who had the lot. Purpose-bound and audited like the person search.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from sqlalchemy import and_, case, func, not_, or_, select
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.db import Database
from sesshu.domain.errors import InvalidInput
from sesshu.domain.fees import BILLABLE_CATEGORIES
from sesshu.domain.schedule.codes import CODES
from sesshu.domain.text import clean
from sesshu.domain.wareki import DateParseError, parse_month
from sesshu.ledger.models import VaccinationRecord as R
from sesshu.ledger.models import Vaccine
from sesshu.ledger.reference import CATEGORIES
from sesshu.paging import Criteria, Page
from sesshu.registry.models import Person

COUNT_CAP = 10000
PER_PAGE = 100
# The verdict a stored エラーコード means (ledger.evaluation writes it from the schedule engine):
# no code = 有効 (定期), an E_* code = 無効, only W_* codes = 任意 (counted as voluntary, not in the series).
VERDICTS = {"valid": "有効", "invalid": "無効", "voluntary": "任意"}
BILLING = {"billable": "委託料の対象の接種区分", "not_billable": "委託料の対象外の接種区分（任意・未設定など）"}


def verdict_of(error_code: str) -> str:
    codes = [c for c in (error_code or "").split(",") if c]
    if not codes:
        return "valid"
    return "invalid" if any(c.startswith("E_") for c in codes) else "voluntary"


def reason_of(code: str) -> str:
    """The Japanese reason of a schedule-engine code (the codes a record stores)."""
    known = CODES.get(code)
    return known.message if known else f"エラーコード {code}"


def code_reasons(error_code: str) -> list[tuple[str, str]]:
    """(code, Japanese reason) for each code a record carries."""
    return [(c, reason_of(c)) for c in (error_code or "").split(",") if c]


@dataclass
class RecordCriteria(Criteria):
    verdict: str = ""
    error_code: str = ""
    category: str = ""
    billing: str = ""
    billing_month: str = ""
    lot_no: str = ""
    vaccine: str = ""
    vaccinated_from: date | None = None
    vaccinated_to: date | None = None
    batch_id: int | None = None

    def normalized(self) -> RecordCriteria:
        c = RecordCriteria(**asdict(self))
        if c.verdict and c.verdict not in VERDICTS:
            raise InvalidInput("判定の指定が正しくありません（有効・無効・任意）")
        if c.billing and c.billing not in BILLING:
            raise InvalidInput("請求の指定が正しくありません")
        if c.category and c.category != "none" and c.category not in CATEGORIES:
            raise InvalidInput("接種区分の指定が正しくありません")
        c.error_code = clean(c.error_code).replace(" ", "").upper()
        if c.error_code and not all(ch.isalnum() or ch == "_" for ch in c.error_code):
            raise InvalidInput("エラーコードは英数字と _ で指定してください（例：E_INTERVAL_TOO_SHORT）")
        if c.billing_month:
            try:
                c.billing_month = parse_month(c.billing_month)
            except DateParseError as e:
                raise InvalidInput(f"請求月: {e}") from None
        c.lot_no = clean(c.lot_no).strip()
        c.vaccine = clean(c.vaccine).replace(" ", "").upper()
        if c.vaccinated_from and c.vaccinated_to and c.vaccinated_from > c.vaccinated_to:
            raise InvalidInput("接種日の範囲が逆です（から ≦ まで）")
        return c


@dataclass
class RecordRow:
    id: int
    atena_no: str
    name: str
    vaccine_code: str
    vaccine_name: str
    vaccinated_on: date
    dose_no: int | None
    category: str
    institution_code: str | None
    lot_no: str
    billing_month: str
    error_code: str
    import_batch_id: int | None

    @property
    def verdict(self) -> str:
        return verdict_of(self.error_code)

    @property
    def verdict_label(self) -> str:
        return VERDICTS[self.verdict]

    @property
    def category_label(self) -> str:
        return CATEGORIES.get(self.category, self.category) or "未設定"

    @property
    def reasons(self) -> list[tuple[str, str]]:
        return code_reasons(self.error_code)


RecordPage = Page  # of RecordRow


def _has_code(code: str):
    """The record carries this code among its comma-separated エラーコード (exact token). The explicit
    error_code <> '' lets the database use the partial index of flagged records."""
    col = R.error_code
    return and_(col != "", or_(col == code, col.like(f"{code},%"), col.like(f"%,{code}"), col.like(f"%,{code},%")))


def _verdict_filter(verdict: str):
    is_invalid = R.error_code.like("E\\_%", escape="\\") | R.error_code.like("%,E\\_%", escape="\\")
    if verdict == "valid":
        return R.error_code == ""
    if verdict == "invalid":
        return and_(R.error_code != "", is_invalid)
    return and_(R.error_code != "", not_(is_invalid))


def _where(c: RecordCriteria, scope: access.Scope) -> list:
    where = [R.status == "active"]
    in_scope = access.person_filter(scope, R.atena_no)
    if in_scope is not None:
        where.append(in_scope)
    if c.batch_id is not None:
        where.append(R.import_batch_id == c.batch_id)
    if c.verdict:
        where.append(_verdict_filter(c.verdict))
    if c.error_code:
        where.append(_has_code(c.error_code))
    if c.category == "none":
        where.append(R.category == "")
    elif c.category:
        where.append(R.category == c.category)
    if c.billing == "billable":
        where.append(R.category.in_(BILLABLE_CATEGORIES))
    elif c.billing == "not_billable":
        where.append(R.category.not_in(BILLABLE_CATEGORIES))
    if c.billing_month:
        where.append(R.billing_month == c.billing_month)
    if c.lot_no:
        where.append(R.lot_no == c.lot_no)
    if c.vaccine:
        where.append(R.vaccine_code == c.vaccine)
    if c.vaccinated_from:
        where.append(R.vaccinated_on >= c.vaccinated_from)
    if c.vaccinated_to:
        where.append(R.vaccinated_on <= c.vaccinated_to)
    return where


def list_records(db: Database, *, actor: Actor, criteria: RecordCriteria, page: int = 1,
                 per_page: int = PER_PAGE, purpose: str = "接種記録の一覧（判定・エラーコード等による確認）") -> RecordPage:
    c = criteria.normalized()
    if c.is_empty():
        raise InvalidInput("条件を1つ以上指定してください")
    page, per_page = max(1, page), min(max(1, per_page), 500)
    with db.transaction() as s:
        scope = access.require_some_task(s, actor)
        where = _where(c, scope)
        counted = select(R.id).where(*where).limit(COUNT_CAP + 1).subquery()
        total = s.execute(select(func.count()).select_from(counted)).scalar_one()
        q = (select(R.id, R.atena_no, Person.name, R.vaccine_code, func.coalesce(Vaccine.name, R.vaccine_code),
                    R.vaccinated_on, R.dose_no, R.category, R.institution_code, R.lot_no, R.billing_month,
                    R.error_code, R.import_batch_id)
             .join(Person, Person.atena_no == R.atena_no).outerjoin(Vaccine, Vaccine.code == R.vaccine_code)
             .where(*where).order_by(R.vaccinated_on.desc(), R.id.desc())
             .limit(per_page).offset((page - 1) * per_page))
        rows = [RecordRow(*r) for r in s.execute(q)]
        audit.record(s, actor, "record.list", purpose=purpose,
                     detail={"criteria": c.as_detail(), "total": total, "page": page,
                             "shown": [r.id for r in rows]})
    return RecordPage(rows=rows, total=min(total, COUNT_CAP), total_capped=total > COUNT_CAP, page=page,
                      per_page=per_page)


@dataclass
class BatchVerdicts:
    """What an import stored, as the schedule engine and the billing rules see it (counts only)."""

    stored: int = 0
    valid: int = 0
    invalid: int = 0
    voluntary: int = 0
    not_billable: int = 0
    codes: list[dict] | None = None  # [{code, reason, count}], most frequent first

    def as_dict(self) -> dict:
        return asdict(self)


def batch_verdicts(s: Session, batch_id: int) -> BatchVerdicts:
    """Counts of one import batch's active records by verdict, エラーコード and billability.
    Aggregates only (no person is selected or shown), so no scope applies here; the links from the
    summary go to list_records, which is purpose-bound."""
    out = BatchVerdicts(codes=[])
    per_code: dict[str, int] = {}
    billable = R.category.in_(BILLABLE_CATEGORIES)
    q = (select(R.error_code, func.count(), func.sum(case((billable, 0), else_=1)))
         .where(R.import_batch_id == batch_id, R.status == "active").group_by(R.error_code))
    for error_code, n, not_billable in s.execute(q):
        out.stored += n
        out.not_billable += int(not_billable or 0)
        setattr(out, verdict_of(error_code), getattr(out, verdict_of(error_code)) + n)
        for code in filter(None, (error_code or "").split(",")):
            per_code[code] = per_code.get(code, 0) + n
    out.codes = [{"code": k, "reason": reason_of(k), "count": n}
                 for k, n in sorted(per_code.items(), key=lambda kv: (-kv[1], kv[0]))]
    return out

