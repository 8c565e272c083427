"""住所地外接種の届出 page of a 住登外者 (/persons/{atena_no}/away): the 届出 so far and the form; the
届出済証 PDF comes back as the POST's answer (never stored by the web server)."""
from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from sesshu.away.service import CLOSE_KINDS, STATUS_LABELS, AwayRequest, accept, close, in_force, notices_of, reasons_data
from sesshu.clock import today_jst
from sesshu.domain.errors import Conflict, DomainError, InvalidInput
from sesshu.domain.wareki import parse_optional_date
from sesshu.ledger.service import person_history
from sesshu.tickets.catalog import lines
from sesshu.web.deps import form_data, get_db, get_settings, render, require

router = APIRouter(include_in_schema=False)
AtenaNo = Annotated[str, Path(pattern=r"^[0-9]{1,15}$")]
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}
FIELDS = ("reason", "reason_note", "home_municipality", "home_municipality_code", "home_ticket_no", "vaccine",
          "period_from", "period_until", "channel")


def _page(request: Request, session, atena_no: str, *, error: str = "", form: dict | None = None,
          status_code: int = 200, done: str = ""):
    db = get_db(request)
    history = person_history(db, get_settings(request), actor=session.actor, atena_no=atena_no,
                             purpose="住所地外接種の届出の確認")
    data = reasons_data()
    response = render(request, "away.html", {
        "p": history.person, "notices": notices_of(db, actor=session.actor, atena_no=atena_no), "error": error,
        "form": form or {}, "reasons": data["reasons"], "channels": data["channels"], "lines": lines(),
        "status_labels": STATUS_LABELS, "close_kinds": CLOSE_KINDS, "in_force": in_force, "today": today_jst(),
        "done": done,
    }, status_code=status_code)
    response.headers.update(NO_STORE)
    return response


@router.get("/persons/{atena_no}/away")
def away_page(request: Request, atena_no: AtenaNo, session=Depends(require("person.view"))):
    request.state.back_url = f"/persons/{atena_no}"
    return _page(request, session, atena_no)


@router.post("/persons/{atena_no}/away")
def away_accept(request: Request, atena_no: AtenaNo, form: Annotated[dict, Depends(form_data)],
                session=Depends(require("ticket.issue"))):
    request.state.back_url = f"/persons/{atena_no}/away"
    values = {k: str(form.get(k, ""))[:200] for k in FIELDS}
    try:
        period_from = parse_optional_date(values["period_from"], "滞在期間（始まり）")
        period_until = parse_optional_date(values["period_until"], "滞在期間（終わり）")
        if period_from is None or period_until is None:
            raise InvalidInput("滞在期間を入力してください")
        done = accept(get_db(request), get_settings(request), actor=session.actor, request=AwayRequest(
            atena_no=atena_no, reason=values["reason"], home_municipality=values["home_municipality"],
            period_from=period_from, period_until=period_until, vaccine=values["vaccine"],
            channel=values["channel"] or "counter", reason_note=values["reason_note"],
            home_municipality_code=values["home_municipality_code"], home_ticket_no=values["home_ticket_no"]))
    except DomainError as e:
        return _page(request, session, atena_no, error=e.message, form=values, status_code=400)
    return Response(content=done.pdf.content, media_type="application/pdf", headers={
        **NO_STORE, "Content-Disposition": "inline; filename=\"away.pdf\"; "
                                           f"filename*=UTF-8''{quote(f'住所地外接種届出済証_{done.notice_no}.pdf')}"})


@router.post("/persons/{atena_no}/away/{notice_no}/close")
def away_close(request: Request, atena_no: AtenaNo, notice_no: Annotated[str, Path(pattern=r"^[0-9]{1,12}$")],
               form: Annotated[dict, Depends(form_data)], session=Depends(require("ticket.issue"))):
    """取下げ or 終了 of a 届出 (reason required); the 届出済証 is void after."""
    request.state.back_url = f"/persons/{atena_no}/away"
    kind = str(form.get("kind", ""))[:20]
    try:
        closed_on = parse_optional_date(str(form.get("closed_on", ""))[:20], "終了日")
        row = close(get_db(request), actor=session.actor, notice_no=notice_no, kind=kind,
                    reason=str(form.get("reason", ""))[:400], closed_on=closed_on, atena_no=atena_no)
    except (InvalidInput, Conflict) as e:  # NotFound (another's number, outside the 事務) goes to the app's handler
        return _page(request, session, atena_no, error=e.message, status_code=409 if isinstance(e, Conflict) else 400)
    return _page(request, session, atena_no, done=f"届出番号 {row.notice_no} を{CLOSE_KINDS[row.status]}としました。"
                                                  "この届出の届出済証は以後無効です。")
