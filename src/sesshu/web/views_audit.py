"""Pages for the security officer and auditors: verify the log, checkpoints, anomaly report, lookup."""
from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from sesshu.audit.anomalies import anomaly_report
from sesshu.audit.checkpoints import (
    Checkpoint,
    checkpoint_document,
    file_name,
    fingerprint,
    public_pem,
    signing_key,
    verify_log,
    viewed_checkpoints,
)
from sesshu.audit.lookup import ACTION_LABELS, LookupCriteria, search_entries
from sesshu.clock import today_jst
from sesshu.domain.errors import DomainError, InvalidInput
from sesshu.domain.text import clean
from sesshu.web.deps import get_db, get_settings, render, require

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Query(max_length=40)]
PER_PAGE = 50


@router.get("/audit")
def audit_menu(request: Request, session=Depends(require("audit.view"))):
    return render(request, "audit_menu.html")


@router.post("/audit/verify")
def audit_verify(request: Request, session=Depends(require("audit.view"))):
    report = verify_log(get_db(request), get_settings(request), actor=session.actor)
    return render(request, "audit_verify.html", {"report": report})


@router.get("/audit/checkpoints")
def audit_checkpoints(request: Request, session=Depends(require("audit.view"))):
    settings = get_settings(request)
    rows = viewed_checkpoints(get_db(request), settings, actor=session.actor)
    key = signing_key(settings, create=False)
    return render(request, "audit_checkpoints.html", {
        "rows": rows, "public_pem": public_pem(key.public_key()) if key else "",
        "fingerprint": fingerprint(key.public_key()) if key else ""})


@router.get("/audit/checkpoints/{day}")
def audit_checkpoint_file(request: Request, day: Annotated[str, Path(pattern=r"^\d{4}-\d{2}-\d{2}$")],
                          session=Depends(require("audit.view"))):
    request.state.back_url = "/audit/checkpoints"
    try:
        the_day = date.fromisoformat(day)
    except ValueError:
        raise InvalidInput("日付が正しくありません") from None
    settings = get_settings(request)
    doc = checkpoint_document(get_db(request), settings, actor=session.actor, day=the_day)
    name = file_name(Checkpoint.from_document(doc))
    return Response(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/audit/anomalies")
def audit_anomalies(request: Request, session=Depends(require("audit.view")),
                    date_from: Annotated[str, Query(alias="from", max_length=20)] = "",
                    date_to: Annotated[str, Query(alias="to", max_length=20)] = ""):
    ctx = {"report": None, "error": "", "q": {"from": date_from, "to": date_to}}
    if not request.query_params:
        # A first visit proposes last month, the usual monthly review.
        last = today_jst().replace(day=1) - timedelta(days=1)
        ctx["q"] = {"from": last.replace(day=1).isoformat(), "to": last.isoformat()}
        return render(request, "audit_anomalies.html", ctx)
    try:
        ctx["report"] = anomaly_report(get_db(request), get_settings(request), actor=session.actor,
                                       date_from=date_from, date_to=date_to)
    except DomainError as e:
        ctx["error"] = e.message
        return render(request, "audit_anomalies.html", ctx, status_code=400)
    return render(request, "audit_anomalies.html", ctx)


def _seq(text: str, label: str) -> int | None:
    text = clean(text)
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise InvalidInput(f"{label}は1以上の数字で入力してください")
    return int(text)


@router.get("/audit/entries")
def audit_entries(request: Request, session=Depends(require("audit.view")),
                  atena_no: Text = "", actor: Annotated[str, Query(max_length=64)] = "",
                  action: Annotated[str, Query(max_length=400)] = "",
                  date_from: Annotated[str, Query(alias="from", max_length=20)] = "",
                  date_to: Annotated[str, Query(alias="to", max_length=20)] = "",
                  seq_from_text: Annotated[str, Query(alias="seq_from", max_length=12)] = "",
                  seq_to_text: Annotated[str, Query(alias="seq_to", max_length=12)] = "",
                  seqs: Annotated[str, Query(max_length=8000)] = "",
                  page: Annotated[int, Query(ge=1, le=10000)] = 1):
    # The form always sends both 連番 fields, blank when unused (an int parameter refused the whole search).
    q = {"atena_no": atena_no, "actor": actor, "action": action, "from": date_from, "to": date_to,
         "seq_from": seq_from_text.strip(), "seq_to": seq_to_text.strip(), "seqs": seqs}
    ctx = {"q": q, "result": None, "error": "", "query_string": "",
           "actions": sorted(ACTION_LABELS.items(), key=lambda kv: kv[1])}
    if not any(q.values()):
        return render(request, "audit_entries.html", ctx)
    try:
        seq_from, seq_to = _seq(q["seq_from"], "連番（から）"), _seq(q["seq_to"], "連番（まで）")
        criteria = LookupCriteria.parse(atena_no=atena_no, actor=actor, action=action, date_from=date_from,
                                        date_to=date_to, seq_from=seq_from, seq_to=seq_to, seqs=seqs)
        ctx["result"] = search_entries(get_db(request), actor=session.actor, criteria=criteria, page=page,
                                       per_page=PER_PAGE)
        ctx["query_string"] = urlencode(criteria.as_params())
    except DomainError as e:
        ctx["error"] = e.message
        return render(request, "audit_entries.html", ctx, status_code=400)
    return render(request, "audit_entries.html", ctx)
