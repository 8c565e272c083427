"""Purpose binding on every path: every route and every approval kind, walked by a cast of users whose
事務 do not reach the person, leaks nothing of that person.

The cast (for each role that handles persons): the same account with the vaccination 事務 (the
baseline, covered by test_permissions), with no 事務 at all, and with another 事務 only (injury relief,
the person not a claimant). The requests are the valid ones of test_permissions (made while the account
still had its 事務, so each is a request that works for someone allowed); then the 事務 is taken away
and every request is sent. A route must then answer without the person's data, and the audit log must
show no view or change of the person by that account other than refusals.

A new route fails here until it is classified in ROUTES.
"""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sesshu.access import service as access
from sesshu.access.models import PersonTask, StaffAssignment
from sesshu.actor import Actor
from sesshu.approvals.kinds import KINDS
from sesshu.audit.models import AuditEntry
from sesshu.auth.models import StaffUser
from sesshu.auth.permissions import ROLES, has_permission
from sesshu.web.deps import route_table
from tests.web.conftest import ADMIN, add_record, login
from tests.web.test_audit_pages import audit_checkpoint_day
from tests.web.test_permissions import PUBLIC, _cases

# What each route handles. "person": a person's data or records (or a selection of persons): refused,
# or answered without the person, when the account's 事務 do not reach them. "self": the account's own
# settings and session. "oversight": the security officer's and auditor's pages (audit log, accounts,
# assignments), bound to their role, not to a 事務. "office": the office's own data (billing months,
# masters), with no person on the page.
PERSON, SELF, OVERSIGHT, OFFICE = "person", "self", "oversight", "office"
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/"): SELF, ("GET", "/dashboard"): OFFICE,
    ("GET", "/search"): PERSON, ("GET", "/search/results"): PERSON, ("POST", "/search/export"): PERSON,
    ("GET", "/persons/{atena_no}"): PERSON, ("GET", "/api/v1/persons"): PERSON,
    ("GET", "/api/v1/persons/{atena_no}"): PERSON, ("GET", "/api/v1/fhir/Patient/{atena_no}/$everything"): PERSON,
    ("GET", "/api/v1/persons/{atena_no}/shc"): PERSON, ("GET", "/api/v1/persons/{atena_no}/shc.pdf"): PERSON,
    ("POST", "/records/{record_id}/correct"): PERSON, ("GET", "/records/{record_id}/history"): PERSON,
    ("GET", "/records/{record_id}/edit"): PERSON, ("POST", "/records/{record_id}/void"): PERSON,
    ("POST", "/api/v1/records/{record_id}/correct"): PERSON, ("POST", "/api/v1/records/{record_id}/void"): PERSON,
    ("POST", "/records/{record_id}/reassign"): PERSON,
    ("POST", "/persons/{atena_no}/conditions"): PERSON,
    ("POST", "/persons/{atena_no}/conditions/{condition_id}/end"): PERSON,
    ("GET", "/persons/{atena_no}/mynumber/reveal"): PERSON, ("POST", "/persons/{atena_no}/mynumber/reveal"): PERSON,
    ("GET", "/persons/{atena_no}/mynumber/verify"): PERSON, ("POST", "/persons/{atena_no}/mynumber/verify"): PERSON,
    ("GET", "/persons/new"): PERSON, ("POST", "/persons/new"): PERSON,
    ("GET", "/approvals"): PERSON, ("GET", "/approvals/{approval_id}"): PERSON,
    ("POST", "/approvals/{approval_id}/approve"): PERSON, ("POST", "/approvals/{approval_id}/reject"): PERSON,
    ("POST", "/approvals/{approval_id}/withdraw"): PERSON,
    ("GET", "/api/v1/approvals"): PERSON, ("GET", "/api/v1/approvals/{approval_id}"): PERSON,
    ("POST", "/api/v1/approvals/{approval_id}/approve"): PERSON,
    ("POST", "/api/v1/approvals/{approval_id}/reject"): PERSON,
    ("POST", "/api/v1/approvals/{approval_id}/withdraw"): PERSON,
    ("GET", "/persons/{atena_no}/tickets"): PERSON, ("POST", "/persons/{atena_no}/tickets/issue"): PERSON,
    ("POST", "/persons/{atena_no}/tickets/reissue"): PERSON, ("POST", "/persons/{atena_no}/certificate"): PERSON,
    ("GET", "/notices"): PERSON, ("POST", "/notices"): PERSON, ("GET", "/notices/jobs/{job_id}"): PERSON,
    ("POST", "/notices/jobs/{job_id}/resume"): PERSON, ("GET", "/notices/jobs/{job_id}/files/{name}"): PERSON,
    ("POST", "/notices/jobs/{job_id}/mailing.zip"): PERSON,
    ("GET", "/billing"): OFFICE, ("POST", "/billing/run"): OFFICE,
    ("GET", "/billing/subsidies"): PERSON, ("POST", "/billing/subsidies"): PERSON,
    ("POST", "/billing/subsidies/override"): PERSON,
    ("GET", "/billing/{month}"): OFFICE, ("POST", "/billing/{month}/close"): OFFICE,
    ("POST", "/billing/{month}/reopen"): OFFICE, ("GET", "/billing/{month}/statements/{code}.pdf"): OFFICE,
    ("GET", "/billing/{month}/returns.pdf"): PERSON, ("GET", "/billing/{month}/summary.csv"): OFFICE,
    ("GET", "/billing/{month}/zengin.txt"): OFFICE,
    ("GET", "/billing/imports"): OFFICE, ("POST", "/billing/imports/{kind}"): OFFICE,
    ("GET", "/records/new"): PERSON, ("POST", "/records/new"): PERSON, ("POST", "/records/check"): PERSON,
    ("GET", "/imports"): PERSON, ("POST", "/imports/records"): PERSON, ("GET", "/imports/jobs/{job_id}"): PERSON,
    ("GET", "/imports/jobs/{job_id}/status"): PERSON, ("GET", "/imports/jobs/{job_id}/rejects"): PERSON,
    ("POST", "/imports/jobs/{job_id}/rejects.zip"): PERSON,
    ("GET", "/linkage"): PERSON, ("POST", "/linkage/batches"): PERSON,
    ("POST", "/linkage/batches/{batch_id}/check"): PERSON,
    ("POST", "/linkage/provisions/{provision_id}/decision"): PERSON,
    ("GET", "/persons/{atena_no}/linkage"): PERSON, ("POST", "/persons/{atena_no}/linkage/inquire"): PERSON,
    ("GET", "/retention"): PERSON, ("POST", "/retention/request"): PERSON,
    ("GET", "/inquiries"): PERSON, ("POST", "/inquiries"): PERSON, ("GET", "/inquiries/{inquiry_id}"): PERSON,
    ("POST", "/inquiries/{inquiry_id}/answer"): PERSON, ("POST", "/inquiries/{inquiry_id}/suspend"): PERSON,
    ("POST", "/inquiries/{inquiry_id}/correct"): PERSON, ("GET", "/inquiries/{inquiry_id}/package.pdf"): PERSON,
    ("GET", "/relief"): PERSON, ("POST", "/relief"): PERSON, ("GET", "/relief/payments"): PERSON,
    ("GET", "/relief/{case_id}"): PERSON, ("POST", "/relief/{case_id}/steps"): PERSON,
    ("GET", "/api/v1/openapi.json"): SELF,
    ("GET", "/account/passkeys"): SELF, ("POST", "/account/passkeys/options"): SELF,
    ("POST", "/account/passkeys/verify"): SELF, ("POST", "/account/passkeys/{passkey_id}/delete"): SELF,
    ("GET", "/account/password"): SELF, ("POST", "/account/password"): SELF,
    ("GET", "/account/settings"): SELF, ("POST", "/account/settings"): SELF,
    ("GET", "/reauth"): SELF, ("POST", "/reauth"): SELF, ("POST", "/reauth/passkey/options"): SELF,
    ("POST", "/reauth/passkey/verify"): SELF, ("POST", "/logout"): SELF,
    ("GET", "/audit"): OVERSIGHT, ("POST", "/audit/verify"): OVERSIGHT, ("GET", "/audit/checkpoints"): OVERSIGHT,
    ("GET", "/audit/checkpoints/{day}"): OVERSIGHT, ("GET", "/audit/anomalies"): OVERSIGHT,
    ("GET", "/audit/entries"): OVERSIGHT,
    ("GET", "/admin/assignments"): OVERSIGHT, ("POST", "/admin/assignments"): OVERSIGHT,
    ("POST", "/admin/assignments/remove"): OVERSIGHT, ("GET", "/admin/accounts"): OVERSIGHT,
    ("POST", "/admin/accounts/{login_id}/totp-fallback"): OVERSIGHT, ("GET", "/admin/accounts/review"): OVERSIGHT,
    ("POST", "/admin/accounts/{login_id}/deactivate"): OVERSIGHT,
    ("POST", "/admin/accounts/{login_id}/reactivate"): OVERSIGHT,
    ("POST", "/admin/accounts/{login_id}/valid-until"): OVERSIGHT,
    ("POST", "/admin/accounts/{login_id}/role"): OVERSIGHT,
    ("POST", "/admin/accounts/new"): OVERSIGHT, ("POST", "/admin/accounts/{login_id}/password-reset"): OVERSIGHT,
    ("GET", "/records"): PERSON, ("GET", "/records/{record_id}/own"): PERSON,
    ("POST", "/records/{record_id}/own/correct"): PERSON, ("POST", "/records/{record_id}/own/void"): PERSON,
    ("GET", "/imports/sample.csv"): OFFICE,
    ("POST", "/persons/{atena_no}/pregnancies"): PERSON,
    ("POST", "/persons/{atena_no}/pregnancies/{pregnancy_id}/withdraw"): PERSON,
    ("GET", "/persons/{atena_no}/away"): PERSON, ("POST", "/persons/{atena_no}/away"): PERSON,
    ("POST", "/persons/{atena_no}/away/{notice_no}/close"): PERSON,
    ("GET", "/venue"): OFFICE, ("POST", "/venue/scan"): PERSON, ("POST", "/venue/record"): PERSON,
    ("POST", "/venue/undo"): PERSON,
    ("GET", "/counts"): OFFICE, ("POST", "/counts/daily.csv"): OFFICE,
    ("POST", "/relief/payments/zengin"): PERSON, ("POST", "/relief/{case_id}/correction"): PERSON,
    ("GET", "/rulesets"): OFFICE, ("POST", "/rulesets/check"): PERSON, ("POST", "/rulesets/propose"): OFFICE,
}
# The person's data as it would show on a page, in a file or in JSON.
MARKERS = ("山田", "ヤマダ", "宮町一丁目", "ﾔﾏﾀﾞ", "\\u5c71\\u7530")
# What an account may leave on a person's log without having seen or changed anything.
REFUSALS = {"access.out_of_scope", "access.no_task", "approval.view_refused", "approval.decision_refused",
            "approval.request_refused", "approval.withdraw_refused", "person.view_missing"}
CAST_ROLES = sorted(r for r in ROLES if any(has_permission(r, p) for p in
                                               ("person.view", "notice.run", "record.import", "approval.decide")))


def test_every_route_is_classified(app):
    table = {(m, p) for m, p, _ in route_table(app) if (m, p) not in PUBLIC}
    assert table - set(ROUTES) == set(), "classify the new route in ROUTES (and give it a case in test_permissions)"
    assert set(ROUTES) - table == set(), "a classified route is gone: remove it from ROUTES"


def _user_id(db, login_id: str) -> int:
    with db.transaction() as s:
        return s.execute(select(StaffUser.id).where(StaffUser.login_id == login_id)).scalar_one()


def _rebind(db, login_id: str, cast: str, atena_no: str | None = None) -> None:
    """Take the account's 事務 away; "other_task": relief only, the person not (or no longer) a claimant."""
    with db.transaction() as s:
        s.execute(StaffAssignment.__table__.delete().where(StaffAssignment.user_id == _user_id(db, login_id)))
        if atena_no:  # the relief cases the requests were built on linked the person
            s.execute(PersonTask.__table__.delete().where(PersonTask.atena_no == atena_no))
    if cast == "other_task":
        access.assign(db, actor=ADMIN, login_id=login_id, task_code="kenko_higai_kyusai", department="健康づくり課")


def _leaks(db, login_id: str, atena_no: str, since: int) -> list[str]:
    with db.transaction() as s:
        rows = s.execute(select(AuditEntry.action, AuditEntry.detail).where(
            AuditEntry.seq > since, AuditEntry.actor == login_id, AuditEntry.atena_no == atena_no)).all()
    return [f"{a} {d[:120]}" for a, d in rows if a not in REFUSALS]


@pytest.mark.parametrize("cast", ["no_task", "other_task"])
@pytest.mark.parametrize("role", CAST_ROLES)
def test_no_route_leaks_a_person_outside_the_users_tasks(role, cast, app, db, make_staff, persons):
    atena = persons["plain"]
    ctx = {"db": db, "atena_no": atena, "record_id": add_record(db, atena),
           "void_ids": [add_record(db, atena, vaccine=v) for v in ("BCG", "VAR")],
           "other_login": make_staff("clerk", login_id="other-clerk").login_id}
    ctx["checkpoint_day"] = audit_checkpoint_day(db, app.state.settings)
    with TestClient(app, follow_redirects=False) as client:
        ctx["staff"], ctx["client"] = make_staff(role), client
        ctx["csrf"] = login(client, ctx["staff"])
        ctx["role"], ctx["settings"] = role, app.state.settings
        cases = _cases(ctx)
        # The valid requests, built while the account still has its 事務 (its own import, its own request).
        built = []
        for key, build in cases.items():
            if ROUTES[key] == OVERSIGHT or key == ("POST", "/logout"):
                continue
            try:
                built.append((key, build()))
            except Exception:  # noqa: BLE001 — a case that only its allowed roles can set up
                continue
        with db.transaction() as s:
            since = s.execute(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1)).scalar() or 0
        _rebind(db, ctx["staff"].login_id, cast, atena)
        problems = []
        for (method, path), req in built:
            url = path.format(**req.pop("path", {}))
            r = client.request(method, url, **req)
            # Not the person: the search form's placeholder and the term typed into it.
            body = r.content.decode("utf-8", "replace").replace('placeholder="ヤマダ タロウ"', "").replace(
                'value="ヤマダ"', "")
            leaked = [m for m in MARKERS if m in body]
            if leaked:
                problems.append(f"{method} {path}: {r.status_code} shows {leaked}")
    problems += _leaks(db, ctx["staff"].login_id, atena, since)
    assert not problems, f"{role} ({cast}):\n" + "\n".join(problems)


@pytest.mark.parametrize("code", sorted(KINDS))
def test_every_approval_kind_declares_its_tasks_and_is_hidden_outside_them(code, db, settings, make_staff, persons):
    """Each kind names the 事務 it belongs to; an approver without it neither lists, reads nor decides it."""
    from sesshu.approvals.models import ApprovalRequest
    from sesshu.approvals.service import approve, get_approval, list_approvals, overview
    from sesshu.clock import utcnow
    from sesshu.domain.errors import NotFound

    k = KINDS[code]
    assert k.tasks and all(t in access.TASKS for t in k.tasks)
    approver = make_staff("supervisor", login_id=f"approver-{code[:20]}")
    # The approver holds another 事務 only: relief for the vaccination kinds, vaccination for relief's.
    _rebind(db, approver.login_id, "none")
    other = next(t for t in ("kenko_higai_kyusai", "yobo_sesshu") if t not in k.tasks)
    access.assign(db, actor=ADMIN, login_id=approver.login_id, task_code=other, department="健康づくり課")
    actor = Actor(login_id=approver.login_id, kind="user", role="supervisor",
                  user_id=_user_id(db, approver.login_id))
    keys = __import__("sesshu.keys", fromlist=["load_keyring"]).load_keyring(settings)
    with db.transaction() as s:  # a pending request of this kind, as any clerk of its 事務 would file it
        row = ApprovalRequest(kind=code, status="requested", payload_ref="walk", payload_enc=keys.encrypt(
            "{}", aad="approval:walk"), summary=f"{k.label}（確認用）", reason="確認", requested_by="other",
            requested_by_user_id=None, requested_at=utcnow(), decision_comment="", result_ref="")
        s.add(row)
        s.flush()
        approval_id = row.id
    assert approval_id not in [a.id for a in list_approvals(db, actor=actor)]
    assert approval_id not in [a.id for a in overview(db, actor=actor).to_decide]
    with pytest.raises(NotFound):
        get_approval(db, settings, actor=actor, approval_id=approval_id)
    with pytest.raises(NotFound):
        approve(db, settings, actor=actor, approval_id=approval_id, expected_version=1)
    with db.transaction() as s:
        assert s.get(ApprovalRequest, approval_id).status == "requested"
