"""Person page forms: record a 妊娠届 by hand, or withdraw one recorded by mistake."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse

from sesshu.clock import today_jst
from sesshu.domain.wareki import parse_optional_date
from sesshu.pregnancy.schemas import PregnancyEntry
from sesshu.pregnancy.service import record_pregnancy, withdraw_pregnancy
from sesshu.web.deps import form_data, get_db, require

router = APIRouter(include_in_schema=False)

AtenaNo = Annotated[str, Path(pattern=r"^[0-9]{1,15}$")]


def _back(request: Request, atena_no: str) -> None:
    request.state.back_url = f"/persons/{atena_no}#pregnancies"


@router.post("/persons/{atena_no}/pregnancies")
def record_pregnancy_page(request: Request, atena_no: AtenaNo, form: Annotated[dict, Depends(form_data)],
                          session=Depends(require("record.correct"))):
    _back(request, atena_no)
    entry = PregnancyEntry(expected_delivery=parse_optional_date(form.get("expected_delivery", ""), "出産予定日"),
                           notified_on=parse_optional_date(form.get("notified_on", ""), "届出日") or today_jst(),
                           source_ref=form.get("source_ref", ""))
    record_pregnancy(get_db(request), actor=session.actor, atena_no=atena_no, entry=entry)
    return RedirectResponse(f"/persons/{atena_no}?notice=pregnancy_set#pregnancies", status_code=303)


@router.post("/persons/{atena_no}/pregnancies/{pregnancy_id}/withdraw")
def withdraw_pregnancy_page(request: Request, atena_no: AtenaNo, pregnancy_id: int,
                            form: Annotated[dict, Depends(form_data)], session=Depends(require("record.correct"))):
    _back(request, atena_no)
    withdraw_pregnancy(get_db(request), actor=session.actor, atena_no=atena_no, pregnancy_id=pregnancy_id,
                       reason=form.get("reason", ""))
    return RedirectResponse(f"/persons/{atena_no}?notice=pregnancy_withdrawn#pregnancies", status_code=303)
