"""Person page forms: record or end a person's condition (接種対象の要件: the B類 60–64 criterion)."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse

from sesshu.clock import today_jst
from sesshu.conditions.schemas import ConditionEntry
from sesshu.conditions.service import end_condition, record_condition
from sesshu.domain.errors import InvalidInput
from sesshu.domain.text import clean
from sesshu.domain.wareki import parse_optional_date
from sesshu.web.deps import form_data, get_db, require

router = APIRouter(include_in_schema=False)

AtenaNo = Annotated[str, Path(pattern=r"^[0-9]{1,15}$")]


def _date(form: dict[str, str], name: str, label: str) -> date | None:
    return parse_optional_date(form.get(name, ""), label)


def _grade(raw: str) -> int | None:
    text = clean(raw).removesuffix("級").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 2):  # "፩".isdigit() is true, int("፩") fails
        raise InvalidInput("等級は数字で入力してください（例: 1）")
    return int(text)


def _back(request: Request, atena_no: str) -> str:
    url = f"/persons/{atena_no}#conditions"
    request.state.back_url = url
    return url


@router.post("/persons/{atena_no}/conditions")
def record_condition_page(request: Request, atena_no: AtenaNo, form: Annotated[dict, Depends(form_data)],
                          session=Depends(require("record.correct"))):
    _back(request, atena_no)
    entry = ConditionEntry(
        condition_code=form.get("condition_code", ""), impairment=form.get("impairment", ""),
        evidence_kind=form.get("evidence_kind", ""), evidence_grade=_grade(form.get("evidence_grade", "")),
        evidence_no=form.get("evidence_no", ""), evidence_issued_on=_date(form, "evidence_issued_on", "書類の交付日"),
        evidence_note=form.get("evidence_note", ""),
        confirmed_on=_date(form, "confirmed_on", "書類を確認した日") or today_jst(),
        valid_from=_date(form, "valid_from", "有効期間の開始日"), valid_until=_date(form, "valid_until", "有効期間の終了日"),
        reason=form.get("reason", ""))
    record_condition(get_db(request), actor=session.actor, atena_no=atena_no, entry=entry)
    return RedirectResponse(f"/persons/{atena_no}?notice=condition_set#conditions", status_code=303)


@router.post("/persons/{atena_no}/conditions/{condition_id}/end")
def end_condition_page(request: Request, atena_no: AtenaNo, condition_id: int,
                       form: Annotated[dict, Depends(form_data)], session=Depends(require("record.correct"))):
    _back(request, atena_no)
    withdraw = form.get("mode", "") == "withdraw"
    end_condition(get_db(request), actor=session.actor, atena_no=atena_no, condition_id=condition_id,
                  reason=form.get("reason", ""), withdraw=withdraw,
                  ended_on=None if withdraw else _date(form, "ended_on", "終了日"))
    notice = "condition_withdrawn" if withdraw else "condition_ended"
    return RedirectResponse(f"/persons/{atena_no}?notice={notice}#conditions", status_code=303)
