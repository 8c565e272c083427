"""費用助成申請: decided by matching against 地方税関係情報 (情報の突合, seed II-3-⑤).

The decision, the tax rows it used and who decided are stored; the current decision of a person and
fiscal year is what the monthly run reads. A decision against what the data says (or where it says
nothing) is a manual override: it is requested by one staff member and made only when a second one
approves it (approvals kind `subsidy_override`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.billing.models import SubsidyDecision, TaxStatus
from sesshu.clock import utcnow
from sesshu.db import Database
from sesshu.domain.errors import InvalidInput, NotFound
from sesshu.domain.subsidy import EXEMPT, NOT_EXEMPT, OUTCOMES, TaxFact, match_household
from sesshu.registry.models import Person

PURPOSE = "予防接種費用助成の判定（地方税関係情報との突合）"
OVERRIDE_OUTCOMES = (EXEMPT, NOT_EXEMPT)


@dataclass(frozen=True)
class DecisionOut:
    id: int
    atena_no: str
    fiscal_year: int
    outcome: str
    outcome_label: str
    method: str
    reason: str
    basis: dict
    decided_by: str
    decided_at: datetime
    approval_id: int | None

    @classmethod
    def from_row(cls, d: SubsidyDecision) -> "DecisionOut":
        return cls(id=d.id, atena_no=d.atena_no, fiscal_year=d.fiscal_year, outcome=d.outcome,
                   outcome_label=OUTCOMES.get(d.outcome, d.outcome), method=d.method, reason=d.reason,
                   basis=json.loads(d.basis), decided_by=d.decided_by, decided_at=d.decided_at,
                   approval_id=d.approval_id)


def check_fiscal_year(value) -> int:
    try:
        year = int(str(value).strip())
    except ValueError:
        raise InvalidInput("年度は西暦4桁で指定してください（例: 2026）") from None
    if not 2000 <= year <= 2100:
        raise InvalidInput("年度が範囲外です")
    return year


def _person(s: Session, actor: Actor, atena_no: str) -> Person:
    atena_no = (atena_no or "").strip()
    person = s.get(Person, atena_no) if atena_no.isdigit() and len(atena_no) <= 15 else None
    if person is None:
        raise NotFound(f"宛名番号 {atena_no} の方は登録されていません")
    access.check_visible(s, actor, atena_no)
    return person


def match(s: Session, person: Person, fiscal_year: int):
    members = [person.atena_no]
    if person.household_no:
        members = list(s.execute(select(Person.atena_no).where(Person.household_no == person.household_no,
                                                               Person.registry_status == "resident")).scalars())
    conds = [TaxStatus.atena_no.in_(sorted(set(members) | {person.atena_no}))]
    if person.household_no:
        conds.append(TaxStatus.household_no == person.household_no)
    rows = s.execute(select(TaxStatus).where(TaxStatus.fiscal_year == fiscal_year, or_(*conds))).scalars().all()
    facts = [TaxFact(atena_no=r.atena_no, household_no=r.household_no, taxable=r.taxable, welfare=r.welfare)
             for r in rows]
    batches = {r.atena_no: r.import_batch_id for r in rows}
    return match_household(person.atena_no, members, facts), batches


def _store(s: Session, *, atena_no: str, fiscal_year: int, household_no: str, outcome: str, method: str, reason: str,
           basis: dict, decided_by: str, approval_id: int | None = None) -> SubsidyDecision:
    s.execute(update(SubsidyDecision).where(SubsidyDecision.atena_no == atena_no,
                                            SubsidyDecision.fiscal_year == fiscal_year,
                                            SubsidyDecision.status == "current").values(status="superseded"))
    row = SubsidyDecision(atena_no=atena_no, fiscal_year=fiscal_year, household_no=household_no, outcome=outcome,
                          method=method, reason=reason[:400], basis=json.dumps(basis, ensure_ascii=False, sort_keys=True),
                          decided_by=decided_by, decided_at=utcnow(), approval_id=approval_id, status="current")
    s.add(row)
    s.flush()
    return row


def decide_by_matching(db: Database, *, actor: Actor, atena_no: str, fiscal_year) -> DecisionOut:
    """Match the application of this person for this fiscal year against the tax data and record it."""
    year = check_fiscal_year(fiscal_year)
    with db.transaction() as s:
        person = _person(s, actor, atena_no)
        result, batches = match(s, person, year)
        basis = {"household_no": person.household_no, "members": list(result.members),
                 "tax_rows": [{"atena_no": f.atena_no, "household_no": f.household_no, "taxable": f.taxable,
                               "welfare": f.welfare, "import_batch_id": batches[f.atena_no]} for f in result.used]}
        row = _store(s, atena_no=person.atena_no, fiscal_year=year, household_no=person.household_no,
                     outcome=result.outcome, method="matching", reason=result.reason, basis=basis,
                     decided_by=actor.label)
        audit.record(s, actor, "subsidy.decide", atena_no=person.atena_no, purpose=PURPOSE,
                     detail={"decision_id": row.id, "fiscal_year": year, "outcome": result.outcome,
                             "members": len(result.members), "tax_rows": len(result.used)})
        return DecisionOut.from_row(row)


def decisions(db: Database, *, actor: Actor, fiscal_year: int | None = None, limit: int = 200) -> list[DecisionOut]:
    with db.transaction() as s:
        access.require_some_task(s, actor)
        q = select(SubsidyDecision).where(SubsidyDecision.status == "current")
        scope = access.scope_of(s, actor)
        visible = access.person_filter(scope, SubsidyDecision.atena_no)
        if visible is not None:
            q = q.where(visible)
        if fiscal_year:
            q = q.where(SubsidyDecision.fiscal_year == fiscal_year)
        rows = s.execute(q.order_by(SubsidyDecision.id.desc()).limit(limit)).scalars().all()
        audit.record(s, actor, "subsidy.list", purpose=PURPOSE, detail={"rows": len(rows), "fiscal_year": fiscal_year})
        return [DecisionOut.from_row(r) for r in rows]


# --- manual override (approvals kind subsidy_override) -------------------------------------------------------

def validate_override(s: Session, raw: dict, actor: Actor) -> dict:
    year = check_fiscal_year(raw.get("fiscal_year", ""))
    outcome = str(raw.get("outcome", ""))
    if outcome not in OVERRIDE_OUTCOMES:
        raise InvalidInput("判定は 免除 または 免除なし を選んでください")
    person = _person(s, actor, str(raw.get("atena_no", "")))
    result, _ = match(s, person, year)
    if result.outcome == outcome:
        raise InvalidInput(f"税情報との突合でも同じ判定（{OUTCOMES[outcome]}）になるため、手動の判定は不要です")
    return {"atena_no": person.atena_no, "fiscal_year": year, "outcome": outcome, "matched": result.outcome,
            "matched_reason": result.reason}


def apply_override(s: Session, payload: dict, actor: Actor, *, approval_id: int, reason: str, requested_by: str) -> str:
    person = _person(s, actor, payload["atena_no"])
    result, batches = match(s, person, payload["fiscal_year"])
    basis = {"household_no": person.household_no, "members": list(result.members), "matched": result.outcome,
             "matched_reason": result.reason, "requested_by": requested_by, "approved_by": actor.label,
             "tax_rows": [{"atena_no": f.atena_no, "taxable": f.taxable, "welfare": f.welfare,
                           "import_batch_id": batches[f.atena_no]} for f in result.used]}
    row = _store(s, atena_no=person.atena_no, fiscal_year=payload["fiscal_year"], household_no=person.household_no,
                 outcome=payload["outcome"], method="override", reason=f"手動判定（承認済み）: {reason}", basis=basis,
                 decided_by=requested_by, approval_id=approval_id)
    audit.record(s, actor, "subsidy.override", atena_no=person.atena_no, purpose=PURPOSE,
                 detail={"decision_id": row.id, "approval_id": approval_id, "fiscal_year": payload["fiscal_year"],
                         "outcome": payload["outcome"], "matched": result.outcome})
    return str(row.id)
