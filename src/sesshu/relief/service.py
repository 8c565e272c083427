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
from sqlalchemy.orm.attributes import flag_modified

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
from sesshu.relief import law
from sesshu.relief.models import ReliefAdjustment, ReliefBenefit, ReliefCase, ReliefPayment, ReliefStep

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
    "withdrawn": "請求の取下げ",
    "closed": "終結",
    "additional_claim": "追加請求",
    "decision_corrected": "決定の訂正（承認済み）",
    "note": "記録",
}
# Which step may follow which. A note may be added any time; an 追加請求 while the claim is still under
# review (it does not change the state); a decision is corrected only through an approval.
NEXT = {
    "claim_received": {"committee", "withdrawn"},
    "committee": {"sent_to_prefecture", "committee", "withdrawn"},
    "sent_to_prefecture": {"national_decision", "withdrawn"},
    "national_decision": {"notified"},
    "notified": {"benefit_ended", "closed"},
    "benefit_ended": {"benefit_ended", "closed"},
    "withdrawn": set(),
    "closed": set(),
}
UNDER_REVIEW = ("claim_received", "committee", "sent_to_prefecture")
FINAL = ("withdrawn", "closed")
STATE_STEPS = set(NEXT)  # steps that become the case's state; note and additional_claim do not
DECISIONS = {"certified": "認定", "denied": "否認"}
# A benefit paid once per event: a second certification of it for the same vaccination is a duplicate.
# 医療費・医療手当 are claimed again for each later period of care, so they are not in this list.
ONCE_ONLY = ("death_lump_sum", "funeral", "survivor_lump_sum", "child_disability_pension", "disability_pension",
             "survivor_pension")


@lru_cache(maxsize=1)
def rules() -> dict:
    return yaml.safe_load(resources.files("sesshu").joinpath("relief/benefits.yaml").read_text(encoding="utf-8"))


def benefit_label(kind: str) -> str:
    return law.label(kind)


def _month(d: date) -> date:
    return d.replace(day=1)


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _parse_month(value: str | date) -> date:
    if isinstance(value, date):
        return _month(value)
    from sesshu.domain.wareki import DateParseError, parse_month

    try:
        y, m = parse_month(str(value or "")).split("-")
        return date(int(y), int(m), 1)
    except DateParseError:
        raise InvalidInput(f"月は 2027-04 または R9.4 の形で指定してください（{value}）") from None


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
    ended_reason: str = ""
    cancelled: bool = False


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
    adjustment: bool = False  # 過誤調整 (a signed difference after a corrected decision)

    @property
    def status_label(self) -> str:
        return PAYMENT_STATUS.get(self.status, "")


PAYMENT_STATUS = {"listed": "支払一覧に掲載", "sent": "振込データ作成済み", "pending": "次の支払一覧で調整"}


@dataclass(frozen=True)
class RecordChoice:
    """A vaccination record the claim can be about, as the claim form lists it."""

    id: int
    vaccinated_on: date
    vaccine_name: str
    category_label: str
    relief_class: str | None
    class_label: str


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
    claimed_labels: list[str] = field(default_factory=list)
    steps: list[StepOut] = field(default_factory=list)
    benefits: list[BenefitOut] = field(default_factory=list)
    payments: list[PaymentOut] = field(default_factory=list)
    person_birth_date: date | None = None
    person_died_on: date | None = None
    record_vaccinated_on: date | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def under_review(self) -> bool:
        return self.status in UNDER_REVIEW


def _vaccine_name(s: Session, code: str) -> str:
    from sesshu.ledger.models import Vaccine

    v = s.get(Vaccine, code)
    return v.name if v else code


def _record_label(s: Session, rec: VaccinationRecord) -> str:
    from sesshu.domain.wareki import to_wareki

    dose = f" {rec.dose_no}回目" if rec.dose_no else ""
    return f"{to_wareki(rec.vaccinated_on)} {_vaccine_name(s, rec.vaccine_code)}{dose}"


def _case_out(s: Session, c: ReliefCase, *, full: bool) -> CaseOut:
    p = s.get(Person, c.atena_no)
    rec = s.get(VaccinationRecord, c.record_id) if c.record_id else None
    claimed = [k for k in c.claimed.split(",") if k]
    out = CaseOut(id=c.id, atena_no=c.atena_no, person_name=p.name if p else "", record_id=c.record_id,
                  record_label=_record_label(s, rec) if rec else "",
                  vaccine_class=c.vaccine_class, class_label=law.class_label(c.vaccine_class),
                  status=c.status, status_label=STEPS.get(c.status, "（不明な状況）"), claimant_name=c.claimant_name,
                  claimant_relation=c.claimant_relation, claimed=claimed, claimed_labels=[law.label(k) for k in claimed],
                  version=c.version, person_birth_date=p.birth_date if p else None,
                  person_died_on=p.died_on if p else None, record_vaccinated_on=rec.vaccinated_on if rec else None)
    if full:
        out.steps = [StepOut(step=r.step, label=STEPS.get(r.step, "（不明な手続）"), on_date=r.on_date,
                             done_by=r.done_by, detail=json.loads(r.detail)) for r in s.execute(
            select(ReliefStep).where(ReliefStep.case_id == c.id).order_by(ReliefStep.on_date, ReliefStep.id)).scalars()]
        benefits = s.execute(select(ReliefBenefit).where(ReliefBenefit.case_id == c.id)
                             .order_by(ReliefBenefit.id)).scalars().all()
        out.benefits = [BenefitOut(id=b.id, kind=b.kind, label=benefit_label(b.kind), periodic=b.periodic,
                                   amount=b.amount, first_month=b.first_month, end_month=b.end_month,
                                   ended_reason=b.ended_reason, cancelled=b.status == "cancelled") for b in benefits]
        labels = {b.id: benefit_label(b.kind) for b in benefits}
        out.payments = [PaymentOut(id=x.id, case_id=c.id, atena_no=c.atena_no, benefit_id=x.benefit_id,
                                   kind_label=labels[x.benefit_id], pay_month=x.pay_month, months=x.months,
                                   amount=x.amount, status=x.status, payee=c.account_holder_kana)
                        for x in s.execute(select(ReliefPayment).where(ReliefPayment.benefit_id.in_(list(labels)))
                                           .order_by(ReliefPayment.pay_month, ReliefPayment.id)).scalars()] if labels else []
        out.payments += [_adjustment_out(c, a, labels) for a in s.execute(
            select(ReliefAdjustment).where(ReliefAdjustment.case_id == c.id).order_by(ReliefAdjustment.id)).scalars()]
    return out


def _adjustment_out(c: ReliefCase, a: ReliefAdjustment, labels: dict[int, str]) -> PaymentOut:
    return PaymentOut(id=a.id, case_id=c.id, atena_no=c.atena_no, benefit_id=a.benefit_id,
                      kind_label=f"過誤調整（{labels.get(a.benefit_id, '')}）", pay_month=a.pay_month or date.min,
                      months=0, amount=a.amount, status=a.status, payee=c.account_holder_kana, adjustment=True)


def _law_person(p: Person) -> law.Person:
    return law.Person(birth_date=p.birth_date, died_on=p.died_on)


def _problems(problems: list[str]) -> None:
    if problems:
        raise InvalidInput("。".join(problems))


# --- the claim ----------------------------------------------------------------------------------------

def claim_records(db: Database, *, actor: Actor, atena_no: str) -> list[RecordChoice]:
    """The person's vaccination records the claim form offers, each with the relief class it gives.
    Reading them is a view of the person's ledger: audited."""
    from sesshu.ledger.reference import CATEGORIES

    atena_no = clean(atena_no or "").replace(" ", "")
    if not (atena_no.isdigit() and len(atena_no) <= 15):
        raise InvalidInput("宛名番号を15桁以内の数字で入力してください")
    with db.transaction() as s:
        _require_relief_staff(s, actor)
        # The same answer for a person outside the actor's 事務 as for a number that does not exist.
        missing = f"宛名番号 {atena_no} の方は登録されていません"
        access.scoped(s, actor).check(atena_no, message=missing)
        if s.get(Person, atena_no) is None:
            raise NotFound(missing)
        rows = s.execute(select(VaccinationRecord).where(VaccinationRecord.atena_no == atena_no,
                                                         VaccinationRecord.status == "active")
                         .order_by(VaccinationRecord.vaccinated_on.desc(), VaccinationRecord.id.desc())).scalars().all()
        out = [RecordChoice(id=r.id, vaccinated_on=r.vaccinated_on,
                            vaccine_name=_vaccine_name(s, r.vaccine_code) + (f" {r.dose_no}回目" if r.dose_no else ""),
                            category_label=CATEGORIES.get(r.category, "未記録") if r.category else "未記録",
                            relief_class=law.class_of_record(r.category),
                            class_label=law.class_label(law.class_of_record(r.category) or "")
                            if law.class_of_record(r.category) else "救済の対象外") for r in rows]
        audit.record(s, actor, "relief.records_view", atena_no=atena_no, purpose=PURPOSE, detail={"records": len(out)})
        return out


def open_case(db: Database, *, actor: Actor, atena_no: str, record_id: int | None,
              claimant_name: str, claimant_relation: str, claimed: list[str], received_on: date,
              documents: list[str], account: dict | None = None) -> CaseOut:
    """請求の受付: the case, its first step (with the documents checklist), and the person's link to the
    relief 事務 — from then on relief staff see this person, and only the persons with a claim.

    The class of the case (A類・臨時・B類) is the 接種区分 of the vaccination record the claim is about:
    it is not typed, because it decides which benefits exist."""
    from sesshu.ledger.reference import CATEGORIES

    r = rules()
    atena_no = clean(atena_no or "").replace(" ", "")
    if record_id is None:
        raise InvalidInput("対象の接種記録を選んでください（救済の区分は接種記録の接種区分で決まります）")
    if any(k not in r["benefits"] for k in claimed):
        raise InvalidInput("請求する給付の指定が正しくありません")
    unknown_docs = [d for d in documents if d not in r["documents"]]
    if unknown_docs:
        raise InvalidInput("添付書類の指定が正しくありません")
    if received_on > today_jst():
        raise InvalidInput("受付日が未来の日付です")
    name = clean(claimant_name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("請求者の氏名を100文字以内で入力してください")
    acct = _account(account or {})
    with db.transaction() as s:
        _require_relief_staff(s, actor)
        # Only for a person the actor's 事務 already reach (a relief-only clerk: the claimants linked so
        # far; a new claimant is received by staff of the vaccination 事務). Outside, the answer is the
        # one for a number that does not exist, so the form tells nothing about who is registered.
        missing = f"宛名番号 {atena_no} の方は登録されていません"
        access.scoped(s, actor).check(atena_no, message=missing)
        person = s.get(Person, atena_no) if atena_no.isdigit() and len(atena_no) <= 15 else None
        if person is None:
            raise NotFound(missing)
        rec = get_row(s, VaccinationRecord, record_id) if record_id is not None else None
        if rec is None or rec.atena_no != atena_no or rec.status != "active":
            raise InvalidInput("対象の接種記録は、この方の記録から選んでください")
        vclass = law.class_of_record(rec.category)
        if vclass is None:
            raise InvalidInput(law.class_refusal(rec.category, CATEGORIES.get(rec.category, "")))
        _problems(law.claim_problems(claimed, vclass, _law_person(person)))
        _refuse_duplicate(s, record_id, claimed)
        access.link_person_in(s, actor, atena_no=atena_no, task_code=TASK)
        c = ReliefCase(atena_no=atena_no, record_id=record_id, vaccine_class=vclass, status="claim_received",
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
                     detail={"case_id": c.id, "class": vclass, "claimed": claimed, "record_id": record_id,
                             "documents_missing": [d for d, ok in checklist.items() if not ok]})
        return _case_out(s, c, full=True)


_ACCOUNT_RULES = {"bank_code": (4, "銀行コード"), "branch_code": (3, "支店コード"), "account_no": (7, "口座番号")}


def _account(raw: dict) -> dict:
    """The payee account as typed (full-width digits accepted); the codes must be digits of their length."""
    acct = {k: clean(str(v or "")).strip() for k, v in raw.items()}
    problems = []
    for key, (size, label) in _ACCOUNT_RULES.items():
        value = acct.get(key, "").replace(" ", "").replace("-", "")
        if value and key == "account_no" and value.isdigit() and len(value) < size:
            value = value.zfill(size)  # 口座番号 is right-aligned with zeros in 全銀
        if value and not (value.isascii() and value.isdigit() and len(value) == size):
            problems.append(f"{label}は{size}桁の数字で入力してください")
        acct[key] = value
    if acct.get("account_type", "1") not in ("1", "2", ""):
        problems.append("預金種目を選択してください")
    _problems(problems)
    return acct


def _refuse_duplicate(s: Session, record_id: int, claimed: list[str], *, except_case: int | None = None) -> None:
    """The same vaccination claimed twice: while a case is under review the claim is added to it (追加請求);
    after its decision, a benefit paid once (a pension, a death benefit) is not certified a second time."""
    q = select(ReliefCase).where(ReliefCase.record_id == record_id, ReliefCase.status.not_in(FINAL))
    for other in s.execute(q.order_by(ReliefCase.id)).scalars():
        if other.id == except_case:
            continue
        if other.status in UNDER_REVIEW:
            raise Conflict(f"この接種についての請求は、案件 {other.id} で審査中です。給付を加える場合は、"
                           f"案件 {other.id} の画面で「追加請求」を記録してください")
        held = set(s.execute(select(ReliefBenefit.kind).where(ReliefBenefit.case_id == other.id,
                                                              ReliefBenefit.status == "active")).scalars())
        twice = [k for k in claimed if k in held and k in ONCE_ONLY]
        if twice:
            raise Conflict(f"この接種について、案件 {other.id} で既に認定されている給付です: "
                           + "、".join(law.label(k) for k in twice))


def add_step(db: Database, *, actor: Actor, case_id: int, expected_version: int, step: str, on_date: date,
             detail: dict | None = None) -> CaseOut:
    """One step of the case, with its date and who did it. A decision creates the benefits."""
    if step not in STEPS or step in ("claim_received", "decision_corrected"):
        raise InvalidInput("手続の種類が正しくありません")
    if on_date > today_jst():
        raise InvalidInput("日付が未来です")
    detail = dict(detail or {})
    with db.transaction() as s:
        c = _load(s, actor, case_id, lock=True)
        if c.version != expected_version:
            raise Conflict("他の職員がこの案件を先に更新しました。画面を開き直してください")
        if c.status in FINAL and step != "note":
            raise Conflict(f"この案件は「{STEPS[c.status]}」です。手続は記録できません（メモのみ）")
        if step == "additional_claim":
            if c.status not in UNDER_REVIEW:
                raise Conflict("追加請求は、国の審査結果が出る前の案件にだけ記録できます。"
                               "審査結果の後の請求は、新しい請求として受け付けてください")
        elif step != "note" and step not in NEXT.get(c.status, set()):
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
        elif step == "additional_claim":
            detail = _additional_claim(s, c, detail)
        elif step in ("withdrawn", "closed"):
            if step == "closed":
                running = [law.label(b.kind) for b in s.execute(select(ReliefBenefit).where(
                    ReliefBenefit.case_id == c.id, ReliefBenefit.status == "active", ReliefBenefit.periodic,
                    ReliefBenefit.end_month.is_(None) | (ReliefBenefit.end_month >= _month(on_date)))).scalars()]
                if running:
                    raise Conflict("支給中の年金があるため終結できません。先に「給付の終了」を記録してください: "
                                   + "、".join(running))
            detail = {"reason": _required(detail.get("reason") or detail.get("note"),
                                          "取下げの理由" if step == "withdrawn" else "終結の理由", 200)}
        else:
            detail = {"note": clean(str(detail.get("note", ""))).strip()[:2000]}
        s.add(ReliefStep(case_id=c.id, step=step, on_date=on_date, done_by=actor.label,
                         detail=json.dumps(detail, ensure_ascii=False, default=str), created_at=utcnow()))
        if step in STATE_STEPS:
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


def _additional_claim(s: Session, c: ReliefCase, detail: dict) -> dict:
    claimed = [k for k in c.claimed.split(",") if k]
    added = [k for k in (detail.get("benefits") or []) if k not in claimed]
    if not added:
        raise InvalidInput("追加で請求する給付を選択してください（既に請求されている給付は選べません）")
    person = s.get(Person, c.atena_no)
    _problems(law.claim_problems(added, c.vaccine_class, _law_person(person)))
    _refuse_duplicate(s, c.record_id, added, except_case=c.id) if c.record_id else None
    c.claimed = ",".join(claimed + added)
    return {"claimed": added, "labels": [law.label(k) for k in added],
            "note": clean(str(detail.get("note", ""))).strip()[:2000]}


def _decide(s: Session, c: ReliefCase, detail: dict, on_date: date) -> dict:
    decision = detail.get("decision")
    if decision not in DECISIONS:
        raise InvalidInput("審査結果（認定・否認）を選択してください")
    out = {"decision": decision, "decision_label": DECISIONS[decision],
           "reference": clean(str(detail.get("reference", "")))[:100], "benefits": []}
    items = detail.get("benefits") or []
    if decision == "denied":
        if items:
            raise InvalidInput("否認の場合は給付の金額を入力しないでください")
        return out
    r = rules()
    if not items:
        raise InvalidInput("認定された給付を1つ以上入力してください")
    person = s.get(Person, c.atena_no)
    claimed = [k for k in c.claimed.split(",") if k]
    vaccinated_on = _vaccinated_on(s, c)
    problems, rows, months = [], [], set()
    for item in items:
        kind = item.get("kind")
        spec = r["benefits"].get(kind)
        if spec is None:
            problems.append("給付の種類が正しくありません")
            continue
        care = None
        try:
            amount = parse_amount(item.get("amount"), spec["label"])
            if kind == law.ALLOWANCE:
                if not item.get("first_month"):
                    raise InvalidInput(f"{spec['label']}の対象の月（通院・入院した月）を入力してください")
                care = parse_care(item)
            first = _parse_month(item.get("first_month") or _next_month(on_date))
        except InvalidInput as e:
            problems.append(e.message)
            continue
        if kind == law.ALLOWANCE:
            if first in months:
                problems.append(f"{spec['label']}の{first.year}年{first.month}月分が二つあります")
            months.add(first)
            problems += _allowance_paid_before(s, c, first)
        problems += law.benefit_problems(kind, amount, first, vclass=c.vaccine_class, claimed=claimed,
                                         person=_law_person(person), care=care, vaccinated_on=vaccinated_on,
                                         decided_on=on_date)
        rows.append((kind, spec, amount, first, care))
    _problems(problems)
    for kind, spec, amount, first, care in rows:
        end, reason = None, ""
        if kind == law.CHILD_PENSION:
            end, reason = law.child_pension_end(_law_person(person)), "18歳に達する月まで（障害年金は改めて請求）"
        elif kind == "survivor_pension":
            paid = _disability_months(s, c)
            end = law.survivor_pension_end(first, paid)
            reason = ("10年を限度（予防接種法施行令 第24条）" if not paid else
                      f"10年から障害年金を受けた期間（{min(paid, law.SURVIVOR_PENSION_CREDIT_MAX)}か月）を控除した期間を限度"
                      "（予防接種法施行令 第24条）")
        b = ReliefBenefit(case_id=c.id, kind=kind, periodic=bool(spec["periodic"]), amount=amount,
                          first_month=first, end_month=end, ended_reason=reason, status="active")
        s.add(b)
        s.flush()
        entry = {"benefit_id": b.id, "kind": kind, "label": spec["label"], "amount": amount,
                 "first_month": first.isoformat(), "periodic": bool(spec["periodic"]),
                 "basis": law.maximum(kind, c.vaccine_class, law.amount_date(kind, first, _law_person(person)))[1]}
        if care is not None:
            entry.update(outpatient_days=care.outpatient, inpatient_days=care.inpatient)
        out["benefits"].append(entry)
    return out


def _disability_months(s: Session, c: ReliefCase) -> int:
    """Months of 障害年金 certified for the same vaccination (any case), up to the month of death."""
    person = s.get(Person, c.atena_no)
    q = (select(ReliefBenefit).join(ReliefCase, ReliefCase.id == ReliefBenefit.case_id)
         .where(ReliefBenefit.kind == law.ADULT_PENSION, ReliefBenefit.status == "active",
                (ReliefCase.record_id == c.record_id) if c.record_id else (ReliefCase.id == c.id)))
    total = 0
    for b in s.execute(q).scalars():
        last = b.end_month or (person.died_on.replace(day=1) if person and person.died_on else today_jst().replace(day=1))
        if person and person.died_on:
            last = min(last, person.died_on.replace(day=1))
        total += max(0, (last.year - b.first_month.year) * 12 + last.month - b.first_month.month + 1)
    return total


def _vaccinated_on(s: Session, c: ReliefCase) -> date | None:
    rec = s.get(VaccinationRecord, c.record_id) if c.record_id else None
    return rec.vaccinated_on if rec else None


def _allowance_paid_before(s: Session, c: ReliefCase, month: date, *, except_benefit: int | None = None) -> list[str]:
    """A month of 医療手当 is paid once for the vaccination, whichever case certified it."""
    q = (select(ReliefBenefit.case_id).join(ReliefCase, ReliefCase.id == ReliefBenefit.case_id)
         .where(ReliefBenefit.kind == law.ALLOWANCE, ReliefBenefit.status == "active",
                ReliefBenefit.first_month == month,
                (ReliefCase.record_id == c.record_id) if c.record_id else (ReliefCase.id == c.id)))
    if except_benefit is not None:
        q = q.where(ReliefBenefit.id != except_benefit)
    other = s.execute(q.limit(1)).scalar()
    if other is None:
        return []
    return [f"{law.label(law.ALLOWANCE)}の{month.year}年{month.month}月分は、案件 {other} で既に認定されています"]


def parse_care(raw: dict) -> law.CareDays:
    """The days of 通院 and 入院 of a 医療手当 month as typed (full-width digits accepted)."""
    values = []
    for key, label in (("outpatient_days", "通院日数"), ("inpatient_days", "入院日数")):
        text = clean(str(raw.get(key) if raw.get(key) is not None else "")).replace(" ", "").removesuffix("日")
        if text and not (text.isascii() and text.isdigit() and len(text) <= 2):
            raise InvalidInput(f"医療手当の{label}を0〜31の数字で入力してください")
        values.append(int(text) if text else None)
    if values == [None, None]:
        raise InvalidInput("医療手当の通院日数・入院日数を入力してください（その月の日数で額が決まります。"
                           "ない方は0）")
    return law.CareDays(outpatient=values[0] or 0, inpatient=values[1] or 0)


def parse_amount(value, label: str) -> int:
    """An amount in yen as typed: full-width digits, commas and a trailing 円 are accepted."""
    text = clean(str(value if value is not None else "")).replace(",", "").replace(" ", "").removesuffix("円")
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise InvalidInput(f"{label}の金額を円単位の数字で入力してください")
    amount = int(text)
    if amount <= 0:
        raise InvalidInput(f"{label}の金額を1円以上で入力してください")
    return amount


def _end(s: Session, c: ReliefCase, detail: dict) -> dict:
    try:
        benefit_id = int(detail.get("benefit_id"))
    except (TypeError, ValueError):
        raise InvalidInput("終了する給付を選択してください") from None
    b = s.get(ReliefBenefit, benefit_id)
    if b is None or b.case_id != c.id or not b.periodic or b.status != "active":
        raise InvalidInput("終了する年金を選択してください")
    last = _parse_month(detail.get("last_month") or "")
    if b.end_month is not None and last >= b.end_month:
        raise Conflict(f"この年金は既に {b.end_month:%Y-%m} までの支給です（{b.ended_reason}）")
    if last < b.first_month:
        raise InvalidInput("最後に支給する月が支給開始の月より前です")
    b.end_month = last
    b.ended_reason = _required(detail.get("reason"), "終了の理由", 200)
    return {"benefit_id": b.id, "kind": b.kind, "label": law.label(b.kind), "last_month": last.isoformat(),
            "reason": b.ended_reason}


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


# --- correcting a recorded decision (four eyes: sesshu.approvals kind relief_decision_correction) ---------

def validate_correction(s: Session, actor: Actor, raw: dict) -> dict:
    """A correction of one certified benefit: its new amount (and first month), or its cancellation.
    Checked against the law as a decision is; the payload says what was paid so far."""
    try:
        case_id, benefit_id = int(raw.get("case_id")), int(raw.get("benefit_id"))
    except (TypeError, ValueError):
        raise InvalidInput("訂正する給付を選択してください") from None
    c = _load(s, actor, case_id)
    b = s.get(ReliefBenefit, benefit_id)
    if b is None or b.case_id != c.id or b.status != "active":
        raise InvalidInput("訂正する給付を選択してください")
    cancel = str(raw.get("cancel", "")) in ("1", "true", "on", "True")
    person = s.get(Person, c.atena_no)
    care = None
    if cancel:
        amount, first = 0, b.first_month
    else:
        amount = parse_amount(raw.get("amount"), law.label(b.kind))
        first = _parse_month(raw.get("first_month") or b.first_month)
        claimed = [k for k in c.claimed.split(",") if k]
        if b.kind == law.ALLOWANCE:
            typed = raw.get("outpatient_days") or raw.get("inpatient_days")
            care = parse_care(raw) if typed else _recorded_care(s, c, b)
            _problems(_allowance_paid_before(s, c, first, except_benefit=b.id) if first != b.first_month else [])
        _problems(law.benefit_problems(b.kind, amount, first, vclass=c.vaccine_class, claimed=claimed,
                                       person=_law_person(person), care=care, vaccinated_on=_vaccinated_on(s, c),
                                       decided_on=today_jst()))
        if amount == b.amount and first == b.first_month and (care is None or care == _recorded_care(s, c, b, quiet=True)):
            raise InvalidInput("金額も支給開始の月も、記録されている決定と同じです")
    paid = sum(x.amount for x in s.execute(select(ReliefPayment).where(
        ReliefPayment.benefit_id == b.id, ReliefPayment.status == "sent")).scalars())
    out = {"case_id": c.id, "atena_no": c.atena_no, "person_name": person.name, "benefit_id": b.id, "kind": b.kind,
           "label": law.label(b.kind), "periodic": b.periodic, "old_amount": b.amount,
           "old_first_month": b.first_month.isoformat(), "amount": amount, "first_month": first.isoformat(),
           "cancel": cancel, "paid": paid, "case_version": c.version}
    if care is not None:
        out.update(outpatient_days=care.outpatient, inpatient_days=care.inpatient)
    return out


def _recorded_care(s: Session, c: ReliefCase, b: ReliefBenefit, *, quiet: bool = False) -> law.CareDays | None:
    """The days of care recorded for a 医療手当 (its decision, or its last correction)."""
    found = None
    for row in s.execute(select(ReliefStep).where(ReliefStep.case_id == c.id,
                                                  ReliefStep.step.in_(("national_decision", "decision_corrected")))
                         .order_by(ReliefStep.id)).scalars():
        detail = json.loads(row.detail)
        entries = detail.get("benefits", []) if row.step == "national_decision" else [detail]
        for e in entries:
            if e.get("benefit_id") == b.id and "outpatient_days" in e:
                found = law.CareDays(outpatient=int(e["outpatient_days"]), inpatient=int(e["inpatient_days"]))
    if found is None and not quiet:
        raise InvalidInput("この医療手当の通院日数・入院日数が記録にありません。訂正後の通院日数・入院日数を入力してください")
    return found


def correction_summary(p: dict) -> str:
    what = "取消" if p["cancel"] else f"{p['old_amount']:,}円 → {p['amount']:,}円"
    return f"救済案件 {p['case_id']} の決定の訂正: {p['label']} {what}"


def _ym(iso: str) -> str:
    return f"{int(iso[:4])}年{int(iso[5:7])}月"


def correction_details(p: dict) -> list[tuple[str, str]]:
    unit = "（月額）" if p["periodic"] else ""
    rows = [("救済案件", f"案件 {p['case_id']}（{p['person_name']}・宛名番号 {p['atena_no']}）"),
            ("給付", p["label"]),
            ("記録されている決定", f"{p['old_amount']:,}円{unit}・{_ym(p['old_first_month'])}から")]
    rows.append(("訂正後", "この給付を取り消す" if p["cancel"]
                 else f"{p['amount']:,}円{unit}・{_ym(p['first_month'])}から"))
    if "outpatient_days" in p:
        rows.append(("医療手当の対象の月と日数", f"{_ym(p['first_month'])}・通院{p['outpatient_days']}日・"
                                               f"入院{p['inpatient_days']}日"))
    rows.append(("これまでに振り込んだ額", f"{p['paid']:,}円（差額は次の支払一覧で過誤調整します）"))
    return rows


def apply_correction(s: Session, p: dict, actor: Actor, *, approval_id: int | None, reason: str) -> str:
    """Carry out an approved correction: the benefit changes, payments listed but not yet sent follow
    the new decision, and what was already sent is set right by a 過誤調整 row in the next list."""
    c = _load(s, actor, p["case_id"], lock=True)
    if c.version != p["case_version"]:
        raise Conflict("申請後に案件が更新されました。案件を確認して申請し直してください")
    b = s.get(ReliefBenefit, p["benefit_id"])
    if b is None or b.status != "active" or b.amount != p["old_amount"]:
        raise Conflict("申請後に給付が変わりました。案件を確認して申請し直してください")
    if p["cancel"]:
        b.status = "cancelled"
        b.ended_reason = f"決定の訂正により取消: {reason}"[:200]
    else:
        b.amount, b.first_month = p["amount"], date.fromisoformat(p["first_month"])
        if b.kind == "survivor_pension" and "第24条" in b.ended_reason:  # the ten years run from the new first month
            b.end_month = law.survivor_pension_end(b.first_month, _disability_months(s, c))
    difference = 0
    for x in s.execute(select(ReliefPayment).where(ReliefPayment.benefit_id == b.id)).scalars().all():
        should = 0 if p["cancel"] or x.pay_month < b.first_month else x.months * b.amount if b.periodic else b.amount
        if x.status == "sent":
            difference += should - x.amount
        elif should:
            x.amount = should
        else:
            s.delete(x)
    if difference:
        s.add(ReliefAdjustment(case_id=c.id, benefit_id=b.id, amount=difference, reason=reason[:400],
                               approval_id=approval_id, pay_month=None, status="pending", zengin_sha256="",
                               created_at=utcnow()))
    s.add(ReliefStep(case_id=c.id, step="decision_corrected", on_date=today_jst(), done_by=actor.label,
                     detail=json.dumps({"benefit_id": b.id, "label": law.label(b.kind), "cancel": p["cancel"],
                                        "old_amount": p["old_amount"], "amount": p["amount"],
                                        "first_month": p["first_month"], "adjustment": difference,
                                        "approval_id": approval_id, "reason": reason,
                                        **{k: p[k] for k in ("outpatient_days", "inpatient_days") if k in p}},
                                       ensure_ascii=False),
                     created_at=utcnow()))
    flag_modified(c, "status")  # the case's version moves: a page opened before cannot record over this
    s.flush()
    audit.record(s, actor, "relief.correct", atena_no=c.atena_no, purpose=PURPOSE,
                 detail={"case_id": c.id, "benefit_id": b.id, "cancel": p["cancel"], "old_amount": p["old_amount"],
                         "amount": p["amount"], "adjustment": difference, "approval_id": approval_id})
    return str(c.id)


# --- payments -----------------------------------------------------------------------------------------

def schedule(b: ReliefBenefit, *, notified_on: date | None, until: date) -> list[tuple[date, int, int]]:
    """(pay month, months covered, amount) for a benefit up to `until` (a month). Pure.

    Lump sums are paid in the month after notification; pensions in each payment month for the months
    since the last payment month, from the first month until the end month (or `until`)."""
    if notified_on is None or b.status == "cancelled":
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
    """The payment list of a month: every payment due in it (lump sums, pension months), listed once,
    and the 過誤調整 of corrected decisions not yet listed.

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
            labels = {}
            for b in s.execute(select(ReliefBenefit).where(ReliefBenefit.case_id == c.id)).scalars():
                labels[b.id] = benefit_label(b.kind)
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
            for a in s.execute(select(ReliefAdjustment).where(
                    ReliefAdjustment.case_id == c.id,
                    (ReliefAdjustment.pay_month == month) | ReliefAdjustment.pay_month.is_(None))
                    .order_by(ReliefAdjustment.id)).scalars():
                if a.pay_month is None:
                    if _month(a.created_at.date()) > month:
                        continue  # made after this month: it goes into a later list
                    a.pay_month, a.status = month, "listed"
                    s.flush()
                out.append(_adjustment_out(c, a, labels))
        audit.record(s, actor, "relief.payments", purpose=PURPOSE,
                     detail={"month": month.isoformat(), "payments": len(out), "total": sum(p.amount for p in out),
                             "cases": sorted({p.case_id for p in out})})
        return out


@dataclass(frozen=True)
class CaseTotal:
    """One case's net for a month: its payments plus its 過誤調整. A net at or below zero is not transferred:
    a negative net is to be claimed back from the payee (返納)."""

    case_id: int
    atena_no: str
    payee: str
    net: int


def case_totals(rows: list[PaymentOut]) -> list[CaseTotal]:
    nets: dict[int, CaseTotal] = {}
    for p in rows:
        prev = nets.get(p.case_id)
        nets[p.case_id] = CaseTotal(case_id=p.case_id, atena_no=p.atena_no, payee=p.payee,
                                    net=(prev.net if prev else 0) + p.amount)
    return list(nets.values())


def zengin_for_month(db: Database, *, actor: Actor, month: str | date, transfer_date: date,
                     password: str, purpose: str = "") -> tuple[bytes, str, int]:
    """The 全銀 総合振込 file of a month's payments, in a password-protected ZIP (it names the payees).

    One transfer per case: its payments net of its 過誤調整. A case whose net is zero or negative gets no
    transfer (a negative net is claimed back: 返納). Returns (zip bytes, file name, transfers). The
    payments and adjustments are marked sent with the file's hash; the export is audited with its purpose.
    Staff need the export permission (person.export) as for any file with personal data."""
    import hashlib

    from sesshu.exports import service as exports
    from sesshu.payments.zengin import Header, Transfer, ZenginFile, write_zengin

    month = _parse_month(month)
    purpose = exports.check_purpose(purpose or PURPOSE)
    exports.check_password(password)
    exports.require_export_permission(actor)
    if actor.kind == "user" and transfer_date < today_jst():
        raise InvalidInput("振込指定日が過去の日付です")
    payments = month_payments(db, actor=actor, month=month)
    p = rules()["payer"]
    with db.transaction() as s:
        f = ZenginFile(header=Header(requester_code=p["requester_code"], requester_name=p["requester_name"],
                                     transfer_date=transfer_date, bank_code=p["bank_code"], bank_name=p["bank_name"],
                                     branch_code=p["branch_code"], branch_name=p["branch_name"],
                                     account_type=p["account_type"], account_no=p["account_no"]))
        refunds = {}
        for t in case_totals(payments):
            c = s.get(ReliefCase, t.case_id)
            if t.net <= 0:
                refunds[c.id] = -t.net
                continue
            if not (c.bank_code and c.branch_code and c.account_no and c.account_holder_kana):
                raise InvalidInput(f"救済案件 {c.id} の振込先口座が登録されていません")
            ids = [x.id for x in payments if x.case_id == c.id and not x.adjustment]
            f.transfers.append(Transfer(bank_code=c.bank_code, bank_name=c.bank_name, branch_code=c.branch_code,
                                        branch_name=c.branch_name, account_type=c.account_type, account_no=c.account_no,
                                        payee_name=c.account_holder_kana, amount=t.net,
                                        customer_code1=str(c.id), customer_code2=str(ids[0]) if ids else f"{month:%Y%m}"))
        content = write_zengin(f)
        digest = hashlib.sha256(content).hexdigest()
        for pay in payments:
            row = s.get(ReliefAdjustment if pay.adjustment else ReliefPayment, pay.id)
            row.status, row.zengin_sha256 = "sent", digest
        name = f"relief_zengin_{month:%Y%m}"
        packed = exports.encrypted_zip(f"{name}.txt", content, password)
        audit.record(s, actor, "relief.zengin", purpose=purpose,
                     detail={"month": month.isoformat(), "zengin": True, "transfers": len(f.transfers),
                             "total": f.total, "sha256": digest, "zip_sha256": hashlib.sha256(packed).hexdigest(),
                             "format": exports.ZIP_FORMAT, "refund_due": refunds})
        return packed, f"{name}.zip", len(f.transfers)
