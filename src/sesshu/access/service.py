"""Purpose-bound access (団体内統合宛名システム アクセス制御機能).

Every read or change of a person's 特定個人情報 by staff goes through `scope_of` (what the actor may
see) and `check_visible` / `person_filter`. A person outside the actor's scope is answered exactly
like a person who does not exist (OutOfScope is a NotFound with the same message), so guessing a
宛名番号 reveals nothing; the web layer writes the refusal to the audit log.

CLI commands run on the server by an OS operator (the machine's own access control applies there)
and are not bound to a task; their actions are audited under the OS account.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from sesshu.access.models import PersonTask, StaffAssignment
from sesshu.access.tasks import TASKS
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.auth.models import StaffUser
from sesshu.clock import today_jst, utcnow
from sesshu.db import Database
from sesshu.domain.errors import Conflict, Forbidden, InvalidInput, NotFound

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
    codes = frozenset(c for c in s.execute(
        select(StaffAssignment.task_code).where(
            StaffAssignment.user_id == actor.user_id,
            or_(StaffAssignment.valid_until.is_(None), StaffAssignment.valid_until >= on))).scalars()
        if c in TASKS)
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
    if not is_visible(s, scope_of(s, actor), atena_no):
        raise OutOfScope(message or f"宛名番号 {atena_no} の方は登録されていません", atena_no=atena_no,
                         record_id=record_id)


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
