"""Retention (保存期間) and irrecoverable erasure.

- `due` lists, per category of retention.yaml, what has passed its period as of a date.
- Erasure needs four eyes: a staff member with `retention.manage` asks (approval kind
  `retention_purge`, payload = category, reference date, count and a hash of the exact list), another
  supervisor approves on the web. The approved list is fixed: if it changed since, the purge refuses.
- `purge` then runs as a sesshu.jobs job (chunked, resumable, kill-safe) keyed by the approval: every row
  about the person — in every table that refers to `person` or its dependents (found from the
  metadata, so a new feature's table is covered without a change here) — is hard-deleted, approval
  payloads about them are overwritten, and the per-person data key is destroyed (crypto-shredding the
  個人番号 in every copy). SQLite deletes run with `PRAGMA secure_delete=ON`; afterwards the file is
  VACUUMed and the WAL truncated. PostgreSQL tables are rewritten with VACUUM FULL (docs/retention.md
  for what remains in WAL archives and backups).
- The audit log keeps everything it had (append-only, hash-chained) plus a tombstone: category, count,
  reference date, who asked and who approved — no name, no number. Entries naming the erased persons'
  宛名番号 stay: see docs/retention.md for why.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from sqlalchemy import Column, Table, delete, select, update
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.approvals.models import ApprovalRequest
from sesshu.audit import service as audit
from sesshu.config import Settings
from sesshu.db import Database, get_row
from sesshu.domain.errors import Conflict, InvalidInput, NotFound
from sesshu.domain.retention import RetentionRule, add_years, is_due, keep_until, retention_rules
from sesshu.jobs.runner import JobContext, JobOutcome, run_job
from sesshu.keys import KeyRing, load_keyring
from sesshu.orm import load_all_models
from sesshu.registry.models import Person

PURPOSE = "保存期間経過データの消去"
JOB_KIND = "retention_purge"
APPROVAL_KIND = "retention_purge"
ERASED_SUMMARY = "（保存期間の経過により内容を消去しました）"

# Tables that name a person by 宛名番号 and are kept on purpose (docs/retention.md). Every other table
# holding a person's rows is found from the metadata and erased.
KEPT_TABLES = {
    "audit_entry": "操作記録は追記専用・ハッシュ連鎖。宛名番号は内部番号で、消去後は誰とも結び付かない",
}

# Which persons each ledger category covers (registry status, anchor column).
_PERSON_CATEGORIES = {
    "ledger_deceased": ("deceased", Person.died_on),
    "ledger_moved_out": ("moved_out", Person.moved_out_on),
}

# Reasons a due person is still kept (e.g. an open relief case, a pending disclosure request): other
# features add a function (session, atena_nos) -> {atena_no: reason}. Kept persons are listed, not erased.
def _relief_hold(s: Session, atena_nos: list[str]) -> dict[str, str]:
    """A person with a 健康被害救済 case is kept: pensions (遺族年金) outlive the person, and relief
    files have their own retention under the city's 文書管理規程."""
    from sesshu.relief.models import ReliefCase

    held: dict[str, str] = {}
    for i in range(0, len(atena_nos), 500):
        for a in s.execute(select(ReliefCase.atena_no).where(ReliefCase.atena_no.in_(atena_nos[i:i + 500]))).scalars():
            held[a] = "健康被害救済の案件があるため保持"
    return held


HOLDS: list[Callable[[Session, list[str]], dict[str, str]]] = [_relief_hold]


@dataclass
class DueCategory:
    code: str
    label: str
    years: int
    enabled: bool
    source: str
    implemented: bool
    due: list[tuple[str, date]] = field(default_factory=list)  # (宛名番号, anchor date)
    held: dict[str, str] = field(default_factory=dict)  # 宛名番号 → why it is kept

    @property
    def count(self) -> int:
        return len(self.due)

    @property
    def units(self) -> list[str]:
        return [a for a, _ in self.due]


def units_hash(units: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(units)).encode()).hexdigest()


def _rule(category: str) -> RetentionRule:
    rule = retention_rules().get(category)
    if rule is None:
        raise InvalidInput(f"保存期間の区分が正しくありません: {category}")
    return rule


def due_in_session(s: Session, category: str, today: date) -> DueCategory:
    rule = _rule(category)
    out = DueCategory(code=rule.code, label=rule.label, years=rule.years, enabled=rule.enabled, source=rule.source,
                      implemented=category in _PERSON_CATEGORIES)
    if not rule.enabled:
        return out
    if category not in _PERSON_CATEGORIES:
        # Exchange records and inquiry results are erased by the linkage feature itself, on its own
        # periods (`sesshu linkage purge-results`, settings linkage_*): nothing to list here.
        return out
    status, anchor = _PERSON_CATEGORIES[category]
    # A day's margin for 29 February; is_due decides exactly.
    cutoff = add_years(today, -rule.years)
    rows = s.execute(select(Person.atena_no, anchor).where(Person.registry_status == status, anchor.is_not(None),
                                                           anchor <= cutoff).order_by(Person.atena_no)).all()
    due = [(a, d) for a, d in rows if is_due(d, rule, today)]
    held: dict[str, str] = {}
    atena_nos = [a for a, _ in due]
    for hold in HOLDS:
        held.update(hold(s, atena_nos))
    out.due = [(a, d) for a, d in due if a not in held]
    out.held = held
    return out


def due(db: Database, *, actor: Actor, today: date) -> list[DueCategory]:
    """Every category with what is due as of `today`; the listing is audited (counts only)."""
    with db.transaction() as s:
        result = [due_in_session(s, code, today) for code in retention_rules()]
        audit.record(s, actor, "retention.due", purpose=PURPOSE,
                     detail={"as_of": today.isoformat(), "due": {c.code: c.count for c in result if c.enabled},
                             "held": {c.code: len(c.held) for c in result if c.held}})
    return result


# --- the erasure itself ---------------------------------------------------------------------------------

def _person_roots(md) -> list[tuple[Table, Column]]:
    """Tables naming a person by a column `atena_no` or by a foreign key to person (besides person itself)."""
    roots = []
    for t in md.sorted_tables:
        if t.name in KEPT_TABLES or t.name == "person":
            continue
        cols = {c for c in t.c if c.name == "atena_no"}
        cols |= {fk.parent for fk in t.foreign_keys if fk.column.table.name == "person"}
        roots += [(t, c) for c in sorted(cols, key=lambda c: c.name)]
    return roots


def erasure_plan() -> list[str]:
    """"table.column" for every place erasure deletes from (tests and docs compare it with the schema)."""
    md = load_all_models()
    out = [f"{t.name}.{c.name}" for t, c in _person_roots(md)]
    return sorted(out) + ["person.atena_no"]


def _delete_with_dependents(s: Session, md, table: Table, where, depth: int = 0) -> dict[str, int]:
    """Delete the rows of `table` matching `where`, after the rows of every table referring to them."""
    if depth > 8:
        raise RuntimeError(f"foreign keys nest too deep at {table.name}")
    counts: dict[str, int] = {}
    for child in md.sorted_tables:
        if child.name in KEPT_TABLES:
            continue
        for fk in child.foreign_keys:
            if fk.column.table is not table or child is table:
                continue
            parents = select(fk.column).where(where)
            for name, n in _delete_with_dependents(s, md, child, fk.parent.in_(parents), depth + 1).items():
                counts[name] = counts.get(name, 0) + n
    n = s.execute(delete(table).where(where)).rowcount or 0
    counts[table.name] = counts.get(table.name, 0) + n
    return counts


def _scrub_approvals(s: Session, keys: KeyRing, atena_nos: set[str]) -> int:
    """Approval requests about an erased person keep their row (who asked, who decided, when) but lose
    the payload (4情報, 個人番号) and the free texts."""
    from sesshu.approvals.kinds import KINDS
    from sesshu.approvals.service import _aad

    n = 0
    rows = s.execute(select(ApprovalRequest).where(ApprovalRequest.kind != APPROVAL_KIND)).scalars().all()
    for row in rows:
        kind = KINDS.get(row.kind)
        try:
            payload = json.loads(keys.decrypt(row.payload_enc, aad=_aad(row)))
        except Exception:
            continue  # already scrubbed, or not readable with these keys
        if payload.get("erased"):
            continue
        touched = set(kind.atena_nos(payload)) if kind else set()
        touched.add(row.result_ref)
        if not touched & atena_nos:
            continue
        row.payload_enc = keys.encrypt(json.dumps({"erased": True}), aad=_aad(row))
        row.summary = ERASED_SUMMARY
        row.reason = ERASED_SUMMARY
        row.decision_comment = ""
        row.subject_key = None
        n += 1
    return n


def erase_persons(s: Session, keys: KeyRing, atena_nos: list[str]) -> dict[str, int]:
    """Hard-delete everything held about these persons (in the caller's transaction, never commits)."""
    if not atena_nos:
        return {}
    if s.bind.dialect.name == "sqlite":
        # Deleted content is overwritten with zeros in the file (and its WAL), not just unlinked.
        s.connection().exec_driver_sql("PRAGMA secure_delete=ON")
    md = load_all_models()
    counts: dict[str, int] = {"approval_request (消去)": _scrub_approvals(s, keys, set(atena_nos))}
    for i in range(0, len(atena_nos), 500):
        part = atena_nos[i:i + 500]
        for table, col in _person_roots(md):
            for name, n in _delete_with_dependents(s, md, table, col.in_(part)).items():
                counts[name] = counts.get(name, 0) + n
        person = md.tables["person"]
        for name, n in _delete_with_dependents(s, md, person, person.c.atena_no.in_(part)).items():
            counts[name] = counts.get(name, 0) + n
    return {k: v for k, v in counts.items() if v}


# --- four eyes --------------------------------------------------------------------------------------------

def approved_purge(s: Session, approval_id: int) -> ApprovalRequest:
    """The approved purge request; refuses anything else."""
    row = get_row(s, ApprovalRequest, approval_id)
    if row is None or row.kind != APPROVAL_KIND:
        raise NotFound(f"消去の承認申請（申請番号 {approval_id}）はありません")
    if row.status != "approved":
        raise Conflict(f"申請番号 {approval_id} は承認されていません。上長の承認を受けてから実行してください")
    return row


@dataclass
class PurgeDefinition:
    """The sesshu.jobs definition: units are 宛名番号, fixed by the approval."""

    settings: Settings
    kind: str = JOB_KIND
    label: str = PURPOSE

    def plan(self, s: Session, ctx: JobContext) -> list[str]:
        p = ctx.params
        current = due_in_session(s, p["category"], date.fromisoformat(p["as_of"]))
        if len(current.units) != p["count"] or units_hash(current.units) != p["units_sha256"]:
            raise Conflict("承認後に消去の対象が変わりました（住民記録の更新など）。改めて一覧を確認し、申請し直してください")
        return current.units

    def process(self, s: Session, ctx: JobContext, chunk_no: int, units: list[str]) -> None:
        counts = erase_persons(s, load_keyring(self.settings), units)
        audit.record(s, ctx.actor, "retention.erase", purpose=PURPOSE,
                     detail={"job_id": ctx.job_id, "approval_id": ctx.params["approval_id"], "chunk": chunk_no,
                             "persons": len(units), "rows": counts})

    def write_output(self, s: Session, ctx: JobContext, chunk_no: int, units: list[str]) -> None:
        return None

    def finish(self, s: Session, ctx: JobContext) -> dict:
        p = ctx.params
        row = s.get(ApprovalRequest, p["approval_id"])
        rule = _rule(p["category"])
        tombstone = {"category": p["category"], "label": rule.label, "persons": p["count"], "as_of": p["as_of"],
                     "period_years": rule.years, "source": rule.source, "approval_id": row.id,
                     "requested_by": row.requested_by, "approved_by": row.decided_by, "job_id": ctx.job_id}
        # The tombstone: what was erased and on whose authority — no name, no number, no 宛名番号.
        audit.record(s, ctx.actor, "retention.purge", purpose=PURPOSE, detail=tombstone)
        return tombstone


def purge(db: Database, settings: Settings, *, actor: Actor, approval_id: int, chunk_size: int = 200,
          max_chunks: int | None = None, reclaim: bool = True) -> JobOutcome:
    """Carry out an approved erasure (resumable: the same command continues an interrupted run)."""
    keys = load_keyring(settings)
    with db.transaction() as s:
        row = approved_purge(s, approval_id)
        from sesshu.approvals.service import _payload

        payload = _payload(keys, row)
    params = {"approval_id": approval_id, "category": payload["category"], "as_of": payload["as_of"],
              "count": payload["count"], "units_sha256": payload["units_sha256"]}
    outcome = run_job(db, PurgeDefinition(settings), actor=actor, key=f"approval:{approval_id}", params=params,
                      chunk_size=chunk_size, max_chunks=max_chunks)
    if outcome.status == "done" and reclaim and not outcome.already_done:
        reclaim_space(db)
    return outcome


ERASED_TABLES = ("person", "person_history", "vaccination_record", "vaccination_record_history",
                 "person_condition", "person_task", "person_data_key", "mynumber_verification",
                 "evaluation_queue", "approval_request")


def reclaim_space(db: Database) -> None:
    """Rewrite the storage so deleted rows leave no readable remnant in the database files."""
    if db.is_sqlite:
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("PRAGMA secure_delete=ON")
            cur.execute("VACUUM")
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cur.close()
        finally:
            raw.close()
        return
    md = load_all_models()
    names = sorted({t.name for t, _ in _person_roots(md)} | {"person", "approval_request"}
                   | {c.name for t in md.sorted_tables for c in [t] if any(
                       fk.column.table.name in ERASED_TABLES for fk in t.foreign_keys)})
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        for name in names:
            c.exec_driver_sql(f'VACUUM FULL "{name}"')
