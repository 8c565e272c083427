"""Purpose-bound access (団体内統合宛名システム アクセス制御機能).

Every read or change of a person's 特定個人情報 by staff goes through `scope_of` (what the actor may
see) and `check_visible` / `person_filter`. A person outside the actor's scope is answered exactly
like a person who does not exist (OutOfScope is a NotFound with the same message), so guessing a
宛名番号 reveals nothing; the web layer writes the refusal to the audit log.

CLI commands run on the server by an OS operator (the machine's own access control applies there)
and are not bound to a task; their actions are audited under the OS account.

The one way in: a use case that selects persons or their records, or writes for them, opens
`scoped(s, actor, tasks=...)` once and asks it — `where` (a query limited to the scope), `keep`
(rows limited to it), `visible` (which of these 宛名番号), `check` (one person, or OutOfScope). The
scope is the actor's 事務 × 部署 × 担当 today: an assignment counts only while it is valid and only in a
department that carries the task. `tasks` names the 事務 the use case belongs to (an approval kind,
a notice batch): an actor holding none of them is refused with NoTask before anything is read.
`tests/web/test_scope_walk.py` walks every route and approval kind with a cast of users to prove it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from sesshu.access.models import PersonTask, StaffAssignment
from sesshu.access.tasks import TASKS, VACCINATION_TASKS  # noqa: F401 — VACCINATION_TASKS re-exported
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.auth.models import StaffUser
from sesshu.clock import today_jst, utcnow
from sesshu.db import Database
from sesshu.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from sesshu.registry.models import Person

NO_TASK_MESSAGE = "個人番号利用事務の担当に割り当てられていないため、個人の情報は扱えません。セキュリティ責任者に確認してください"


class OutOfScope(NotFound):
    """The person exists but is outside the actor's tasks; shown to the user as 'not found'."""

    code = "E_NOT_FOUND"

    def __init__(self, message: str, *, atena_no: str | None = None, record_id: int | None = None):
        super().__init__(message)
        self.atena_no = atena_no
        self.record_id = record_id


class NoTask(Forbidden):
    code = "E_NO_TASK"

    def __init__(self, message: str = NO_TASK_MESSAGE):
        super().__init__(message)


@dataclass(frozen=True)
class Scope:
    tasks: frozenset[str]
    all_persons: bool
    linked_tasks: frozenset[str]

    @property
    def empty(self) -> bool:
        return not self.all_persons and not self.linked_tasks


UNRESTRICTED = Scope(tasks=frozenset(TASKS), all_persons=True, linked_tasks=frozenset())


def scope_of(s: Session, actor: Actor, *, on: date | None = None) -> Scope:
    """The tasks the actor is assigned to today (lapsed assignments do not count)."""
    if actor.kind == "os":
        return UNRESTRICTED
    if actor.user_id is None:
        return Scope(tasks=frozenset(), all_persons=False, linked_tasks=frozenset())
    on = on or today_jst()
    # 事務 × 部署 × 担当: an assignment in a department that does not carry the task grants nothing.
    codes = frozenset(c for c, dept in s.execute(
        select(StaffAssignment.task_code, StaffAssignment.department).where(
            StaffAssignment.user_id == actor.user_id,
            or_(StaffAssignment.valid_until.is_(None), StaffAssignment.valid_until >= on))).all()
        if c in TASKS and dept in TASKS[c].departments)
    return Scope(tasks=codes, all_persons=any(TASKS[c].population == "all" for c in codes),
                 linked_tasks=frozenset(c for c in codes if TASKS[c].population == "linked"))


def person_filter(scope: Scope, atena_column) -> ColumnElement[bool] | None:
    """A WHERE clause limiting persons to the scope, or None when the scope covers everyone."""
    if scope.all_persons:
        return None
    return exists(select(PersonTask.atena_no).where(PersonTask.atena_no == atena_column,
                                                    PersonTask.task_code.in_(sorted(scope.linked_tasks))))


def require_some_task(s: Session, actor: Actor) -> Scope:
    scope = scope_of(s, actor)
    if scope.empty:
        raise NoTask()
    return scope


def visible_among(s: Session, scope: Scope, atena_nos: Iterable[str]) -> set[str]:
    """Which of these 宛名番号 the scope covers (existing or not: the caller tells those apart)."""
    wanted = list(dict.fromkeys(atena_nos))
    if scope.all_persons:
        return set(wanted)
    if not scope.linked_tasks:
        return set()
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        found |= set(s.execute(select(PersonTask.atena_no).where(
            PersonTask.atena_no.in_(wanted[i:i + 500]),
            PersonTask.task_code.in_(sorted(scope.linked_tasks)))).scalars())
    return found


@dataclass(frozen=True)
class Scoped:
    """The actor's scope bound to the use case's session: how persons and their records are selected."""

    s: Session
    actor: Actor
    scope: Scope

    def where(self, query, atena_column):
        """The query limited to the persons of the scope."""
        f = person_filter(self.scope, atena_column)
        return query if f is None else query.where(f)

    def visible(self, atena_nos: Iterable[str]) -> set[str]:
        return visible_among(self.s, self.scope, atena_nos)

    def keep(self, rows: list) -> list:
        """Rows (with an `atena_no`) of persons in the scope, in their order."""
        if self.scope.all_persons:
            return rows
        seen = self.visible(r.atena_no for r in rows)
        return [r for r in rows if r.atena_no in seen]

    def check(self, atena_no: str, *, message: str | None = None, record_id: int | None = None) -> None:
        if not is_visible(self.s, self.scope, atena_no):
            raise OutOfScope(message or f"宛名番号 {atena_no} の方は登録されていません", atena_no=atena_no,
                             record_id=record_id)


def scoped(s: Session, actor: Actor, *, tasks: Iterable[str] | None = None) -> Scoped:
    """Open the actor's scope for a use case; with `tasks`, the actor must hold one of those 事務
    (else NoTask), and the scope is narrowed to them. Without, any 事務 will do."""
    scope = scope_of(s, actor)
    if actor.kind != "os":
        if tasks is not None:
            wanted = frozenset(tasks)
            unknown = wanted - TASKS.keys()
            if unknown:  # a typo must not silently grant nothing — or everything
                raise ValueError(f"unknown task codes: {sorted(unknown)}")
            held = scope.tasks & wanted
            scope = Scope(tasks=held, all_persons=any(TASKS[c].population == "all" for c in held),
                          linked_tasks=frozenset(c for c in held if TASKS[c].population == "linked"))
        if scope.empty:
            raise NoTask()
    return Scoped(s=s, actor=actor, scope=scope)


def is_visible(s: Session, scope: Scope, atena_no: str) -> bool:
    if scope.all_persons:
        return True
    if not scope.linked_tasks:
        return False
    return s.execute(select(PersonTask.atena_no).where(
        PersonTask.atena_no == atena_no, PersonTask.task_code.in_(sorted(scope.linked_tasks)))).first() is not None


def check_visible(s: Session, actor: Actor, atena_no: str, *, message: str | None = None,
                  record_id: int | None = None) -> None:
    """Raise OutOfScope unless the actor's tasks use this person's 特定個人情報."""
    Scoped(s=s, actor=actor, scope=_use_case_scope(s, actor)).check(atena_no, message=message, record_id=record_id)


def _use_case_scope(s: Session, actor: Actor) -> Scope:
    """scope_of, read once per transaction for the checks of one use case (a venue scan checks the ticket's
    holder, then the person of the entry: one query, not two). Assignments are changed by use cases of
    their own, never between two checks of the same transaction."""
    memo = s.info.setdefault("access_scopes", {})
    key = (actor.kind, actor.user_id, today_jst())
    if key not in memo:
        memo[key] = scope_of(s, actor)
    return memo[key]


def visible_person(s: Session, actor: Actor, atena_no: str, *, lock: bool = False) -> Person:
    """The person (row-locked when asked) if the actor's tasks reach them; a person outside them gets the
    answer of a number that does not exist."""
    missing = f"宛名番号 {atena_no} の方は登録されていません"
    check_visible(s, actor, atena_no, message=missing)
    person = s.get(Person, atena_no, with_for_update=lock)
    if person is None:
        raise NotFound(missing)
    return person


def record_refusal(db: Database, *, actor: Actor, exc: Exception | None = None, path: str = "",
                   method: str = "") -> None:
    """Put a scope refusal on record (its own transaction: the refused one was rolled back)."""
    detail = {"path": path, "method": method}
    atena_no = None
    if isinstance(exc, OutOfScope):
        atena_no = exc.atena_no
        if exc.record_id is not None:
            detail["record_id"] = exc.record_id
        action = "access.out_of_scope"
    else:
        action = "access.no_task"
    with db.transaction() as s:
        audit.record(s, actor, action, atena_no=atena_no, purpose="担当事務の範囲外の個人情報の参照の試行",
                     detail=detail)


# --- administration (セキュリティ責任者) -------------------------------------------------------------

@dataclass(frozen=True)
class AssignmentRow:
    login_id: str
    display_name: str
    role: str
    task_code: str
    task_label: str
    department: str
    valid_until: date | None
    lapsed: bool


def list_assignments(db: Database, *, actor: Actor) -> list[AssignmentRow]:
    today = today_jst()
    with db.transaction() as s:
        rows = s.execute(
            select(StaffUser.login_id, StaffUser.display_name, StaffUser.role, StaffAssignment.task_code,
                   StaffAssignment.department, StaffAssignment.valid_until)
            .join(StaffAssignment, StaffAssignment.user_id == StaffUser.id)
            .order_by(StaffUser.login_id, StaffAssignment.task_code)).all()
        audit.record(s, actor, "access.list", purpose="事務取扱担当者の確認", detail={"rows": len(rows)})
    return [AssignmentRow(login_id=r.login_id, display_name=r.display_name, role=r.role, task_code=r.task_code,
                          task_label=TASKS[r.task_code].label if r.task_code in TASKS else r.task_code,
                          department=r.department, valid_until=r.valid_until,
                          lapsed=r.valid_until is not None and r.valid_until < today) for r in rows]


def _validate(task_code: str, department: str) -> None:
    task = TASKS.get(task_code)
    if task is None:
        raise InvalidInput(f"事務の指定が正しくありません: {task_code}")
    if department not in task.departments:
        raise InvalidInput(f"{task.label}は{department}の事務ではありません（取扱部署: {'、'.join(task.departments)}）")


def assign_in(s: Session, actor: Actor, *, user: StaffUser, task_code: str, department: str,
              valid_until: date | None = None) -> None:
    """Bind a staff member to a task in the caller's transaction (used by account creation too)."""
    _validate(task_code, department)
    existing = s.get(StaffAssignment, (user.id, task_code))
    if existing is not None:
        existing.department, existing.valid_until = department, valid_until
    else:
        s.add(StaffAssignment(user_id=user.id, task_code=task_code, department=department, valid_until=valid_until,
                              assigned_at=utcnow(), assigned_by=actor.label))
    audit.record(s, actor, "access.assign", purpose="事務取扱担当者の指定",
                 detail={"login_id": user.login_id, "task": task_code, "department": department,
                         "valid_until": valid_until})


def _user(s: Session, login_id: str) -> StaffUser:
    user = s.execute(select(StaffUser).where(StaffUser.login_id == login_id.strip())).scalar_one_or_none()
    if user is None:
        raise NotFound(f"職員ID {login_id} は登録されていません")
    return user


def assign(db: Database, *, actor: Actor, login_id: str, task_code: str, department: str,
           valid_until: date | None = None) -> None:
    if valid_until is not None and valid_until < today_jst():
        raise InvalidInput("有効期限が過去の日付です")
    with db.transaction() as s:
        user = _user(s, login_id)
        if actor.user_id is not None and user.id == actor.user_id:
            raise Conflict("自分自身を事務に割り当てることはできません")
        assign_in(s, actor, user=user, task_code=task_code, department=department, valid_until=valid_until)


def unassign(db: Database, *, actor: Actor, login_id: str, task_code: str) -> None:
    with db.transaction() as s:
        user = _user(s, login_id)
        row = s.get(StaffAssignment, (user.id, task_code))
        if row is None:
            raise NotFound("その割当はありません")
        s.delete(row)
        audit.record(s, actor, "access.unassign", purpose="事務取扱担当者の指定解除",
                     detail={"login_id": user.login_id, "task": task_code})


def link_person_in(s: Session, actor: Actor, *, atena_no: str, task_code: str) -> None:
    """Mark that a "linked" task uses this person's 特定個人情報 (e.g. a relief claim was received)."""
    task = TASKS.get(task_code)
    if task is None:
        raise InvalidInput(f"事務の指定が正しくありません: {task_code}")
    if s.get(PersonTask, (atena_no, task_code)) is None:
        s.add(PersonTask(atena_no=atena_no, task_code=task_code, linked_at=utcnow(), linked_by=actor.label))
        audit.record(s, actor, "access.link_person", atena_no=atena_no, purpose="事務で扱う個人の登録",
                     detail={"task": task_code})
