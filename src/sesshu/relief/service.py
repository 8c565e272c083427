"""Use cases of 健康被害救済. Each function owns its transaction and writes its audit rows.

The flow (DOMAIN.md): claim received with its documents → the city's 予防接種健康被害調査委員会 →
sent via the prefecture to the national review → decision (認定/否認 and the benefits) → the city
notifies → payments; pensions are paid every payment month until the benefit is ended.

Access: relief is a "linked" 事務 (kenko_higai_kyusai). A case is seen only by staff assigned to that
事務, and only for persons linked to it (the link is made when the claim is received). Staff of the
routine vaccination 事務 see the person's ledger but not their relief cases.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.access.models import PersonTask
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.clock import today_jst, utcnow
from sesshu.db import Database, get_row
from sesshu.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from sesshu.domain.text import clean
from sesshu.ledger.models import VaccinationRecord
from sesshu.registry.models import Person
from sesshu.relief.models import ReliefBenefit, ReliefCase, ReliefPayment, ReliefStep

TASK = "kenko_higai_kyusai"
PURPOSE = "予防接種健康被害救済の給付"
NOT_FOUND = "指定の救済案件はありません"

STEPS = {
    "claim_received": "請求の受付（書類の確認）",
    "committee": "予防接種健康被害調査委員会",
    "sent_to_prefecture": "都道府県を経由して国へ進達",
    "national_decision": "国の審査結果（認定・否認）",
    "notified": "請求者への通知",
    "benefit_ended": "給付の終了",
    "note": "記録",
}
# Which step may follow which (a note may be added any time).
NEXT = {
    "claim_received": {"committee"},
    "committee": {"sent_to_prefecture", "committee"},
    "sent_to_prefecture": {"national_decision"},
    "national_decision": {"notified"},
    "notified": {"benefit_ended"},
    "benefit_ended": {"benefit_ended"},
}
DECISIONS = {"certified": "認定", "denied": "否認"}


@lru_cache(maxsize=1)
def rules() -> dict:
    return yaml.safe_load(resources.files("sesshu").joinpath("relief/benefits.yaml").read_text(encoding="utf-8"))


def benefit_label(kind: str) -> str:
    return rules()["benefits"].get(kind, {}).get("label", kind)


def _month(d: date) -> date:
    return d.replace(day=1)


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _parse_month(value: str | date) -> date:
    if isinstance(value, date):
        return _month(value)
    try:
        y, m = str(value).strip().split("-")[:2]
        return date(int(y), int(m), 1)
    except (ValueError, TypeError):
        raise InvalidInput(f"月は 2027-04 の形で指定してください（{value}）") from None


# --- access -------------------------------------------------------------------------------------------

def _require_relief_staff(s: Session, actor: Actor) -> None:
    if actor.kind == "os":
        return
    if TASK not in access.scope_of(s, actor).linked_tasks:
        raise Forbidden("健康被害救済の事務の担当に割り当てられていないため、救済案件は扱えません")


def _visible_case_filter(actor: Actor):
    if actor.kind == "os":
        return None
    return ReliefCase.atena_no.in_(select(PersonTask.atena_no).where(PersonTask.task_code == TASK))


def _load(s: Session, actor: Actor, case_id: int, *, lock: bool = False) -> ReliefCase:
    _require_relief_staff(s, actor)
    row = get_row(s, ReliefCase, case_id, with_for_update=lock) if lock else get_row(s, ReliefCase, case_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    if actor.kind != "os" and s.get(PersonTask, (row.atena_no, TASK)) is None:
        raise NotFound(NOT_FOUND)
    return row


# --- views --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StepOut:
    step: str
    label: str
    on_date: date
    done_by: str
    detail: dict


@dataclass(frozen=True)
class BenefitOut:
    id: int
    kind: str
    label: str
    periodic: bool
    amount: int
    first_month: date
    end_month: date | None


@dataclass(frozen=True)
class PaymentOut:
    id: int
    case_id: int
    atena_no: str
    benefit_id: int
    kind_label: str
    pay_month: date
    months: int
    amount: int
    status: str
    payee: str


@dataclass
class CaseOut:
    id: int
    atena_no: str
    person_name: str
    record_id: int | None
    record_label: str
    vaccine_class: str
    class_label: str
    status: str
    status_label: str
    claimant_name: str
    claimant_relation: str
    claimed: list[str]
    version: int
    steps: list[StepOut] = field(default_factory=list)
    benefits: list[BenefitOut] = field(default_factory=list)
    payments: list[PaymentOut] = field(default_factory=list)


def _case_out(s: Session, c: ReliefCase, *, full: bool) -> CaseOut:
    p = s.get(Person, c.atena_no)
    rec = s.get(VaccinationRecord, c.record_id) if c.record_id else None
    out = CaseOut(id=c.id, atena_no=c.atena_no, person_name=p.name if p else "", record_id=c.record_id,
                  record_label=f"{rec.vaccinated_on.isoformat()} {rec.vaccine_code}" if rec else "",
                  vaccine_class=c.vaccine_class, class_label=rules()["classes"].get(c.vaccine_class, c.vaccine_class),
                  status=c.status, status_label=STEPS.get(c.status, c.status), claimant_name=c.claimant_name,
                  claimant_relation=c.claimant_relation, claimed=[k for k in c.claimed.split(",") if k],
                  version=c.version)
    if full:
        out.steps = [StepOut(step=r.step, label=STEPS.get(r.step, r.step), on_date=r.on_date, done_by=r.done_by,
                             detail=json.loads(r.detail)) for r in s.execute(
            select(ReliefStep).where(ReliefStep.case_id == c.id).order_by(ReliefStep.on_date, ReliefStep.id)).scalars()]
        benefits = s.execute(select(ReliefBenefit).where(ReliefBenefit.case_id == c.id)
                             .order_by(ReliefBenefit.id)).scalars().all()
        out.benefits = [BenefitOut(id=b.id, kind=b.kind, label=benefit_label(b.kind), periodic=b.periodic,
                                   amount=b.amount, first_month=b.first_month, end_month=b.end_month) for b in benefits]
        labels = {b.id: benefit_label(b.kind) for b in benefits}
        out.payments = [PaymentOut(id=x.id, case_id=c.id, atena_no=c.atena_no, benefit_id=x.benefit_id,
                                   kind_label=labels[x.benefit_id], pay_month=x.pay_month, months=x.months,
                                   amount=x.amount, status=x.status, payee=c.account_holder_kana)
                        for x in s.execute(select(ReliefPayment).where(ReliefPayment.benefit_id.in_(list(labels)))
                                           .order_by(ReliefPayment.pay_month, ReliefPayment.id)).scalars()] if labels else []
    return out


# --- the claim ----------------------------------------------------------------------------------------

def open_case(db: Database, *, actor: Actor, atena_no: str, record_id: int | None, vaccine_class: str,
              claimant_name: str, claimant_relation: str, claimed: list[str], received_on: date,
              documents: list[str], account: dict | None = None) -> CaseOut:
    """請求の受付: the case, its first step (with the documents checklist), and the person's link to the
    relief 事務 — from then on relief staff see this person, and only the persons with a claim."""
    r = rules()
    if vaccine_class not in r["classes"]:
        raise InvalidInput("接種の区分（A類・臨時・B類）を選択してください")
    bad = [k for k in claimed if k not in r["benefits"]]
    if bad or not claimed:
        raise InvalidInput("請求する給付の種類を選択してください")
    wrong = [k for k in claimed if vaccine_class not in r["benefits"][k]["classes"]]
    if wrong:
        raise InvalidInput(f"{r['classes'][vaccine_class]}では請求できない給付です: "
                           + "、".join(benefit_label(k) for k in wrong))
    unknown_docs = [d for d in documents if d not in r["documents"]]
    if unknown_docs:
        raise InvalidInput("添付書類の指定が正しくありません")
    if received_on > today_jst():
        raise InvalidInput("受付日が未来の日付です")
    name = clean(claimant_name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("請求者の氏名を100文字以内で入力してください")
    acct = {k: clean(str(v or "")).strip() for k, v in (account or {}).items()}
    with db.transaction() as s:
        _require_relief_staff(s, actor)
        # Only for a person the actor's 事務 already reach (a relief-only clerk: the claimants linked so
        # far; a new claimant is received by staff of the vaccination 事務). Outside, the answer is the
        # one for a number that does not exist, so the form tells nothing about who is registered.
        missing = f"宛名番号 {atena_no} の方は登録されていません"
        access.scoped(s, actor).check(atena_no, message=missing)
        if s.get(Person, atena_no) is None:
            raise NotFound(missing)
        if record_id is not None:
            rec = get_row(s, VaccinationRecord, record_id)
            if rec is None or rec.atena_no != atena_no:
                raise InvalidInput("対象の接種記録は、この方の記録から選んでください")
        access.link_person_in(s, actor, atena_no=atena_no, task_code=TASK)
        c = ReliefCase(atena_no=atena_no, record_id=record_id, vaccine_class=vaccine_class, status="claim_received",
                       claimant_name=name, claimant_relation=clean(claimant_relation or "本人")[:20],
                       claimed=",".join(claimed), bank_code=acct.get("bank_code", ""), bank_name=acct.get("bank_name", ""),
                       branch_code=acct.get("branch_code", ""), branch_name=acct.get("branch_name", ""),
                       account_type=acct.get("account_type", "1") or "1", account_no=acct.get("account_no", ""),
                       account_holder_kana=acct.get("account_holder_kana", ""), created_at=utcnow())
        s.add(c)
        s.flush()
        checklist = {d: d in documents for d in r["documents"]}
        s.add(ReliefStep(case_id=c.id, step="claim_received", on_date=received_on, done_by=actor.label,
                         detail=json.dumps({"documents": checklist, "claimed": claimed}, ensure_ascii=False),
                         created_at=utcnow()))
        audit.record(s, actor, "relief.open", atena_no=atena_no, purpose=PURPOSE,
                     detail={"case_id": c.id, "class": vaccine_class, "claimed": claimed, "record_id": record_id,
                             "documents_missing": [d for d, ok in checklist.items() if not ok]})
        return _case_out(s, c, full=True)


def add_step(db: Database, *, actor: Actor, case_id: int, expected_version: int, step: str, on_date: date,
             detail: dict | None = None) -> CaseOut:
    """One step of the case, with its date and who did it. A decision creates the benefits."""
    if step not in STEPS or step == "claim_received":
        raise InvalidInput("手続の種類が正しくありません")
    if on_date > today_jst():
        raise InvalidInput("日付が未来です")
    detail = dict(detail or {})
    with db.transaction() as s:
        c = _load(s, actor, case_id, lock=True)
        if c.version != expected_version:
            raise Conflict("他の職員がこの案件を先に更新しました。画面を開き直してください")
        if step != "note" and step not in NEXT.get(c.status, set()):
            raise Conflict(f"「{STEPS[c.status]}」の次に「{STEPS[step]}」は記録できません")
        last = s.execute(select(ReliefStep.on_date).where(ReliefStep.case_id == c.id)
                         .order_by(ReliefStep.on_date.desc()).limit(1)).scalar()
        if last and on_date < last and step != "note":
            raise InvalidInput(f"日付が前の手続（{last.isoformat()}）より前です")
        if step == "committee":
            detail = {"minutes": _required(detail.get("minutes"), "委員会の議事の要旨", 4000),
                      "result": _required(detail.get("result"), "委員会の結果", 400)}
        elif step == "national_decision":
            detail = _decide(s, c, detail, on_date)
        elif step == "benefit_ended":
            detail = _end(s, c, detail)
        else:
            detail = {"note": clean(str(detail.get("note", ""))).strip()[:2000]}
        s.add(ReliefStep(case_id=c.id, step=step, on_date=on_date, done_by=actor.label,
                         detail=json.dumps(detail, ensure_ascii=False, default=str), created_at=utcnow()))
        if step != "note":
            c.status = step
        s.flush()
        audit.record(s, actor, "relief.step", atena_no=c.atena_no, purpose=PURPOSE,
                     detail={"case_id": c.id, "step": step, "on": on_date.isoformat(),
                             **({"decision": detail.get("decision")} if step == "national_decision" else {})})
        return _case_out(s, c, full=True)


def _required(value, label: str, limit: int) -> str:
    text = clean(str(value or "")).strip()
    if not text:
        raise InvalidInput(f"{label}を入力してください")
    return text[:limit]


def _decide(s: Session, c: ReliefCase, detail: dict, on_date: date) -> dict:
    decision = detail.get("decision")
    if decision not in DECISIONS:
        raise InvalidInput("審査結果（認定・否認）を選択してください")
    out = {"decision": decision, "decision_label": DECISIONS[decision],
           "reference": clean(str(detail.get("reference", "")))[:100], "benefits": []}
    if decision == "denied":
        return out
    r = rules()
    items = detail.get("benefits") or []
    if not items:
        raise InvalidInput("認定された給付を1つ以上入力してください")
    for item in items:
        kind = item.get("kind")
        spec = r["benefits"].get(kind)
        if spec is None or c.vaccine_class not in spec["classes"]:
            raise InvalidInput(f"この接種区分で認定できない給付です: {kind}")
        try:
            amount = int(item.get("amount"))
        except (TypeError, ValueError):
            raise InvalidInput(f"{spec['label']}の金額を円単位の数字で入力してください") from None
        if amount <= 0 or amount > 99_999_999:
            raise InvalidInput(f"{spec['label']}の金額が正しくありません")
        first = _parse_month(item.get("first_month") or _next_month(on_date))
        s.add(ReliefBenefit(case_id=c.id, kind=kind, periodic=bool(spec["periodic"]), amount=amount,
                            first_month=first, end_month=None, ended_reason=""))
        out["benefits"].append({"kind": kind, "label": spec["label"], "amount": amount,
                                "first_month": first.isoformat(), "periodic": bool(spec["periodic"])})
    return out


def _end(s: Session, c: ReliefCase, detail: dict) -> dict:
    try:
        benefit_id = int(detail.get("benefit_id"))
    except (TypeError, ValueError):
        raise InvalidInput("終了する給付を選択してください") from None
    b = s.get(ReliefBenefit, benefit_id)
    if b is None or b.case_id != c.id or not b.periodic:
        raise InvalidInput("終了する年金を選択してください")
    if b.end_month is not None:
        raise Conflict("この給付は既に終了しています")
    last = _parse_month(detail.get("last_month") or "")
    if last < b.first_month:
        raise InvalidInput("最後に支給する月が支給開始の月より前です")
    b.end_month = last
    b.ended_reason = _required(detail.get("reason"), "終了の理由", 200)
    return {"benefit_id": b.id, "kind": b.kind, "last_month": last.isoformat(), "reason": b.ended_reason}


def get_case(db: Database, *, actor: Actor, case_id: int) -> CaseOut:
    with db.transaction() as s:
        c = _load(s, actor, case_id)
        audit.record(s, actor, "relief.case_view", atena_no=c.atena_no, purpose=PURPOSE, detail={"case_id": c.id})
        return _case_out(s, c, full=True)


def list_cases(db: Database, *, actor: Actor) -> list[CaseOut]:
    with db.transaction() as s:
        _require_relief_staff(s, actor)
        q = select(ReliefCase).order_by(ReliefCase.id.desc()).limit(500)
        cond = _visible_case_filter(actor)
        if cond is not None:
            q = q.where(cond)
        rows = [_case_out(s, c, full=False) for c in s.execute(q).scalars()]
        audit.record(s, actor, "relief.case_view", purpose=PURPOSE, detail={"list": len(rows)})
        return rows


# --- payments -----------------------------------------------------------------------------------------

def schedule(b: ReliefBenefit, *, notified_on: date | None, until: date) -> list[tuple[date, int, int]]:
    """(pay month, months covered, amount) for a benefit up to `until` (a month). Pure.

    Lump sums are paid in the month after notification; pensions in each payment month for the months
    since the last payment month, from the first month until the end month (or `until`)."""
    if notified_on is None:
        return []
    if not b.periodic:
        month = max(_next_month(notified_on), b.first_month)
        return [(month, 1, b.amount)] if month <= until else []
    pay_months = set(rules()["pension_payment_months"])
    out, pending, m = [], 0, b.first_month
    last = min(b.end_month or until, until)
    start = max(b.first_month, _month(notified_on))
    while m <= last:
        pending += 1
        if m.month in pay_months or m == b.end_month:
            if m >= start:
                out.append((m, pending, pending * b.amount))
                pending = 0
        m = _next_month(m)
    return out


def month_payments(db: Database, *, actor: Actor, month: str | date) -> list[PaymentOut]:
    """The payment list of a month: every payment due in it (lump sums, pension months), listed once.

    Listing is idempotent: the rows of an earlier listing are kept (a payment is never listed twice)."""
    month = _parse_month(month)
    with db.transaction() as s:
        _require_relief_staff(s, actor)
        q = select(ReliefCase)
        cond = _visible_case_filter(actor)
        if cond is not None:
            q = q.where(cond)
        out: list[PaymentOut] = []
        for c in s.execute(q.order_by(ReliefCase.id)).scalars():
            notified = s.execute(select(ReliefStep.on_date).where(ReliefStep.case_id == c.id,
                                                                  ReliefStep.step == "notified")).scalar()
            for b in s.execute(select(ReliefBenefit).where(ReliefBenefit.case_id == c.id)).scalars():
                due = [x for x in schedule(b, notified_on=notified, until=month) if x[0] == month]
                for pay_month, months, amount in due:
                    row = s.execute(select(ReliefPayment).where(ReliefPayment.benefit_id == b.id,
                                                                ReliefPayment.pay_month == pay_month)).scalar()
                    if row is None:
                        row = ReliefPayment(benefit_id=b.id, pay_month=pay_month, months=months, amount=amount,
                                            status="listed", zengin_sha256="", created_at=utcnow())
                        s.add(row)
                        s.flush()
                    out.append(PaymentOut(id=row.id, case_id=c.id, atena_no=c.atena_no, benefit_id=b.id,
                                          kind_label=benefit_label(b.kind), pay_month=row.pay_month, months=row.months,
                                          amount=row.amount, status=row.status, payee=c.account_holder_kana))
        audit.record(s, actor, "relief.payments", purpose=PURPOSE,
                     detail={"month": month.isoformat(), "payments": len(out), "total": sum(p.amount for p in out),
                             "cases": sorted({p.case_id for p in out})})
        return out


def zengin_for_month(db: Database, *, actor: Actor, month: str | date, transfer_date: date,
                     password: str) -> tuple[bytes, str, int]:
    """The 全銀 総合振込 file of a month's payments, in a password-protected ZIP (it names the payees).

    Returns (zip bytes, file name, transfers). The payments are marked sent with the file's hash."""
    import hashlib

    from sesshu.exports import service as exports
    from sesshu.payments.zengin import Header, Transfer, ZenginFile, write_zengin

    month = _parse_month(month)
    payments = month_payments(db, actor=actor, month=month)
    exports.check_password(password)
    p = rules()["payer"]
    with db.transaction() as s:
        f = ZenginFile(header=Header(requester_code=p["requester_code"], requester_name=p["requester_name"],
                                     transfer_date=transfer_date, bank_code=p["bank_code"], bank_name=p["bank_name"],
                                     branch_code=p["branch_code"], branch_name=p["branch_name"],
                                     account_type=p["account_type"], account_no=p["account_no"]))
        rows = []
        for pay in payments:
            c = s.get(ReliefCase, pay.case_id)
            if not (c.bank_code and c.branch_code and c.account_no and c.account_holder_kana):
                raise InvalidInput(f"救済案件 {c.id} の振込先口座が登録されていません")
            f.transfers.append(Transfer(bank_code=c.bank_code, bank_name=c.bank_name, branch_code=c.branch_code,
                                        branch_name=c.branch_name, account_type=c.account_type, account_no=c.account_no,
                                        payee_name=c.account_holder_kana, amount=pay.amount,
                                        customer_code1=str(c.id), customer_code2=str(pay.id)))
            rows.append(pay.id)
        content = write_zengin(f)
        digest = hashlib.sha256(content).hexdigest()
        for pid in rows:
            row = s.get(ReliefPayment, pid)
            row.status, row.zengin_sha256 = "sent", digest
        name = f"relief_zengin_{month:%Y%m}"
        packed = exports.encrypted_zip(f"{name}.txt", content, password)
        audit.record(s, actor, "relief.payments", purpose=PURPOSE,
                     detail={"month": month.isoformat(), "zengin": True, "transfers": len(rows),
                             "total": f.total, "sha256": digest, "zip_sha256": hashlib.sha256(packed).hexdigest()})
        return packed, f"{name}.zip", len(rows)
