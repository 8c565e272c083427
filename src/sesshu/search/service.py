"""Searching persons by any condition, with on-screen pages and encrypted CSV output (both audited)."""
from __future__ import annotations

import io
import re
from dataclasses import asdict, dataclass
from datetime import date
from typing import Iterator

from sqlalchemy import Select, exists, func, select

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.clock import today_jst
from sesshu.db import Database
from sesshu.disclosure.suspension import log_refusals, suspended_among
from sesshu.domain.errors import InvalidInput
from sesshu.domain.text import clean, clean_address, clean_name, kana_key, prefix_upper_bound
from sesshu.exports import service as exports
from sesshu.exports.service import ExportedFile
from sesshu.ledger.models import VaccinationRecord
from sesshu.paging import Criteria, Page
from sesshu.registry.models import REGISTRY_STATUSES, SEXES, Person

COUNT_CAP = 10000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class SearchCriteria(Criteria):
    atena_no: str = ""
    kana: str = ""
    name: str = ""
    birth_date: date | None = None
    birth_from: date | None = None
    birth_to: date | None = None
    address: str = ""
    vaccine: str = ""
    vaccinated_from: date | None = None
    vaccinated_to: date | None = None
    institution: str = ""
    registry_status: str = ""

    def normalized(self) -> "SearchCriteria":
        for value in asdict(self).values():
            # NUL and other control characters: PostgreSQL refuses them and SQLite's LIKE stops at NUL
            # (a pattern "%<NUL>" would match everyone), so they never reach a query.
            if isinstance(value, str) and _CONTROL.search(value):
                raise InvalidInput("検索条件に使用できない文字（制御文字）が含まれています")
        return SearchCriteria(
            atena_no=clean(self.atena_no).replace(" ", ""),
            kana=kana_key(self.kana),
            name=clean_name(self.name).replace("\u3000", ""),
            birth_date=self.birth_date, birth_from=self.birth_from, birth_to=self.birth_to,
            address=clean_address(self.address),
            vaccine=clean(self.vaccine).upper(),
            vaccinated_from=self.vaccinated_from, vaccinated_to=self.vaccinated_to,
            institution=clean(self.institution),
            registry_status=clean(self.registry_status),
        )


@dataclass
class PersonRow:
    atena_no: str
    name: str
    name_kana: str
    sex: str
    birth_date: date
    address: str
    registry_status: str

    @property
    def sex_label(self) -> str:
        return SEXES.get(self.sex, "")

    @property
    def registry_status_label(self) -> str:
        return REGISTRY_STATUSES.get(self.registry_status, "")


SearchPage = Page  # of PersonRow


_COLUMNS = (Person.atena_no, Person.name, Person.name_kana, Person.sex, Person.birth_date, Person.address,
            Person.registry_status)


def _query(c: SearchCriteria, columns=_COLUMNS, scope: access.Scope = access.UNRESTRICTED) -> Select:
    q = select(*columns)
    in_scope = access.person_filter(scope, Person.atena_no)
    if in_scope is not None:
        q = q.where(in_scope)
    if c.atena_no:
        q = q.where(Person.atena_no == c.atena_no)
    if c.kana:
        # A range on the indexed key, not LIKE: it uses the index on both SQLite and PostgreSQL.
        q = q.where(Person.kana_key >= c.kana, Person.kana_key < prefix_upper_bound(c.kana))
    if c.name:
        q = q.where(Person.name_key >= c.name, Person.name_key < prefix_upper_bound(c.name))
    if c.birth_date:
        q = q.where(Person.birth_date == c.birth_date)
    if c.birth_from:
        q = q.where(Person.birth_date >= c.birth_from)
    if c.birth_to:
        q = q.where(Person.birth_date <= c.birth_to)
    if c.address:
        q = q.where(Person.address.like("%" + _escape(c.address) + "%", escape="\\"))
    if c.registry_status:
        if c.registry_status not in REGISTRY_STATUSES:
            raise InvalidInput("住民区分の指定が正しくありません")
        q = q.where(Person.registry_status == c.registry_status)
    if c.vaccine or c.vaccinated_from or c.vaccinated_to or c.institution:
        r = select(VaccinationRecord.id).where(VaccinationRecord.atena_no == Person.atena_no,
                                               VaccinationRecord.status == "active")
        if c.vaccine:
            r = r.where(VaccinationRecord.vaccine_code == c.vaccine)
        if c.vaccinated_from:
            r = r.where(VaccinationRecord.vaccinated_on >= c.vaccinated_from)
        if c.vaccinated_to:
            r = r.where(VaccinationRecord.vaccinated_on <= c.vaccinated_to)
        if c.institution:
            r = r.where(VaccinationRecord.institution_code == c.institution)
        q = q.where(exists(r))
    return q


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


SORTS = {"birth_date": "生年月日の古い順", "-birth_date": "生年月日の新しい順"}


def _order(q: Select, c: SearchCriteria, sort: str = "") -> Select:
    if sort == "birth_date":
        return q.order_by(Person.birth_date, Person.atena_no)
    if sort == "-birth_date":
        return q.order_by(Person.birth_date.desc(), Person.atena_no)
    if c.kana:
        return q.order_by(Person.kana_key, Person.atena_no)
    if c.name:
        return q.order_by(Person.name_key, Person.atena_no)
    return q.order_by(Person.atena_no)


def search_persons(db: Database, *, actor: Actor, criteria: SearchCriteria, page: int = 1,
                   per_page: int = 50, purpose: str = "対象者の検索", sort: str = "") -> SearchPage:
    c = criteria.normalized()
    if sort and sort not in SORTS:
        raise InvalidInput("並べ替えの指定が正しくありません")
    if c.is_empty():
        raise InvalidInput("検索条件を1つ以上入力してください")
    page = max(1, page)
    per_page = min(max(1, per_page), 500)
    with db.transaction() as s:
        scope = access.require_some_task(s, actor)
        q = _query(c, scope=scope)
        # Counted on atena_no alone, so a kana or name prefix is counted from its index.
        counted = _query(c, (Person.atena_no,), scope).limit(COUNT_CAP + 1).subquery()
        total = s.execute(select(func.count()).select_from(counted)).scalar_one()
        rows = [PersonRow(*r) for r in s.execute(_order(q, c, sort).limit(per_page).offset((page - 1) * per_page))]
        audit.record(s, actor, "person.search", purpose=purpose,
                     detail={"criteria": c.as_detail(), "total": total, "page": page,
                             "shown": [r.atena_no for r in rows]})
    return SearchPage(rows=rows, total=min(total, COUNT_CAP), total_capped=total > COUNT_CAP, page=page,
                      per_page=per_page)


CSV_HEADER = ["宛名番号", "氏名", "氏名カナ", "性別", "生年月日", "住所", "住民区分"]


def export_persons(db: Database, *, actor: Actor, criteria: SearchCriteria, purpose: str, password: str,
                   password_confirmation: str | None = None) -> ExportedFile:
    """All matching persons as a password-protected ZIP of a CSV; the export, its row count and the
    file's hash are audited in the same transaction."""
    c = criteria.normalized()
    if c.is_empty():
        raise InvalidInput("検索条件を1つ以上入力してください")
    purpose = exports.prepare(actor, purpose=purpose, password=password, confirmation=password_confirmation)
    buf = io.StringIO()
    w = exports.CsvWriter(buf)
    w.writerow(CSV_HEADER)
    count = 0
    with db.transaction() as s:
        scope = access.require_some_task(s, actor)
        stopped: list[str] = []
        for chunk in _chunks(_iter_rows(s, c, scope), 2000):
            # 利用停止請求: a person who asked to stop use is not written to files; each refusal is logged.
            suspended = suspended_among(s, (r.atena_no for r in chunk))
            for r in chunk:
                if r.atena_no in suspended:
                    stopped.append(r.atena_no)
                    continue
                w.writerow([r.atena_no, r.name, r.name_kana, r.sex_label, r.birth_date.isoformat(), r.address,
                            r.registry_status_label])
                count += 1
        log_refusals(s, actor, stopped, use="person.export")
        return exports.export_csv(s, actor, action="person.export", csv_text=buf.getvalue(), rows=count,
                                  purpose=purpose, password=password, stem=f"persons_{today_jst():%Y%m%d}",
                                  detail={"criteria": c.as_detail(), "suspended_skipped": len(stopped)})


def _chunks(rows: Iterator[PersonRow], size: int) -> Iterator[list[PersonRow]]:
    chunk: list[PersonRow] = []
    for r in rows:
        chunk.append(r)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _iter_rows(s, c: SearchCriteria, scope: access.Scope) -> Iterator[PersonRow]:
    for r in s.execute(_order(_query(c, scope=scope), c)).yield_per(2000):
        yield PersonRow(*r)
