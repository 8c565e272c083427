"""Page: the record list (判定・エラーコード・接種区分・請求月・Lot No・ワクチン・接種日・取込 filters)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request

from sesshu.access.service import NoTask
from sesshu.domain.errors import DomainError, InvalidInput
from sesshu.domain.schedule.codes import CODES
from sesshu.domain.wareki import parse_optional_date
from sesshu.ledger.listing import BILLING, VERDICTS, RecordCriteria, list_records
from sesshu.ledger.reference import CATEGORIES
from sesshu.web.deps import render, require, get_db

router = APIRouter(include_in_schema=False)


@dataclass
class RecordQuery:
    """The list's conditions exactly as typed (query string); dates and 請求月 may be 西暦 or 和暦."""

    verdict: Annotated[str, Query(max_length=20)] = ""
    code: Annotated[str, Query(max_length=40)] = ""
    category: Annotated[str, Query(max_length=20)] = ""
    billing: Annotated[str, Query(max_length=20)] = ""
    billing_month: Annotated[str, Query(max_length=20)] = ""
    lot_no: Annotated[str, Query(max_length=30)] = ""
    vaccine: Annotated[str, Query(max_length=20)] = ""
    vaccinated_from: Annotated[str, Query(max_length=20)] = ""
    vaccinated_to: Annotated[str, Query(max_length=20)] = ""
    batch: Annotated[str, Query(max_length=12)] = ""

    def as_params(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def criteria(self) -> RecordCriteria:
        batch = self.batch.strip()
        if batch and not (batch.isascii() and batch.isdigit()):
            raise InvalidInput("取込番号は数字で指定してください")
        return RecordCriteria(
            verdict=self.verdict, error_code=self.code, category=self.category, billing=self.billing,
            billing_month=self.billing_month, lot_no=self.lot_no, vaccine=self.vaccine,
            vaccinated_from=parse_optional_date(self.vaccinated_from, "接種日（から）"),
            vaccinated_to=parse_optional_date(self.vaccinated_to, "接種日（まで）"),
            batch_id=int(batch) if batch else None)


@router.get("/records")
def records_page(request: Request, query: Annotated[RecordQuery, Depends()],
                 session=Depends(require("person.search")), page: Annotated[int, Query(ge=1, le=10000)] = 1):
    ctx = {"q": query, "result": None, "error": "", "vaccines": request.app.state.vaccines,
           "VERDICTS": VERDICTS, "BILLING": BILLING, "CATEGORIES": CATEGORIES, "CODES": CODES,
           "query_string": urlencode(query.as_params())}
    if query.as_params():
        try:
            ctx["result"] = list_records(get_db(request), actor=session.actor, criteria=query.criteria(), page=page)
        except NoTask:
            raise
        except DomainError as e:
            ctx["error"] = e.message
            return render(request, "records.html", ctx, status_code=400)
    return render(request, "records.html", ctx)
