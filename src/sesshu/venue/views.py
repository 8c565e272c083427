"""The venue station page (/venue) and its three calls: look up a scan, record it, undo the last record.
Answers are JSON for the station's script (static/venue.js); the station's presets travel with each call."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse

from sesshu.access import service as access
from sesshu.access.service import OutOfScope
from sesshu.domain.errors import DomainError
from sesshu.domain.wareki import to_wareki
from sesshu.venue import service as venue
from sesshu.web.deps import get_db, get_settings, render, require
from sesshu.web.views_entry import VERDICTS, check_json

router = APIRouter(include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store, max-age=0"}


def _answer(data: dict, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=NO_STORE)


def _refused(request: Request, session, e: DomainError) -> JSONResponse:
    if isinstance(e, OutOfScope):
        access.record_refusal(get_db(request), actor=session.actor, exc=e, path=request.url.path,
                              method=request.method)
    status = 409 if e.code == "E_CONFLICT" else 404 if e.code == "E_NOT_FOUND" else 400
    return _answer({"error": e.message, "code": e.code}, status)


def _station(body: dict) -> venue.Station:
    raw = body.get("station")
    return venue.Station.from_dict(raw if isinstance(raw, dict) else {})


def _day(body: dict) -> date | None:
    """The day the scan was read (a retry the next morning still records the day of the dose)."""
    raw = body.get("vaccinated_on")
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


@router.get("/venue")
def station_page(request: Request, session=Depends(require("record.enter"))):
    return render(request, "venue.html", {"choices": venue.station_choices(get_db(request)),
                                          "undo_seconds": int(venue.undo_window().total_seconds())})


@router.post("/venue/scan")
def scan(request: Request, body: Annotated[dict, Body()], session=Depends(require("record.enter"))):
    try:
        result = venue.look_up(get_db(request), get_settings(request), actor=session.actor,
                               station=_station(body), scan=str(body.get("scan") or ""), on=_day(body))
    except DomainError as e:
        return _refused(request, session, e)
    out = check_json(result.check)
    out.update({"scan": result.scan, "refusal": result.refusal, "warnings": result.warnings,
                "ticket": {"ticket_no": result.ticket.ticket_no, "dose_no": result.ticket.dose_no,
                           "vaccine": result.ticket.vaccine},
                "vaccinated_on": {"iso": result.vaccinated_on.isoformat(), "wareki": to_wareki(result.vaccinated_on)}})
    return _answer(out)


@router.post("/venue/record")
def record(request: Request, body: Annotated[dict, Body()], session=Depends(require("record.enter"))):
    try:
        saved = venue.record_scan(get_db(request), get_settings(request), actor=session.actor,
                                  station=_station(body), scan=str(body.get("scan") or ""), on=_day(body),
                                  confirm_invalid=body.get("confirm_invalid") is True)
    except DomainError as e:
        return _refused(request, session, e)
    verdict = saved.verdict
    return _answer({"record_id": saved.record_id, "version": saved.version, "atena_no": saved.atena_no,
                    "vaccine_code": saved.vaccine_code, "vaccinated_on": saved.vaccinated_on.isoformat(),
                    "error_code": saved.error_code, "replayed": saved.replayed,
                    "name": saved.person.name if saved.person else "",
                    "verdict": {"status": verdict.status, "label": VERDICTS.get(verdict.status, verdict.status),
                                "dose_number": verdict.dose_number} if verdict else None,
                    "undo_until": saved.undo_until.isoformat() + "Z"})


@router.post("/venue/undo")
def undo(request: Request, body: Annotated[dict, Body()], session=Depends(require("record.enter"))):
    try:
        record_id, version = int(body.get("record_id")), int(body.get("version"))
    except (TypeError, ValueError):
        return _answer({"error": "取り消す記録が指定されていません"}, 400)
    try:
        venue.undo(get_db(request), actor=session.actor, record_id=record_id, version=version)
    except DomainError as e:
        return _refused(request, session, e)
    return _answer({"undone": record_id})
