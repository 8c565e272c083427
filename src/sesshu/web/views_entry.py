"""Pages: 手入力 of a returned 予診票, with the schedule engine's verdict shown while typing."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse

from sesshu.access import service as access
from sesshu.access.service import OutOfScope
from sesshu.clock import today_jst
from sesshu.domain.errors import DomainError
from sesshu.domain.wareki import to_wareki
from sesshu.ledger.masters import master_names
from sesshu.ledger.service import (
    ENTRY_FIELD_NAMES,
    EntryCheck,
    EntryVerdict,
    InvalidDoseUnconfirmed,
    check_entry,
    enter_record,
    entry_error_field,
)
from sesshu.web.deps import form_data, get_db, get_settings, render, require

router = APIRouter(include_in_schema=False)

VERDICTS = {"valid": "定期接種として有効", "voluntary": "任意接種（定期接種の対象外）", "invalid": "無効（定期接種として認められません）"}
ELIGIBILITY = {"eligible": "接種できる期間内", "not_yet": "まだ対象外", "complete": "完了済み", "expired": "期限切れ"}
# Carried to the next form: a pile of 予診票 usually comes from one clinic for one month.
STICKY = ("institution_code", "doctor_code", "venue_code", "billing_month", "screening_institution_code",
          "screening_doctor_code")
MAX_FIELD = 1000


def _record_refusal(request: Request, session, exc: OutOfScope) -> None:
    access.record_refusal(get_db(request), actor=session.actor, exc=exc, path=request.url.path, method=request.method)


def _clean_form(form: dict[str, str]) -> dict[str, str]:
    return {name: str(form.get(name, ""))[:MAX_FIELD] for name in ENTRY_FIELD_NAMES}


def _age(birth: date, on: date) -> str:
    months = (on.year - birth.year) * 12 + on.month - birth.month - (1 if on.day < birth.day else 0)
    if months < 0:
        return ""
    return f"{months // 12}歳{months % 12}か月"


def _verdict_json(v: EntryVerdict | None, vaccinated_on: date | None) -> dict | None:
    if v is None:
        return None
    out = {"status": v.status, "label": VERDICTS.get(v.status, v.status), "dose_number": v.dose_number,
           "codes": list(v.codes), "reasons": list(v.reasons), "window": None}
    e = v.eligibility
    if e is not None:
        def day(d):
            return {"iso": d.isoformat(), "wareki": to_wareki(d)} if d else None
        out["window"] = {"status": ELIGIBILITY.get(e.status, e.status), "next_dose": e.next_dose,
                         "earliest": day(e.earliest), "standard_from": day(e.standard_from),
                         "standard_until": day(e.standard_until), "legal_until": day(e.legal_until)}
    return out


def check_json(check: EntryCheck) -> dict:
    p = check.person
    person = None
    if p is not None:
        person = {"atena_no": p.atena_no, "name": p.name, "name_kana": p.name_kana, "sex": p.sex_label,
                  "birth_date": p.birth_date.isoformat(), "birth_wareki": to_wareki(p.birth_date),
                  "registry_status": p.registry_status_label, "address": p.address,
                  "age": _age(p.birth_date, (check.values or {}).get("vaccinated_on") or today_jst())}
    vaccinated_on = (check.values or {}).get("vaccinated_on")
    return {"person": person, "error": check.error, "error_field": check.error_field, "duplicate": check.duplicate,
            "vaccinated_on": {"iso": vaccinated_on.isoformat(), "wareki": to_wareki(vaccinated_on)}
            if vaccinated_on else None,
            "verdict": _verdict_json(check.verdict, vaccinated_on)}


def _page(request: Request, *, values: dict, error: str = "", saved=None, status_code: int = 200,
          keep: bool = True, pending: EntryVerdict | None = None):
    from sesshu.preferences.service import date_style

    return render(request, "record_entry.html", {
        "v": values, "error": error, "error_field": entry_error_field(error) if error else "",
        "date_style": date_style(get_db(request), request.state.session.user_id),
        "saved": saved, "keep": keep, "pending": pending, "masters": master_names(get_db(request)),
        "vaccines": request.app.state.vaccines, "VERDICTS": VERDICTS,
    }, status_code=status_code)


@router.get("/records/new")
def entry_page(request: Request, session=Depends(require("record.enter")),
               atena_no: Annotated[str, Query(pattern=r"^[0-9]{0,15}$")] = ""):
    values = dict.fromkeys(ENTRY_FIELD_NAMES, "")
    values["atena_no"] = atena_no
    return _page(request, values=values)


@router.post("/records/new")
def entry_save(request: Request, form: Annotated[dict, Depends(form_data)],
               session=Depends(require("record.enter"))):
    values = _clean_form(form)
    keep = form.get("keep") == "1"
    try:
        saved = enter_record(get_db(request), get_settings(request), actor=session.actor, raw=values,
                             confirm_invalid=form.get("confirm_invalid") == "1")
    except InvalidDoseUnconfirmed as e:
        # Not stored: the reasons, everything typed, and a button to store it as invalid all the same.
        return _page(request, values=values, pending=e.verdict, keep=keep)
    except DomainError as e:
        if isinstance(e, OutOfScope):
            _record_refusal(request, session, e)
        # Everything typed stays on the form; the message says what to fix.
        status = 409 if e.code == "E_CONFLICT" or "重複" in e.message else 400
        return _page(request, values=values, error=e.message, status_code=status, keep=keep)
    fresh = dict.fromkeys(ENTRY_FIELD_NAMES, "")
    if keep:
        fresh.update({k: values[k] for k in STICKY})
    return _page(request, values=fresh, saved=saved, keep=keep)


@router.post("/records/check")
def entry_check(request: Request, body: Annotated[dict, Body()], session=Depends(require("record.enter"))):
    values = _clean_form({k: v for k, v in body.items() if isinstance(v, str)})
    try:
        check = check_entry(get_db(request), get_settings(request), actor=session.actor, raw=values)
    except OutOfScope as e:
        _record_refusal(request, session, e)
        check = EntryCheck(error=e.message, error_field="atena_no")
    return JSONResponse(check_json(check))
