"""日次集計 (/counts): the doses of a period by day, vaccine, age band, venue and group, coverage and
unused tickets, with a chart; the CSV for the prefecture's daily report (an audited export)."""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from sesshu.clock import today_jst
from sesshu.counts.service import bands, code_names, daily_report, export_daily_csv
from sesshu.domain.errors import DomainError, InvalidInput
from sesshu.domain.wareki import parse_optional_date
from sesshu.tickets.catalog import lines
from sesshu.web import charts
from sesshu.web.deps import form_data, get_db, render, require

router = APIRouter(include_in_schema=False)


def _period(raw_from: str, raw_to: str):
    today = today_jst()
    day_to = parse_optional_date(raw_to, "集計期間（終わり）") or today
    day_from = parse_optional_date(raw_from, "集計期間（始まり）") or day_to - timedelta(days=6)
    return day_from, day_to


def _page(request: Request, session, *, raw_from: str, raw_to: str, vaccine: str, error: str = "",
          status_code: int = 200):
    ctx = {"v": {"from": raw_from, "to": raw_to, "vaccine": vaccine}, "lines": lines(), "error": error,
           "bands": [b["label"] for b in bands()], "report": None}
    try:
        day_from, day_to = _period(raw_from, raw_to)
        report = daily_report(get_db(request), actor=session.actor, day_from=day_from, day_to=day_to, vaccine=vaccine)
    except DomainError as e:
        ctx["error"] = error or e.message
        return render(request, "counts.html", ctx, status_code=400)
    ctx.update(report=report, names=code_names(get_db(request)), chart=charts.bar_chart([(f"{d.month}/{d.day}", n) for d, n in report.per_day()],
                                                     title="日別の接種件数"))
    return render(request, "counts.html", ctx, status_code=status_code)


@router.get("/counts")
def counts_page(request: Request, session=Depends(require("person.view")),
                day_from: Annotated[str, Query(alias="from", max_length=20)] = "",
                day_to: Annotated[str, Query(alias="to", max_length=20)] = "",
                vaccine: Annotated[str, Query(max_length=20)] = ""):
    return _page(request, session, raw_from=day_from, raw_to=day_to, vaccine=vaccine)


@router.post("/counts/daily.csv")
def counts_csv(request: Request, form: Annotated[dict, Depends(form_data)],
               session=Depends(require("person.export"))):
    raw_from, raw_to, vaccine = (str(form.get(k, ""))[:20] for k in ("from", "to", "vaccine"))
    try:
        day_from, day_to = _period(raw_from, raw_to)
        purpose = str(form.get("purpose", "")).strip()[:200] or "都道府県への日次報告"
        content, report = export_daily_csv(get_db(request), actor=session.actor, day_from=day_from, day_to=day_to,
                                           vaccine=vaccine, purpose=purpose)
    except (DomainError, InvalidInput) as e:
        return _page(request, session, raw_from=raw_from, raw_to=raw_to, vaccine=vaccine, error=e.message,
                     status_code=400)
    name = f"daily_{report.vaccine or 'all'}_{day_from:%Y%m%d}_{day_to:%Y%m%d}.csv"
    return Response(content=content, media_type="text/csv; charset=utf-8", headers={
        "Cache-Control": "no-store", "Content-Disposition": f"attachment; filename=\"daily.csv\"; filename*=UTF-8''{quote(name)}"})
