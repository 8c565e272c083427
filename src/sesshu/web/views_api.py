"""JSON API v1: the same use cases as the pages, for other systems and scripts.

Authentication is the page session (cookie); unsafe methods need the X-CSRF-Token header.
"""
from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sesshu.ledger.schemas import RecordOut
from sesshu.ledger.service import Correction, correct_record, person_history, void_record
from sesshu.registry.schemas import PersonOut
from sesshu.search.service import search_persons
from sesshu.web.deps import CurrentSession, get_db, get_settings, require
from sesshu.web.forms import SearchQuery, parse_changes

router = APIRouter(prefix="/api/v1", tags=["v1"])


class PersonRowOut(BaseModel):
    atena_no: str
    name: str
    name_kana: str
    sex: str
    birth_date: date
    address: str
    registry_status: str


class SearchOut(BaseModel):
    total: int
    total_capped: bool
    page: int
    per_page: int
    pages: int
    rows: list[PersonRowOut]


class ConditionBriefOut(BaseModel):
    """A condition that opens 定期 B類 at 60–64: what applies and when, not the 手帳 details (要配慮個人情報)."""

    condition_code: str
    label: str
    state: str = Field(description="holds / not_yet / lapsed / ended / withdrawn（取得時点）")
    confirmed_on: date
    valid_from: date | None
    valid_until: date | None


class PersonHistoryOut(BaseModel):
    person: PersonOut
    records: list[RecordOut]
    conditions: list[ConditionBriefOut] = []


class CorrectionIn(BaseModel):
    expected_version: int = Field(ge=1, description="画面で確認した版数")
    reason: str = Field(max_length=400, description="修正理由")
    changes: dict[str, str] = Field(description="項目名 → 新しい値（文字列。日付は西暦・和暦とも可）")


class VoidIn(BaseModel):
    expected_version: int = Field(ge=1)
    reason: str = Field(max_length=400, description="取消理由")


class VoidOut(BaseModel):
    id: int
    status: str


@router.get("/openapi.json", include_in_schema=False)
def api_schema(request: Request, session: CurrentSession):
    """The OpenAPI schema of this API, for signed-in staff and the systems they configure."""
    return JSONResponse(request.app.openapi())


@router.get("/persons", response_model=SearchOut, summary="対象者の検索")
def api_search(request: Request, query: Annotated[SearchQuery, Depends()],
               page: Annotated[int, Query(ge=1, le=10000)] = 1, session=Depends(require("person.search"))):
    result = search_persons(get_db(request), actor=session.actor, criteria=query.criteria(), page=page,
                            per_page=get_settings(request).search_page_size)
    return SearchOut(total=result.total, total_capped=result.total_capped, page=result.page,
                     per_page=result.per_page, pages=result.pages,
                     rows=[PersonRowOut(**vars(r)) for r in result.rows])


@router.get("/persons/{atena_no}", response_model=PersonHistoryOut, summary="個人の情報と接種履歴")
def api_person(request: Request, atena_no: Annotated[str, Path(pattern=r"^[0-9]{1,15}$")],
               session=Depends(require("person.view"))):
    history = person_history(get_db(request), get_settings(request), actor=session.actor, atena_no=atena_no)
    return PersonHistoryOut(person=history.person, records=history.records,
                            conditions=[ConditionBriefOut(condition_code=c.condition_code, label=c.label, state=c.state,
                                                          confirmed_on=c.confirmed_on, valid_from=c.valid_from,
                                                          valid_until=c.valid_until) for c in history.conditions])


@router.post("/records/{record_id}/correct", response_model=RecordOut, summary="接種記録の職権修正")
def api_correct(request: Request, record_id: int, body: CorrectionIn, session=Depends(require("record.correct"))):
    correction = Correction(record_id=record_id, expected_version=body.expected_version, reason=body.reason,
                            changes=parse_changes(body.changes))
    return correct_record(get_db(request), get_settings(request), actor=session.actor, correction=correction)


@router.post("/records/{record_id}/void", response_model=VoidOut, summary="接種記録の取消")
def api_void(request: Request, record_id: int, body: VoidIn, session=Depends(require("record.correct"))):
    void_record(get_db(request), actor=session.actor, record_id=record_id, expected_version=body.expected_version,
                reason=body.reason)
    return VoidOut(id=record_id, status="voided")
