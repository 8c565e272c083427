"""Pages: person search (with encrypted CSV output), the person page, and 職権修正 / 取消 of records."""
from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from sesshu.access.service import NoTask
from sesshu.clock import today_jst
from sesshu.conditions.codes import catalog as condition_catalog
from sesshu.domain.schedule.display import applies_to_person, fold_alternatives, is_open
from sesshu.domain.errors import Conflict, DomainError, InvalidInput
from sesshu.ledger.service import (
    Correction,
    correct_record,
    own_day_editable,
    person_history,
    record_for_edit,
    record_history,
    void_record,
)
from sesshu.search.service import export_persons, search_persons
from sesshu.web.deps import require_export_terminal
from sesshu.web.deps import form_data, get_db, get_settings, render, require
from sesshu.web.forms import (
    CORRECTABLE_FIELDS,
    FIELD_LABELS,
    RECORD_FIELDS,
    SearchQuery,
    changed_form_fields,
    display_value,
    parse_changes,
)

router = APIRouter(include_in_schema=False)

AtenaNo = Annotated[str, Path(pattern=r"^[0-9]{1,15}$")]
VERDICTS = {"valid": "定期", "voluntary": "任意", "invalid": "無効"}
# A valid dose of a campaign (臨時・特措法) is not 定期: it is labelled by its 接種区分.
VALID_BY_CATEGORY = {"temporary": "臨時", "pandemic_resident": "住民接種", "designated": "特定接種"}
ELIGIBILITY = {"eligible": "接種できます", "not_yet": "まだ対象外", "complete": "完了", "expired": "期限切れ"}
NOTICES = {"corrected": "接種記録を修正しました", "voided": "接種記録を取り消しました",
           "condition_set": "接種対象の要件を登録し、接種記録を再判定しました",
           "condition_ended": "接種対象の要件を終了し、接種記録を再判定しました",
           "condition_withdrawn": "接種対象の要件を誤登録として取り消し、接種記録を再判定しました",
           "pregnancy_set": "妊娠届を登録し、接種記録を再判定しました",
           "pregnancy_withdrawn": "妊娠届を誤登録として取り消し、接種記録を再判定しました"}


@router.get("/search")
def search_page(request: Request, query: Annotated[SearchQuery, Depends()],
                session=Depends(require("person.search")), page: Annotated[int, Query(ge=1, le=10000)] = 1):
    return _search(request, query, session, page, "search.html", submitted=bool(request.query_params))


@router.get("/search/results")
def search_results(request: Request, query: Annotated[SearchQuery, Depends()],
                   session=Depends(require("person.search")), page: Annotated[int, Query(ge=1, le=10000)] = 1):
    """The results part of the search page, for the as-you-type search (search.js)."""
    if not query.as_params():
        return render(request, "_search_results.html", {"result": None, "error": "", "q": query})
    response = _search(request, query, session, page, "_search_results.html", submitted=True)
    response.status_code = 200  # a form error is shown in place, not as a failed request
    return response


def _search(request: Request, query: SearchQuery, session, page: int, template: str, *, submitted: bool):
    ctx = {"q": query, "result": None, "error": "", "vaccines": request.app.state.vaccines,
           "query_string": urlencode(query.as_params()), "unsorted_query": urlencode(query.unsorted_params())}
    if submitted:  # the form was submitted (even if empty)
        try:
            ctx["result"] = search_persons(get_db(request), actor=session.actor, criteria=query.criteria(),
                                           page=page, per_page=get_settings(request).search_page_size,
                                           sort=query.sort)
        except NoTask:
            raise  # refused and put on record by the app's handler, not shown as a form error
        except DomainError as e:
            ctx["error"] = e.message
            return render(request, template, ctx, status_code=400)
    return render(request, template, ctx)


@router.post("/search/export")
def search_export(request: Request, query: Annotated[SearchQuery, Depends()],
                  purpose: Annotated[str, Form(max_length=100)] = "",
                  password: Annotated[str, Form(max_length=200)] = "",
                  password_confirmation: Annotated[str, Form(max_length=200)] = "",
                  session=Depends(require("person.export")), _terminal=Depends(require_export_terminal)):
    request.state.back_url = "/search?" + urlencode(query.as_params())
    exported = export_persons(get_db(request), actor=session.actor, criteria=query.criteria(), purpose=purpose,
                              password=password, password_confirmation=password_confirmation)
    filename = f"対象者一覧_{today_jst():%Y%m%d}.zip"
    return Response(content=exported.content, media_type=exported.media_type,
                    headers={"Content-Disposition": f"attachment; filename=\"{exported.filename}\"; "
                                                    f"filename*=UTF-8''{quote(filename)}"})


@router.get("/persons/{atena_no}")
def person_page(request: Request, atena_no: AtenaNo, session=Depends(require("person.view")),
                notice: Annotated[str, Query(max_length=20)] = ""):
    history = person_history(get_db(request), get_settings(request), actor=session.actor, atena_no=atena_no)
    rows = [{"record": r, "text": {name: display_value(r, name) for name, _ in RECORD_FIELDS}}
            for r in history.records]
    return render(request, "person.html", {
        "p": history.person, "rows": rows, "notice": NOTICES.get(notice, ""), "vaccines": request.app.state.vaccines,
        "verdicts": history.verdicts,
        "open_rows": fold_alternatives([e for e in history.eligibility if is_open(e, history.as_of)],
                                       _latest_doses(history.records)),
        "closed_lines": [e for e in history.eligibility if not is_open(e, history.as_of)
                         and applies_to_person(e, history.as_of, {r.vaccine_code for r in history.records})],
        "as_of": history.as_of, "names": history.names, "VERDICTS": VERDICTS, "VALID_BY_CATEGORY": VALID_BY_CATEGORY,
        "ELIGIBILITY": ELIGIBILITY,
        "conditions": history.conditions, "condition_catalog": condition_catalog(),
        "pregnancies": history.pregnancies,
        "household": history.household, "SEXES": {"M": "男", "F": "女"},
        "timeline": _timeline(history, request.app.state.vaccines),
        "own_ids": {r.id for r in history.records if own_day_editable(r, session.actor)},
    })


def _timeline(history, vaccines: dict):
    """Doses against the legal and standard windows, per vaccine: those with a dose or open now."""
    from sesshu.web.charts import timeline

    lines = {e.vaccine: e for e in history.eligibility}
    doses: dict[str, list] = {}
    for r in history.records:
        v = history.verdicts.get(r.id)
        doses.setdefault(r.vaccine_code, []).append((r.vaccinated_on, v.status if v else ""))
    codes = list(dict.fromkeys([*(e.vaccine for e in history.eligibility if is_open(e, history.as_of)), *doses]))
    rows = []
    for code in codes:
        e = lines.get(code)
        rows.append({"label": vaccines.get(code, code), "doses": doses.get(code, []),
                     "earliest": e.earliest if e else None, "legal_until": e.legal_until if e else None,
                     "standard_from": e.standard_from if e else None,
                     "standard_until": e.standard_until if e else None})
    return timeline(birth=history.person.birth_date, as_of=history.as_of, rows=rows,
                    title="接種の時系列（定期接種の期間・標準的な接種期間と接種日）")


def _latest_doses(records) -> dict:
    latest: dict = {}
    for r in records:
        if r.vaccinated_on and (r.vaccine_code not in latest or r.vaccinated_on > latest[r.vaccine_code]):
            latest[r.vaccine_code] = r.vaccinated_on
    return latest


def _person_url(atena_no: str, notice: str = "", record_id: int | None = None) -> str:
    url = f"/persons/{atena_no}" if atena_no.isdigit() else "/search"
    if notice:
        url += f"?notice={notice}"
    if record_id is not None:
        url += f"#record-{record_id}"
    return url


def _correct(request: Request, record_id: int, form: dict, session, *, own: bool):
    atena_no = form.get("atena_no", "")
    request.state.back_url = _person_url(atena_no, record_id=record_id)
    edited = changed_form_fields(form)
    try:
        correction = Correction(record_id=record_id, expected_version=_version(form), reason=form.get("reason", ""),
                                changes=parse_changes(edited))
        correct_record(get_db(request), get_settings(request), actor=session.actor, correction=correction,
                       own_day_only=own)
    except Conflict as e:
        if not e.current:
            raise
        seen = {name: form[f"orig_{name}"] for name in CORRECTABLE_FIELDS if f"orig_{name}" in form}
        return _conflict_page(request, e, atena_no=atena_no, edited=edited, seen=seen, reason=form.get("reason", ""))
    except InvalidInput as e:
        # The same page again with everything typed and the message beside the form (not an error page).
        r = record_for_edit(get_db(request), actor=session.actor, record_id=record_id, own_day_only=own)
        return _edit_page(request, r, own=own, form=form, error=e.message, status_code=400)
    return RedirectResponse(_person_url(atena_no, "corrected", record_id), status_code=303)


@router.post("/records/{record_id}/correct")
def correct_page(request: Request, record_id: int, form: Annotated[dict, Depends(form_data)],
                 session=Depends(require("record.correct"))):
    return _correct(request, record_id, form, session, own=False)


@router.post("/records/{record_id}/own/correct")
def own_correct_page(request: Request, record_id: int, form: Annotated[dict, Depends(form_data)],
                     session=Depends(require("record.enter"))):
    """The clerk's correction of a record they typed in by hand today (ledger.service.own_day_editable)."""
    return _correct(request, record_id, form, session, own=True)


def _conflict_page(request: Request, e: Conflict, *, atena_no: str, edited: dict[str, str], seen: dict[str, str],
                   reason: str):
    """Another clerk saved first: the newer values beside what this clerk typed, and a form that applies
    this clerk's edits to the current version — nothing typed is lost, nothing is overwritten unseen."""
    current = e.current
    rows = [{"name": name, "label": FIELD_LABELS[name], "current": current["values"].get(name, ""),
             "mine": edited.get(name), "differs": name in edited and edited[name] != current["values"].get(name, ""),
             "changed_meanwhile": name in seen and seen[name] != current["values"].get(name, "")}
            for name in CORRECTABLE_FIELDS]
    return render(request, "record_conflict.html", {
        "message": e.message, "current": current, "rows": rows, "atena_no": atena_no, "reason": reason,
        "back_url": _person_url(atena_no, record_id=current["record_id"]),
    }, status_code=409)


def _void(request: Request, record_id: int, form: dict, session, *, own: bool):
    atena_no = form.get("atena_no", "")
    request.state.back_url = _person_url(atena_no, record_id=record_id)
    try:
        void_record(get_db(request), actor=session.actor, record_id=record_id, expected_version=_version(form),
                    reason=form.get("reason", ""), own_day_only=own)
    except InvalidInput as e:
        r = record_for_edit(get_db(request), actor=session.actor, record_id=record_id, own_day_only=own)
        return _edit_page(request, r, own=own, void_error=e.message, status_code=400)
    return RedirectResponse(_person_url(atena_no, "voided"), status_code=303)


@router.post("/records/{record_id}/void")
def void_page(request: Request, record_id: int, form: Annotated[dict, Depends(form_data)],
              session=Depends(require("record.correct"))):
    return _void(request, record_id, form, session, own=False)


@router.post("/records/{record_id}/own/void")
def own_void_page(request: Request, record_id: int, form: Annotated[dict, Depends(form_data)],
                  session=Depends(require("record.enter"))):
    return _void(request, record_id, form, session, own=True)


def _edit_page(request: Request, r, *, own: bool, form: dict | None = None, error: str = "", void_error: str = "",
               status_code: int = 200):
    """The correction page; after a refused save it shows what was typed, not the stored values."""
    request.state.back_url = _person_url(r.atena_no, record_id=r.id)
    text = {name: display_value(r, name) for name, _ in RECORD_FIELDS}
    form = form or {}
    return render(request, "record_edit.html", {
        "r": r, "text": text, "typed": {name: form[name] for name in CORRECTABLE_FIELDS if name in form},
        "orig": {name: form[f"orig_{name}"] for name in CORRECTABLE_FIELDS if f"orig_{name}" in form},
        "reason": form.get("reason", ""), "error": error, "void_error": void_error, "own": own,
        "action": f"/records/{r.id}/own" if own else f"/records/{r.id}",
        "vaccines": request.app.state.vaccines, "correctable": CORRECTABLE_FIELDS,
        "back_url": request.state.back_url}, status_code=status_code)


@router.get("/records/{record_id}/edit")
def record_edit_page(request: Request, record_id: int, session=Depends(require("record.correct"))):
    """One record's 職権修正・取消・付け替え forms: on their own page, so the person page stays light
    (a long history would otherwise carry three forms per record)."""
    r = record_for_edit(get_db(request), actor=session.actor, record_id=record_id)
    return _edit_page(request, r, own=False)


@router.get("/records/{record_id}/own")
def own_record_page(request: Request, record_id: int, session=Depends(require("record.enter"))):
    """訂正・取消 of a record the clerk typed in by hand today (no 職権修正 needed; audited the same way)."""
    r = record_for_edit(get_db(request), actor=session.actor, record_id=record_id, own_day_only=True)
    return _edit_page(request, r, own=True)


@router.get("/records/{record_id}/history")
def record_history_page(request: Request, record_id: int, session=Depends(require("person.view")),
                        atena_no: Annotated[str, Query(pattern=r"^[0-9]{0,15}$")] = ""):
    request.state.back_url = _person_url(atena_no) if atena_no else None
    entries = record_history(get_db(request), actor=session.actor, record_id=record_id)
    return render(request, "record_history.html", {"record_id": record_id, "entries": entries,
                                                   "back_url": request.state.back_url})


def _version(form: dict[str, str]) -> int:
    raw = form.get("expected_version", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):  # "²".isdigit() is true, int("²") fails
        raise InvalidInput("版数が正しくありません。画面を開き直してください")
    return int(raw)
