"""Claim reconciliation: each clinic's own totals (件数・金額 per vaccine) against the city's computation."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.billing.models import BillingClaim, BillingReturn, PaymentLine
from sesshu.billing.service import PURPOSE, check_month
from sesshu.db import Database
from sesshu.ledger.models import Institution, Vaccine


@dataclass(frozen=True)
class ClaimDifference:
    institution_code: str
    institution_name: str
    vaccine_code: str
    vaccine_name: str
    claimed_count: int | None  # None: the clinic sent no figure for this vaccine
    claimed_amount: int | None
    paid_count: int
    paid_amount: int
    returned: int  # records of this clinic and vaccine the city returned (the usual explanation)

    @property
    def count_difference(self) -> int:
        return (self.claimed_count or 0) - self.paid_count

    @property
    def amount_difference(self) -> int:
        return (self.claimed_amount or 0) - self.paid_amount


def reconcile(db: Database, *, actor: Actor, month: str, only_differences: bool = True) -> list[ClaimDifference]:
    """Per clinic that sent a claim for the month and per vaccine: its figures against the paid lines."""
    month = check_month(month)
    with db.transaction() as s:
        claimed = {(c.institution_code, c.vaccine_code): (c.count, c.amount) for c in s.execute(
            select(BillingClaim).where(BillingClaim.month == month)).scalars()}
        paid = {(i, v): (int(n), int(a)) for i, v, n, a in s.execute(
            select(PaymentLine.institution_code, PaymentLine.vaccine_code, func.count(), func.sum(PaymentLine.amount))
            .where(PaymentLine.month == month, PaymentLine.kind == "fee")
            .group_by(PaymentLine.institution_code, PaymentLine.vaccine_code))}
        returned = {(i, v): int(n) for i, v, n in s.execute(
            select(BillingReturn.institution_code, BillingReturn.vaccine_code, func.count())
            .where(BillingReturn.month == month).group_by(BillingReturn.institution_code, BillingReturn.vaccine_code))}
        names = dict(s.execute(select(Institution.code, Institution.name)).all())
        vaccines = dict(s.execute(select(Vaccine.code, Vaccine.name)).all())
        # Only clinics that sent a claim are compared: one that sent none is not "short" of every vaccine.
        claimants = {inst for inst, _v in claimed}
        out = []
        for key in sorted(k for k in set(claimed) | set(paid) | set(returned) if k[0] in claimants):
            c = claimed.get(key)
            p = paid.get(key, (0, 0))
            d = ClaimDifference(institution_code=key[0], institution_name=names.get(key[0], ""), vaccine_code=key[1],
                                vaccine_name=vaccines.get(key[1], key[1]), claimed_count=c[0] if c else None,
                                claimed_amount=c[1] if c else None, paid_count=p[0], paid_amount=p[1],
                                returned=returned.get(key, 0))
            if not only_differences or d.count_difference or d.amount_difference:
                out.append(d)
        audit.record(s, actor, "billing.reconcile", purpose=PURPOSE,
                     detail={"month": month, "claims": len(claimed), "differences": len(out)})
    return out
