"""The dashboard: charts of the whole ledger (counts only), on the home page of staff who see persons."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from sesshu.auth.permissions import has_permission
from sesshu.clock import today_jst
from sesshu.dashboard.service import dashboard
from sesshu.web import charts
from sesshu.web.deps import get_db, render, require

router = APIRouter(include_in_schema=False)


def dashboard_context(request: Request, session, *, refresh: bool = False) -> dict:
    """The charts for the home page; empty for roles that do not see persons."""
    if not has_permission(session.role, "person.view"):
        return {}
    d = dashboard(get_db(request), today=today_jst(), refresh=refresh)
    cov = d.coverage
    return {"dash": d, "charts": {
        "months": charts.bar_chart([(f"{int(m[5:])}月", n) for m, n in d.months], title="月別の接種記録の登録件数（直近12か月）"),
        "coverage": charts.coverage_grid(cov.cohorts, cov.groups, cov.residents, cov.covered,
                                         title="生まれ年度別・ワクチン別の接種率（住民のうち1回以上の記録がある方の割合）"),
        "days": charts.bar_chart([(f"{d.month}/{d.day}", n) for d, n in d.days],
                                 title="日別の接種件数（直近14日・接種日ごと）"),
        "errors": charts.bar_chart([(f"#{b['id']}", b["rate"]) for b in d.batches], title="予診票の取込ごとのエラー率",
                                   percent=True, colour=charts.DANGER),
    }}


@router.get("/dashboard")
def dashboard_page(request: Request, session=Depends(require("person.view")),
                   refresh: Annotated[str, Query(max_length=1)] = ""):
    return render(request, "dashboard.html", dashboard_context(request, session, refresh=bool(refresh)))
