"""Use cases of uploaded rule files: check (validate + preview, changes nothing), propose (an approval
request of kind `rule_set_activate`), activate (the approval's apply: a second supervisor) and list.

After an activation the persons with records of the vaccines the file judges are queued for the
schedule engine (ledger evaluation queue; `sesshu record evaluate` works through it, kill-safe).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.approvals.models import ApprovalRequest
from sesshu.audit import service as audit
from sesshu.clock import today_jst, utcnow
from sesshu.config import Settings
from sesshu.conditions.codes import catalog, with_campaign_groups
from sesshu.conditions.models import PersonCondition
from sesshu.db import Database
from sesshu.domain.errors import Conflict, InvalidInput, NotFound
from sesshu.domain.schedule.book import is_tokutei
from sesshu.domain.schedule.rules import RULES_DIR, RuleSet
from sesshu.domain.schedule.upload import CheckedUpload, Problem, UploadInvalid, check_upload, line_of
from sesshu.ledger.evaluation import VerdictChange, queue_persons, verdict_changes
from sesshu.ledger.models import VaccinationRecord, Vaccine
from sesshu.registry.models import Person
from sesshu.rulesets.active import active_uploads
from sesshu.rulesets.models import STATUSES, RuleSetVersion

APPROVAL_KIND = "rule_set_activate"
PURPOSE = "接種ルールの改正・特措法接種の実施計画の確認"
MAX_FILE = 512 * 1024
SAMPLES = 5
_BATCH = 2000


class RuleFileInvalid(InvalidInput):
    """The file does not validate; ``problems`` name the line and field of each."""

    code = "E_RULE_FILE_INVALID"

    def __init__(self, error: UploadInvalid):
        super().__init__("ルールファイルに誤りがあります。何も変更していません。\n" + str(error))
        self.problems = error.problems


@dataclass
class LineCount:
    line: str
    name: str
    residents: int  # residents for whom the line is open on the preview date


@dataclass
class GroupCount:
    group_id: str
    name: str
    residents: int  # residents holding the group on the preview date (person conditions)


@dataclass
class Preview:
    checked: CheckedUpload
    as_of: date
    groups: list[GroupCount]
    lines: list[LineCount]
    persons_judged: int  # persons with records of the file's vaccines
    changed: int  # stored verdicts that would change
    changed_by_kind: dict[str, int] = field(default_factory=dict)
    examples: list[VerdictChange] = field(default_factory=list)

    def as_dict(self) -> dict:
        c = self.checked
        u = c.upload
        return {"kind": u.kind, "name": u.name, "version": u.version, "effective_from": u.effective_from.isoformat(),
                "sha256": u.sha256, "title": c.title, "vaccine_codes": list(c.vaccine_codes),
                "group_ids": list(c.group_ids), "preview_date": self.as_of.isoformat(),
                "groups": [{"id": g.group_id, "name": g.name, "residents": g.residents} for g in self.groups],
                "lines": [{"line": x.line, "name": x.name, "residents": x.residents} for x in self.lines],
                "persons_judged": self.persons_judged, "verdicts_changed": self.changed,
                "examples": [{"record_id": e.record_id, "atena_no": e.atena_no, "vaccine": e.vaccine_code,
                              "vaccinated_on": e.vaccinated_on.isoformat(), "before": e.before or "（正常）",
                              "after": e.after.error_code or "（正常）", "after_status": e.after.status,
                              "rules": e.after.rules} for e in self.examples]}


def _text(raw: bytes | str) -> str:
    if isinstance(raw, bytes):
        if len(raw) > MAX_FILE:
            raise InvalidInput(f"ルールファイルは {MAX_FILE // 1024} KB 以内です")
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput("ルールファイルは UTF-8 で保存してください") from None
    if not raw.strip():
        raise InvalidInput("ルールファイルが空です")
    return raw


def _check(s: Session, text: str, upload_id: int = 0) -> CheckedUpload:
    active = [u for u in active_uploads(s) if u.id != upload_id]
    try:
        checked = check_upload(text, active, upload_id=upload_id)
    except UploadInvalid as e:
        raise RuleFileInvalid(e) from e
    try:  # a priority group is recorded as a person condition, on evidence the conditions catalog knows
        with_campaign_groups(catalog(), checked.book.groups)
    except ValueError:
        known = ", ".join(catalog().evidence)
        raise RuleFileInvalid(UploadInvalid([Problem(line_of(text, "priority_groups"), "priority_groups",
                                                     f"evidence に書ける確認書類は {known} です")])) from None
    return checked


def _judged_vaccines(checked: CheckedUpload) -> set[str]:
    """The vaccine codes whose verdicts the file may change."""
    u, book = checked.upload, checked.book
    rules = book.at(u.effective_from)
    if u.kind == "settings":
        return {v for s in rules.series if s.id in checked.vaccine_codes for v in s.vaccines}
    codes = set(checked.vaccine_codes)
    if u.kind == "amendment":
        codes |= {v.code for v in rules.vaccines.values() if v.file == u.file}
        codes |= _shipped_codes(u.name)
    # The series these codes count in may count other codes too (MR counts MEASLES, RUBELLA).
    return {v for s in rules.series if codes & set(s.vaccines) for v in s.vaccines} | codes


def _shipped_codes(name: str) -> set[str]:
    import yaml

    doc = yaml.safe_load((RULES_DIR / name).read_text(encoding="utf-8"))
    return set(doc.get("vaccines") or ()) | {v for s in doc.get("series") or () for v in s.get("vaccines") or ()}


def _scoped(q, scope: access.Scope, column):
    where = access.person_filter(scope, column)
    return q if where is None else q.where(where)


def _persons_with(s: Session, scope: access.Scope, codes: set[str]) -> list[str]:
    if not codes:
        return []
    q = (select(VaccinationRecord.atena_no).where(VaccinationRecord.vaccine_code.in_(sorted(codes)),
                                                  VaccinationRecord.status == "active").distinct())
    return sorted(s.execute(_scoped(q, scope, VaccinationRecord.atena_no)).scalars())


def _group_counts(s: Session, scope: access.Scope, checked: CheckedUpload, on: date) -> list[GroupCount]:
    if not checked.groups:
        return []
    C = PersonCondition
    q = (select(C.condition_code, func.count(func.distinct(C.atena_no)))
         .join(Person, Person.atena_no == C.atena_no)
         .where(C.condition_code.in_(list(checked.groups)), Person.registry_status == "resident",
                C.status == "active", C.valid_from.is_(None) | (C.valid_from <= on),
                C.valid_until.is_(None) | (C.valid_until >= on))
         .group_by(C.condition_code))
    counts = dict(s.execute(_scoped(q, scope, C.atena_no)).all())
    return [GroupCount(g, name, counts.get(g, 0)) for g, name in checked.groups.items()]


def _line_counts(s: Session, checked: CheckedUpload, on: date) -> list[LineCount]:
    from sesshu.ledger.targets import collect_with_book

    rules: RuleSet = checked.book.at(on)
    codes = set(checked.vaccine_codes)
    out = []
    for e in rules.entries:
        if e.vaccines & codes or e.code in codes:
            out.append(LineCount(e.code, e.series[0].name, len(collect_with_book(s, checked.book, e.code, on))))
    return out


def _changes(s: Session, scope: access.Scope, checked: CheckedUpload,
             today: date) -> tuple[list[str], list[VerdictChange]]:
    """The persons the file would judge again, and their stored verdicts it would change."""
    persons = _persons_with(s, scope, _judged_vaccines(checked))
    changes: list[VerdictChange] = []
    for i in range(0, len(persons), _BATCH):
        changes += verdict_changes(s, persons[i:i + _BATCH], today, checked.book)
    return persons, changes


def _change_kinds(changes: list[VerdictChange]) -> dict[str, int]:
    return dict(Counter(f"{c.before or '正常'} → {c.after.error_code or '正常'}" for c in changes).most_common(10))


def preview(db: Database, *, actor: Actor, raw: bytes | str, as_of: date | None = None) -> Preview:
    """Validate and preview a rule file; changes nothing (the look at persons' verdicts is audited)."""
    text = _text(raw)
    today = today_jst()
    with db.transaction() as s:
        scope = access.require_some_task(s, actor)
        try:
            checked = _check(s, text)
        except RuleFileInvalid as e:
            audit.record(s, actor, "rule_set.check_failed", purpose=PURPOSE, detail={"problems": len(e.problems)})
            raise
        u = checked.upload
        on = as_of or u.effective_from
        groups = _group_counts(s, scope, checked, on)
        lines = _line_counts(s, checked, on) if u.kind == "campaign" else []
        persons, changes = _changes(s, scope, checked, today)
        kinds = _change_kinds(changes)
        examples = changes[:SAMPLES]
        audit.record(s, actor, "rule_set.check", purpose=PURPOSE,
                     detail={"kind": u.kind, "name": u.name, "version": u.version, "sha256": u.sha256,
                             "persons_judged": len(persons), "verdicts_changed": len(changes),
                             "examples": [e.atena_no for e in examples]})
        return Preview(checked=checked, as_of=on, groups=groups, lines=lines, persons_judged=len(persons),
                       changed=len(changes), changed_by_kind=kinds, examples=examples)


def propose(db: Database, settings: Settings, *, actor: Actor, raw: bytes | str, reason: str) -> RuleSetVersion:
    """Store the file as a proposed version and ask a second supervisor to activate it."""
    from sesshu.approvals.service import request_approval

    text = _text(raw)
    with db.transaction() as s:
        checked = _check(s, text)
    req = request_approval(db, settings, actor=actor, kind=APPROVAL_KIND, raw={"text": text}, reason=reason)
    u = checked.upload
    with db.transaction() as s:
        row = _proposed_row(s, checked, actor=actor, reason=reason, approval_id=req.id)
        audit.record(s, actor, "rule_set.propose", purpose=PURPOSE,
                     detail={"rule_set_id": row.id, "approval_id": req.id, "kind": u.kind, "name": u.name,
                             "version": u.version, "effective_from": u.effective_from, "sha256": u.sha256})
        s.flush()
        s.expunge(row)
        return row


def _proposed_row(s: Session, checked: CheckedUpload, *, actor: Actor | None, reason: str,
                  approval_id: int) -> RuleSetVersion:
    row = s.execute(select(RuleSetVersion).where(RuleSetVersion.approval_id == approval_id)).scalar_one_or_none()
    if row is not None:
        return row
    u = checked.upload
    row = RuleSetVersion(kind=u.kind, name=u.name, version=u.version, effective_from=u.effective_from,
                         status="proposed", title=checked.title, vaccine_codes=",".join(checked.vaccine_codes),
                         group_ids=",".join(checked.group_ids), yaml_text=u.text, sha256=u.sha256,
                         reason=reason[:400], proposed_by=actor.label if actor else "", proposed_at=utcnow(),
                         approval_id=approval_id)
    s.add(row)
    s.flush()
    return row


# --- the approval kind (registered in sesshu.approvals.kinds) ----------------------------------------

def validate_request(s: Session, raw: dict, ctx) -> dict:
    """The payload the approver reads: the file, what it is, and its effect on the day of the request
    (counts only: no person is named in a request)."""
    text = _text(str(raw.get("text", "")))
    checked = _check(s, text)
    u = checked.upload
    persons, changes = _changes(s, access.scope_of(s, ctx.actor), checked, ctx.today)
    return {"text": text, "kind": u.kind, "name": u.name, "version": u.version,
            "effective_from": u.effective_from.isoformat(), "sha256": u.sha256,
            "persons_judged": len(persons), "verdicts_changed": len(changes),
            "changed_by_kind": _change_kinds(changes)}


def summary(p: dict) -> str:
    from sesshu.domain.schedule.book import KINDS

    return f"{KINDS[p['kind']]}の適用: {p['name']} 第{p['version']}版（{p['effective_from']}から）"


def details(p: dict) -> list[tuple[str, str]]:
    from sesshu.domain.schedule.book import KINDS

    return [("種類", KINDS[p["kind"]]), ("名前", p["name"]), ("版", str(p["version"])),
            ("適用開始日", p["effective_from"]),
            ("SHA-256", " ".join(p["sha256"][i:i + 16] for i in range(0, 64, 16))),  # wraps on the page
            ("申請時の影響", f"判定し直す方 {p.get('persons_judged', 0)} 人、判定が変わる記録 {p.get('verdicts_changed', 0)} 件"
             + "".join(f"／{k}: {n} 件" for k, n in (p.get("changed_by_kind") or {}).items())),
            ("確認方法", "sesshu campaign check で同じファイルの検証結果・影響（例を含む）を確認できます"),
            ("承認後", "承認した時点で適用し、影響を受ける方を再判定の待ち行列に入れます（sesshu record evaluate）")]


def apply_activation(s: Session, p: dict, ctx) -> str:
    """Activate the proposed version (the approver is ctx.actor), supersede what it fully replaces and
    queue the affected persons for re-evaluation — one transaction with the approval."""
    row = s.execute(select(RuleSetVersion).where(RuleSetVersion.approval_id == ctx.approval_id)
                    .with_for_update()).scalar_one_or_none()
    checked = _check(s, p["text"], upload_id=row.id if row is not None else 0)
    if checked.upload.sha256 != p["sha256"]:
        raise Conflict("申請後にルールファイルが変わりました。申請し直してください")
    if row is None:
        requested = s.get(ApprovalRequest, ctx.approval_id)
        row = _proposed_row(s, checked, actor=None, reason=ctx.reason, approval_id=ctx.approval_id)
        row.proposed_by = requested.requested_by if requested is not None else ""
    if row.status != "proposed":
        raise Conflict(f"この版は既に「{STATUSES.get(row.status, row.status)}」です")
    row.status = "active"
    row.approved_by = ctx.actor.label
    row.decided_at = utcnow()
    # An earlier version that starts on or after this one's date would never be in force again.
    for old in s.execute(select(RuleSetVersion).where(
            RuleSetVersion.kind == row.kind, RuleSetVersion.name == row.name, RuleSetVersion.status == "active",
            RuleSetVersion.id != row.id, RuleSetVersion.effective_from >= row.effective_from)).scalars():
        old.status = "superseded"
    s.flush()
    if row.kind == "campaign":
        _register_vaccines(s, checked)
    # The rules hold for every person, whoever approved: the re-evaluation queue is not a view of
    # anyone's data (no person is shown), so it is not limited to the approver's 事務.
    persons = _persons_with(s, access.UNRESTRICTED, _judged_vaccines(checked))
    for i in range(0, len(persons), _BATCH):
        queue_persons(s, persons[i:i + _BATCH], utcnow())
    audit.record(s, ctx.actor, "rule_set.activate", purpose=PURPOSE,
                 detail={"rule_set_id": row.id, "approval_id": ctx.approval_id, "kind": row.kind, "name": row.name,
                         "version": row.version, "effective_from": row.effective_from, "sha256": row.sha256,
                         "persons_queued": len(persons)})
    return str(row.id)


def _register_vaccines(s: Session, checked: CheckedUpload) -> None:
    """A campaign's vaccine codes join the 接種種別 master, so its doses can be imported and entered."""
    rules = checked.book.at(checked.upload.effective_from)
    for code in checked.vaccine_codes:
        v = rules.vaccines[code]
        category = "designated" if is_tokutei(rules, code) else "pandemic_resident"
        row = s.get(Vaccine, code)
        if row is None:
            s.add(Vaccine(code=code, name=v.name[:60], default_category=category,
                          injected_live=v.live == "injected", active=True))
        else:
            row.name, row.default_category, row.active = v.name[:60], category, True


# --- listing ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RuleSetOut:
    id: int
    kind: str
    name: str
    version: int
    status: str
    status_label: str
    title: str
    vaccine_codes: list[str]
    group_ids: list[str]
    effective_from: str
    effective_until: str | None  # the day before a later active version starts
    sha256: str
    proposed_by: str
    approved_by: str | None
    approval_id: int | None
    reason: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


_CLOSED = {"rejected": "rejected", "withdrawn": "rejected", "failed": "rejected"}


def list_rule_sets(db: Database, *, actor: Actor) -> list[RuleSetOut]:
    with db.transaction() as s:
        rows = list(s.execute(select(RuleSetVersion, ApprovalRequest.status)
                              .outerjoin(ApprovalRequest, ApprovalRequest.id == RuleSetVersion.approval_id)
                              .order_by(RuleSetVersion.kind, RuleSetVersion.name, RuleSetVersion.version)))
        audit.record(s, actor, "rule_set.list", purpose=PURPOSE, detail={"rows": len(rows)})
        starts: dict[tuple, list[date]] = {}
        for r, _st in rows:
            if r.status == "active":
                starts.setdefault((r.kind, r.name), []).append(r.effective_from)
        out = []
        for r, approval_status in rows:
            status = _CLOSED.get(approval_status or "", r.status) if r.status == "proposed" else r.status
            later = [d for d in starts.get((r.kind, r.name), []) if d > r.effective_from]
            until = (min(later).fromordinal(min(later).toordinal() - 1).isoformat()
                     if later and status == "active" else None)
            out.append(RuleSetOut(
                id=r.id, kind=r.kind, name=r.name, version=r.version, status=status,
                status_label=STATUSES.get(status, status), title=r.title,
                vaccine_codes=[c for c in r.vaccine_codes.split(",") if c],
                group_ids=[g for g in r.group_ids.split(",") if g], effective_from=r.effective_from.isoformat(),
                effective_until=until, sha256=r.sha256, proposed_by=r.proposed_by, approved_by=r.approved_by,
                approval_id=r.approval_id, reason=r.reason))
        return out


def rule_set_text(db: Database, *, actor: Actor, rule_set_id: int) -> str:
    with db.transaction() as s:
        row = s.get(RuleSetVersion, rule_set_id)
        if row is None:
            raise NotFound(f"登録番号 {rule_set_id} のルールファイルはありません")
        audit.record(s, actor, "rule_set.show", purpose=PURPOSE, detail={"rule_set_id": rule_set_id})
        return row.yaml_text
