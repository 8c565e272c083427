"""Every route against every role: allowed exactly when ROLES grants the route's declared permission."""
from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sesshu.auth.permissions import PERMISSIONS, ROLES, has_permission
from sesshu.clock import today_jst
from sesshu.domain.schedule import PANDEMIC_DIR
from sesshu.domain.schedule.upload import sha256_of
from sesshu.web.deps import route_table
from tests.web.conftest import MY_NUMBER, PASSWORD, add_record, login, record_version
from tests.web.softauthn import SoftAuthenticator
from tests.web.test_audit_pages import audit_checkpoint_day

# Public routes: the sign-in steps and the health check.
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/login/totp"), ("POST", "/login/totp"), ("GET", "/healthz"),
          ("GET", "/login/passkey"), ("POST", "/login/passkey/options"), ("POST", "/login/passkey/verify"),
          ("GET", "/.well-known/jwks.json")}

_COVID = (PANDEMIC_DIR / "covid-2021.yaml").read_text(encoding="utf-8")


def _cases(ctx: dict) -> dict:
    """One valid request per route (a new route fails the test until it is added here)."""
    atena, rec = ctx["atena_no"], ctx["record_id"]
    version = lambda: record_version(ctx["db"], rec)  # noqa: E731 — read fresh: the supervisor changes it
    form = lambda **v: {"data": {"csrf_token": ctx["csrf"], **v}}  # noqa: E731
    api = lambda body: {"json": body, "headers": {"X-CSRF-Token": ctx["csrf"]}}  # noqa: E731
    return {
        ("GET", "/"): lambda: {},
        ("GET", "/search"): lambda: {"params": {"kana": "ヤマダ"}},
        ("POST", "/search/export"): lambda: {"params": {"kana": "ヤマダ"}, **form(
            purpose="権限の確認", password="correct-horse-42", password_confirmation="correct-horse-42")},
        ("GET", "/persons/{atena_no}"): lambda: {"path": {"atena_no": atena}},
        ("POST", "/records/{record_id}/correct"): lambda: {
            "path": {"record_id": rec},
            **form(atena_no=atena, expected_version=str(version()), reason="権限の確認",
                   lot_no=f"LOT{version()}", orig_lot_no="")},
        ("GET", "/records/{record_id}/history"): lambda: {"path": {"record_id": rec}},
        ("GET", "/records/{record_id}/edit"): lambda: {"path": {"record_id": rec}},
        ("GET", "/records"): lambda: {"params": {"lot_no": "AB123"}},
        ("GET", "/imports/sample.csv"): lambda: {},
        ("POST", "/admin/accounts/new"): lambda: form(login_id=f"new-{ctx['role']}-x", display_name="新規 職員",
                                                      role="auditor", valid_until="", task="", department=""),
        ("POST", "/admin/accounts/{login_id}/password-reset"): lambda: {
            "path": {"login_id": ctx["other_login"]}, **form(reason="権限の確認")},
        ("GET", "/records/{record_id}/own"): lambda: {"path": {"record_id": _own_record(ctx)}},
        ("POST", "/records/{record_id}/own/correct"): lambda: {"path": {"record_id": _own_record(ctx)}, **form(
            atena_no=atena, expected_version="1", lot_no="OWN-2", orig_lot_no="AB123", reason="権限の確認")},
        ("POST", "/records/{record_id}/own/void"): lambda: {"path": {"record_id": _own_record(ctx)}, **form(
            atena_no=atena, expected_version="1", reason="権限の確認")},
        ("POST", "/persons/{atena_no}/conditions"): lambda: {"path": {"atena_no": atena}, **form(
            condition_code="designated_disability", impairment="kidney", evidence_kind="handbook", evidence_grade="1",
            evidence_no="第1号", reason="権限の確認")},
        ("POST", "/persons/{atena_no}/conditions/{condition_id}/end"): lambda: {
            "path": {"atena_no": atena, "condition_id": _condition(ctx)}, **form(mode="withdraw", reason="権限の確認")},
        ("POST", "/persons/{atena_no}/pregnancies"): lambda: {"path": {"atena_no": "1002"}, **form(
            expected_delivery=(today_jst() + timedelta(days=100)).isoformat(), notified_on=today_jst().isoformat())},
        ("POST", "/persons/{atena_no}/pregnancies/{pregnancy_id}/withdraw"): lambda: {
            "path": {"atena_no": "1002", "pregnancy_id": _pregnancy(ctx)}, **form(reason="権限の確認")},
        ("GET", "/api/v1/openapi.json"): lambda: {},
        ("GET", "/api/v1/persons"): lambda: {"params": {"kana": "ヤマダ"}},
        ("GET", "/api/v1/persons/{atena_no}"): lambda: {"path": {"atena_no": atena}},
        ("GET", "/api/v1/fhir/Patient/{atena_no}/$everything"): lambda: {"path": {"atena_no": atena}},
        ("GET", "/api/v1/persons/{atena_no}/shc"): lambda: {"path": {"atena_no": atena}},
        ("GET", "/api/v1/persons/{atena_no}/shc.pdf"): lambda: {"path": {"atena_no": atena}},
        ("POST", "/api/v1/records/{record_id}/correct"): lambda: {
            "path": {"record_id": rec},
            **api({"expected_version": version(), "reason": "権限の確認", "changes": {"lot_no": f"API{version()}"}})},
        # Voiding ends the record, so it runs on a record of its own (see ctx["void_ids"]).
        ("POST", "/records/{record_id}/void"): lambda: {
            "path": {"record_id": ctx["void_ids"].pop()}, **form(atena_no=atena, expected_version="1", reason="確認")},
        ("POST", "/api/v1/records/{record_id}/void"): lambda: {
            "path": {"record_id": ctx["void_ids"].pop()}, **api({"expected_version": 1, "reason": "権限の確認"})},
        ("GET", "/admin/assignments"): lambda: {},
        ("POST", "/admin/assignments"): lambda: form(login_id=ctx["other_login"], task_code="kenko_higai_kyusai",
                                                     department="健康づくり課"),
        ("POST", "/admin/assignments/remove"): lambda: form(login_id=ctx["other_login"],
                                                            task_code="yobo_sesshu"),
        ("GET", "/persons/{atena_no}/mynumber/reveal"): lambda: {"path": {"atena_no": atena}},
        ("POST", "/persons/{atena_no}/mynumber/reveal"): lambda: {
            "path": {"atena_no": atena}, **form(purpose="linkage", reason="権限の確認")},
        ("GET", "/persons/{atena_no}/mynumber/verify"): lambda: {"path": {"atena_no": atena}},
        ("POST", "/persons/{atena_no}/mynumber/verify"): lambda: {
            "path": {"atena_no": atena}, **form(number=MY_NUMBER, document="mynumber_card", name_confirmed="1",
                                                birth_date_confirmed="1", sex_confirmed="1", address_confirmed="1")},
        ("GET", "/approvals"): lambda: {},
        ("GET", "/approvals/{approval_id}"): lambda: {"path": {"approval_id": _approval(ctx, mine=True)}},
        ("POST", "/approvals/{approval_id}/approve"): lambda: {
            "path": {"approval_id": _approval(ctx)}, **form(expected_version="1")},
        ("POST", "/approvals/{approval_id}/reject"): lambda: {
            "path": {"approval_id": _approval(ctx)}, **form(expected_version="1", comment="権限の確認")},
        ("POST", "/approvals/{approval_id}/withdraw"): lambda: {
            "path": {"approval_id": _approval(ctx, mine=True)}, **form(expected_version="1")},
        ("GET", "/persons/new"): lambda: {},
        ("POST", "/persons/new"): lambda: form(name="権限 確認", name_kana="ケンゲン カクニン", sex="M",
                                               birth_date="2019-02-02", address="熊谷市宮町1-1", reason="権限の確認"),
        ("POST", "/records/{record_id}/reassign"): lambda: {
            "path": {"record_id": rec},
            **form(atena_no=atena, expected_version=str(version()), to_atena_no="1002", reason="権限の確認")},
        ("GET", "/api/v1/approvals"): lambda: {},
        ("GET", "/api/v1/approvals/{approval_id}"): lambda: {"path": {"approval_id": _approval(ctx, mine=True)}},
        ("POST", "/api/v1/approvals/{approval_id}/approve"): lambda: {
            "path": {"approval_id": _approval(ctx)}, **api({"expected_version": 1})},
        ("POST", "/api/v1/approvals/{approval_id}/reject"): lambda: {
            "path": {"approval_id": _approval(ctx)}, **api({"expected_version": 1, "comment": "権限の確認"})},
        ("POST", "/api/v1/approvals/{approval_id}/withdraw"): lambda: {
            "path": {"approval_id": _approval(ctx, mine=True)}, **api({"expected_version": 1})},
        ("GET", "/audit"): lambda: {},
        ("POST", "/audit/verify"): lambda: form(),
        ("GET", "/audit/checkpoints"): lambda: {},
        ("GET", "/audit/checkpoints/{day}"): lambda: {"path": {"day": ctx["checkpoint_day"]}},
        ("GET", "/audit/anomalies"): lambda: {"params": {"from": "2026-01-01", "to": "2026-01-31"}},
        ("GET", "/audit/entries"): lambda: {"params": {"atena_no": atena}},
        ("GET", "/account/passkeys"): lambda: {},
        ("POST", "/account/passkeys/options"): lambda: api({}),
        ("POST", "/account/passkeys/verify"): lambda: api(_passkey_answer(ctx)),
        ("POST", "/account/passkeys/{passkey_id}/delete"): lambda: {
            "path": {"passkey_id": _passkey(ctx)}, **form()},
        ("GET", "/account/password"): lambda: {},
        ("POST", "/account/password"): lambda: form(current=_password(ctx, "Kensho-no-tame-no-2026"),
                                                    new="Kensho-no-tame-no-2026", confirm="Kensho-no-tame-no-2026"),
        ("GET", "/reauth"): lambda: {"params": {"next": "/"}},
        ("POST", "/reauth"): lambda: form(password=_password(ctx), code=_totp_code(ctx), next="/"),
        ("POST", "/reauth/passkey/options"): lambda: (_passkey(ctx), api({}))[1],  # needs a passkey
        ("POST", "/reauth/passkey/verify"): lambda: api(_reauth_answer(ctx)),
        ("GET", "/admin/accounts"): lambda: {},
        ("POST", "/admin/accounts/{login_id}/totp-fallback"): lambda: {
            "path": {"login_id": ctx["other_login"]}, **form(allowed="1", reason="権限の確認")},
        ("GET", "/admin/accounts/review"): lambda: {"params": {"unused_days": "90"}},
        ("POST", "/admin/accounts/{login_id}/deactivate"): lambda: {
            "path": {"login_id": _lifecycle_target(ctx, active=True)}, **form(reason="権限の確認")},
        ("POST", "/admin/accounts/{login_id}/reactivate"): lambda: {
            "path": {"login_id": _lifecycle_target(ctx, active=False)}, **form(reason="権限の確認")},
        ("POST", "/admin/accounts/{login_id}/valid-until"): lambda: {
            "path": {"login_id": _lifecycle_target(ctx)}, **form(valid_until=_next_valid_until(ctx), reason="権限の確認")},
        ("POST", "/admin/accounts/{login_id}/role"): lambda: {
            "path": {"login_id": _lifecycle_target(ctx)}, **form(role=_other_role(ctx), reason="権限の確認")},
        ("GET", "/persons/{atena_no}/tickets"): lambda: {"path": {"atena_no": atena}},
        ("POST", "/persons/{atena_no}/tickets/issue"): lambda: {
            "path": {"atena_no": atena}, **form(vaccine="JE", history_confirmed="1")},
        ("POST", "/persons/{atena_no}/tickets/reissue"): lambda: {
            "path": {"atena_no": _live_ticket(ctx)}, **form(vaccine="JE", reason="紛失")},
        ("POST", "/persons/{atena_no}/certificate"): lambda: {"path": {"atena_no": atena}, **form(
            requested_by="権限 確認", relationship="本人", identity_method="運転免許証", kind="history")},
        ("GET", "/notices"): lambda: {},
        ("POST", "/notices"): lambda: form(vaccine="JE", as_of=today_jst().isoformat(), within="0"),
        ("GET", "/notices/jobs/{job_id}"): lambda: {"path": {"job_id": _notice_job(ctx)}},
        ("POST", "/notices/jobs/{job_id}/resume"): lambda: {"path": {"job_id": _notice_job(ctx)}, **form()},
        ("GET", "/notices/jobs/{job_id}/files/{name}"): lambda: {"path": {"job_id": _notice_job(ctx),
                                                                          "name": _notice_pdf(ctx)}},
        ("POST", "/notices/jobs/{job_id}/mailing.zip"): lambda: {"path": {"job_id": _notice_job(ctx)}, **form(
            purpose="権限の確認", password="correct-horse-42", password_confirmation="correct-horse-42")},
        ("GET", "/rulesets"): lambda: {},
        ("POST", "/rulesets/check"): lambda: {**form(), "files": {"file": (
            "covid-2021.yaml", (PANDEMIC_DIR / "covid-2021.yaml").read_bytes(), "application/x-yaml")}},
        ("POST", "/rulesets/propose"): lambda: form(text=_COVID, sha256=sha256_of(_COVID), reason="権限の確認"),
        ("GET", "/billing"): lambda: {},
        ("POST", "/billing/run"): lambda: form(month="2026-06", transfer_date="2026-07-24"),
        ("GET", "/billing/subsidies"): lambda: {},
        ("POST", "/billing/subsidies"): lambda: form(atena_no=atena, fiscal_year="2026"),
        ("POST", "/billing/subsidies/override"): lambda: form(atena_no=atena, fiscal_year="2026", outcome="exempt",
                                                              reason="権限の確認"),
        ("GET", "/billing/{month}"): lambda: {"path": {"month": _billing_month(ctx, "2026-05")}},
        ("POST", "/billing/{month}/close"): lambda: {"path": {"month": _billing_month(ctx, "2026-07")}, **form()},
        ("POST", "/billing/{month}/reopen"): lambda: {
            "path": {"month": _billing_month(ctx, "2026-12", closed=True)}, **form(reason="権限の確認")},
        ("GET", "/billing/{month}/statements/{code}.pdf"): lambda: {
            "path": {"month": _billing_month(ctx, "2026-05"), "code": _billing_institution(ctx)}},
        ("GET", "/billing/{month}/returns.pdf"): lambda: {"path": {"month": _billing_month(ctx, "2026-05")}},
        ("GET", "/billing/{month}/summary.csv"): lambda: {"path": {"month": _billing_month(ctx, "2026-05")}},
        ("GET", "/billing/{month}/zengin.txt"): lambda: {"path": {"month": _billing_month(ctx, "2026-05")}},
        ("GET", "/billing/imports"): lambda: {},
        ("POST", "/billing/imports/{kind}"): lambda: {"path": {"kind": "claims"}, **form(), "files": {"file": (
            "claims.csv", f"請求月,医療機関コード,接種種別,件数,金額\n2026-08,{_billing_institution(ctx)},BCG,1,1000\n"
            .encode("cp932"), "text/csv")}},
        ("GET", "/records/new"): lambda: {"params": {"atena_no": atena}},
        ("POST", "/records/new"): lambda: form(atena_no=atena, vaccinated_on="R3.5.1", vaccine_code="PCV"),
        ("POST", "/records/check"): lambda: api({"atena_no": atena, "vaccinated_on": "R3.5.1", "vaccine_code": "HIB"}),
        ("GET", "/counts"): lambda: {"params": {"vaccine": "JE"}},
        ("POST", "/counts/daily.csv"): lambda: form(vaccine="JE"),
        ("GET", "/persons/{atena_no}/away"): lambda: {"path": {"atena_no": _non_resident(ctx)}},
        ("POST", "/persons/{atena_no}/away"): lambda: {"path": {"atena_no": _non_resident(ctx)}, **form(
            reason="student", home_municipality="横浜市", vaccine="COVID", period_from=today_jst().isoformat(),
            period_until=today_jst().isoformat())},
        ("POST", "/persons/{atena_no}/away/{notice_no}/close"): lambda: {
            "path": {"atena_no": _non_resident(ctx), "notice_no": _away_notice(ctx)}, **form(
                kind="ended", reason="権限の確認", closed_on=today_jst().isoformat())},
        ("GET", "/venue"): lambda: {},
        ("POST", "/venue/scan"): lambda: api({"scan": _venue_scan(ctx), "station": {"vaccine_code": "JE"}}),
        ("POST", "/venue/record"): lambda: api({"scan": _venue_scan(ctx), "station": {"vaccine_code": "JE"}}),
        ("POST", "/venue/undo"): lambda: api(_venue_record(ctx)),
        ("GET", "/imports"): lambda: {},
        ("POST", "/imports/records"): lambda: {**form(), "files": {"file": ("rec.csv", _records_csv(), "text/csv")}},
        ("GET", "/imports/jobs/{job_id}"): lambda: {"path": {"job_id": _import_job(ctx)}},
        ("GET", "/imports/jobs/{job_id}/status"): lambda: {"path": {"job_id": _import_job(ctx)}},
        ("GET", "/imports/jobs/{job_id}/rejects"): lambda: {"path": {"job_id": _import_job(ctx)}},
        ("POST", "/imports/jobs/{job_id}/rejects.zip"): lambda: {"path": {"job_id": _import_job(ctx)}, **form(
            purpose="権限の確認", password="correct-horse-42", password_confirmation="correct-horse-42")},
        ("GET", "/account/settings"): lambda: {},
        ("POST", "/account/settings"): lambda: form(date_style="western"),
        ("GET", "/dashboard"): lambda: {},
        ("GET", "/search/results"): lambda: {"params": {"kana": "ヤマダ"}},
        ("GET", "/linkage"): lambda: {},
        ("POST", "/linkage/batches"): lambda: form(),
        ("POST", "/linkage/batches/{batch_id}/check"): lambda: {"path": {"batch_id": _batch(ctx)},
                                                                **form(expected_version="1")},
        ("POST", "/linkage/provisions/{provision_id}/decision"): lambda: {
            "path": {"provision_id": _held_provision(ctx)}, **form(decision="disclose", reason="権限の確認")},
        ("GET", "/persons/{atena_no}/linkage"): lambda: {"path": {"atena_no": atena}},
        # Files the inquiry for a supervisor's approval (nothing is sent): a redirect to the request.
        ("POST", "/persons/{atena_no}/linkage/inquire"): lambda: {"path": {"atena_no": atena},
                                                                  **form(provider="112089", purpose="権限の確認")},
        ("GET", "/retention"): lambda: {},
        ("POST", "/retention/request"): lambda: (_long_deceased(ctx), form(category="ledger_deceased",
                                                                             reason="権限の確認"))[1],
        ("GET", "/inquiries"): lambda: {},
        ("POST", "/inquiries"): lambda: form(kind="inquiry", channel="phone", requester_name="権限 確認",
                                             requester_relation="other", identity_method="none", question="権限の確認"),
        ("GET", "/inquiries/{inquiry_id}"): lambda: {"path": {"inquiry_id": _inquiry(ctx, "disclosure")}},
        ("POST", "/inquiries/{inquiry_id}/answer"): lambda: {
            "path": {"inquiry_id": _inquiry(ctx, "inquiry")}, **form(expected_version="1", answer="権限の確認")},
        ("POST", "/inquiries/{inquiry_id}/suspend"): lambda: {
            "path": {"inquiry_id": _inquiry(ctx, "suspension", atena_no=_long_deceased(ctx) or "1999")}, **form()},
        ("POST", "/inquiries/{inquiry_id}/correct"): lambda: {
            "path": {"inquiry_id": _inquiry(ctx, "correction")},
            **form(record=f"{rec}:{version()}", field="lot_no", value=f"INQ{version()}")},
        ("GET", "/inquiries/{inquiry_id}/package.pdf"): lambda: {"path": {"inquiry_id": _inquiry(ctx, "disclosure")}},
        ("GET", "/relief"): lambda: (_relief_staff(ctx), {})[1],
        ("POST", "/relief"): lambda: (_relief_staff(ctx), form(
            atena_no=atena, record_id=str(rec), claimant_name="権限 確認", claimant_relation="本人",
            claim_medical_expenses="1", doc_claim_form="1"))[1],
        ("GET", "/relief/payments"): lambda: (_relief_staff(ctx), {"params": {"month": "2026-11"}})[1],
        ("GET", "/relief/{case_id}"): lambda: {"path": {"case_id": _relief_case(ctx)}},
        ("POST", "/relief/{case_id}/steps"): lambda: {
            "path": {"case_id": _relief_case(ctx)}, **form(expected_version="1", step="note", note="権限の確認")},
        ("POST", "/relief/{case_id}/correction"): lambda: (lambda case, benefit: {
            "path": {"case_id": case}, **form(benefit_id=str(benefit), amount="1000", reason="権限の確認")})(
            *_relief_decision(ctx)),
        ("POST", "/relief/payments/zengin"): lambda: (_relief_staff(ctx), form(
            month="2026-11", transfer_date="2099-01-05", purpose="権限の確認", password="correct-horse-42",
            password_confirmation="correct-horse-42"))[1],
        # Last: it ends the session.
        ("POST", "/logout"): lambda: form(),
    }


def _records_csv() -> bytes:
    from tests.helpers import RECORD_HEADER

    return (RECORD_HEADER + "\n1001,BCG,,1,,R2.9.1,接種,,,,,,,,,,,,,,\n9999,BCG,,1,,R2.9.1,接種,,,,,,,,,,,,,,\n").encode("cp932")


def _import_job(ctx: dict) -> str:
    """A finished import (with one rejected row) by the signed-in user, or any id for other roles."""
    import time

    if not has_permission(ctx["role"], "record.import"):
        return "not-a-job-0000"
    if "job" not in ctx:
        r = ctx["client"].post("/imports/records", data={"csrf_token": ctx["csrf"]},
                               files={"file": ("rec2.csv", _records_csv(), "text/csv")})
        ctx["job"] = r.headers["location"].rsplit("/", 1)[1]
        for _ in range(200):
            if ctx["client"].get(f"/imports/jobs/{ctx['job']}/status").json()["finished"]:
                break
            time.sleep(0.05)
    return ctx["job"]


def _approval(ctx: dict, *, mine: bool = False) -> int:
    """A pending 住登外 request by the signed-in user (when the role may request) or else by another clerk."""
    from sesshu.actor import Actor
    from sesshu.approvals.service import request_approval
    from sesshu.auth.models import StaffUser

    from sesshu.access.service import assign
    from tests.web.conftest import ADMIN

    role = ctx["role"]
    own = mine and has_permission(role, "approval.request")
    login_id = f"{role.replace('_', '-')}-1" if own else ctx["other_login"]
    if not own:  # the requester holds the kind's 事務 (an earlier case may have taken it away)
        assign(ctx["db"], actor=ADMIN, login_id=login_id, task_code="yobo_sesshu", department="健康づくり課")
    with ctx["db"].transaction() as s:
        user_id = s.execute(select(StaffUser.id).where(StaffUser.login_id == login_id)).scalar_one()
    ctx["approvals"] = ctx.get("approvals", 0) + 1  # a different person each time: one pending request per person
    out = request_approval(ctx["db"], ctx["settings"],
                           actor=Actor(login_id=login_id, kind="user", role=role if own else "clerk", user_id=user_id),
                           kind="non_resident_registration", reason="権限の確認",
                           raw={"name": "権限 確認", "name_kana": "ケンゲン カクニン", "sex": "F",
                                "birth_date": f"2018-01-{ctx['approvals']:02d}", "address": "熊谷市宮町1-1"})
    return out.id


def _live_ticket(ctx: dict) -> str:
    """The person, holding a live JE ticket (issued by the issue case, or here when that was refused)."""
    from sesshu.domain.errors import Conflict
    from sesshu.tickets.service import issue_for_move_in
    from tests.web.conftest import ADMIN

    try:
        issue_for_move_in(ctx["db"], ctx["settings"], actor=ADMIN, atena_no=ctx["atena_no"], vaccine="JE",
                          history_confirmed=True)
    except Conflict:
        pass  # already holds one
    return ctx["atena_no"]


def _non_resident(ctx: dict) -> str:
    """A 住登外者 (created through the two-person check), once per role."""
    from tests.web.conftest import confirmed_non_resident

    if "non_resident" not in ctx:
        ctx["non_resident"] = confirmed_non_resident(ctx["db"], ctx["settings"], name=f"権限　{ctx['role'][:4]}")
    return ctx["non_resident"]


def _venue_scan(ctx: dict) -> str:
    """The OCR line of a JE ticket of the person, the same one for every venue case of the role."""
    from sesshu.tickets.models import Ticket
    from sesshu.tickets.service import ocr_line

    if "venue_scan" not in ctx:
        _live_ticket(ctx)
        with ctx["db"].transaction() as s:
            t = s.execute(select(Ticket).where(Ticket.atena_no == ctx["atena_no"], Ticket.vaccine == "JE",
                                               Ticket.state == "issued")).scalar_one()
            ctx["venue_scan"] = ocr_line(ctx["settings"], t)
    return ctx["venue_scan"]


def _venue_record(ctx: dict) -> dict:
    """A dose the signed-in user has just recorded at a station (any id for roles that may not)."""
    if not has_permission(ctx["role"], "record.enter"):
        return {"record_id": 1, "version": 1}
    r = ctx["client"].post("/venue/record", json={"scan": _venue_scan(ctx), "station": {"vaccine_code": "JE"}},
                           headers={"X-CSRF-Token": ctx["csrf"]})
    assert r.status_code == 200, r.text
    return {"record_id": r.json()["record_id"], "version": r.json()["version"]}


def _notice_job(ctx: dict) -> int:
    """A finished notice batch (the MR batch of tomorrow: the JE cases leave everyone holding a JE ticket),
    run by the signed-in user when the role may run batches (a batch's files are its starter's), else by
    the operator."""
    from datetime import timedelta

    from sesshu.actor import Actor
    from sesshu.auth.models import StaffUser
    from sesshu.jobs import list_jobs
    from sesshu.tickets.notices import run_notices
    from tests.web.conftest import ADMIN

    # Not the batch the POST /notices case starts: that one runs in the server's background thread.
    tomorrow = (today_jst() + timedelta(days=1)).isoformat()
    jobs = [j for j in list_jobs(ctx["db"], kind="notices") if j["params"]["as_of"] == tomorrow]
    if jobs:
        return jobs[0]["id"]
    actor = ADMIN
    if has_permission(ctx["role"], "notice.run"):
        with ctx["db"].transaction() as s:
            user_id = s.execute(select(StaffUser.id).where(StaffUser.login_id == ctx["staff"].login_id)).scalar_one()
        actor = Actor(login_id=ctx["staff"].login_id, kind="user", role=ctx["role"], user_id=user_id)
    return run_notices(ctx["db"], ctx["settings"], actor=actor, vaccine="MR", as_of=today_jst() + timedelta(days=1),
                       within_days=0, out_dir=ctx["settings"].var_dir / "notices-test").job_id


def _notice_pdf(ctx: dict) -> str:
    from sesshu.jobs import job_status

    files = job_status(ctx["db"], _notice_job(ctx))["result"].get("files", [])
    return files[0]["name"] if files else "notices.pdf"
def _billing_month(ctx: dict, month: str, *, closed: bool = False) -> str:
    """A computed 請求月 (closed when asked), made once through the service."""
    from datetime import date

    from sesshu.billing.service import close_month, run_month
    from tests.web.conftest import ADMIN

    done = ctx.setdefault("billing_months", set())
    if month not in done:
        run_month(ctx["db"], actor=ADMIN, month=month, transfer_date=date(2026, 12, 25))
        if closed:
            close_month(ctx["db"], actor=ADMIN, month=month)
        done.add(month)
    return month


def _billing_institution(ctx: dict) -> str:
    from sesshu.ledger.models import Institution

    with ctx["db"].transaction() as s:
        if s.get(Institution, "1110209999") is None:
            s.add(Institution(code="1110209999", name="権限確認クリニック", active=True))
    return "1110209999"
def _batch(ctx: dict) -> int:
    """A 副本 batch prepared by someone else (the operator's batch job), waiting for its check."""
    from sesshu.linkage.service import prepare_batch
    from tests.web.conftest import ADMIN

    return prepare_batch(ctx["db"], actor=ADMIN).id


def _held_provision(ctx: dict) -> int:
    """A provision held as 自動応答不可, as the linkage daemon leaves it when such a permit arrives."""
    from sesshu.clock import utcnow
    from sesshu.linkage.models import LinkageProvision

    with ctx["db"].transaction() as s:
        row = LinkageProvision(permit_id="P-permission-check", atena_no=ctx["atena_no"], requester="112089",
                               task="yobo_sesshu", info="vaccination_history", status="held", decision="",
                               received_at=utcnow())
        s.add(row)
        s.flush()
        return row.id
def _inquiry(ctx: dict, kind: str, atena_no: str | None = None) -> int:
    """A 受付票 taken at the counter (by the operator: any role may then be tried on it)."""
    from sesshu.disclosure.service import receive
    from tests.web.conftest import ADMIN

    return receive(ctx["db"], actor=ADMIN, kind=kind, atena_no="" if kind == "inquiry" else atena_no or ctx["atena_no"],
                   channel="counter", requester_name="権限 確認", requester_relation="self",
                   identity_method="none" if kind == "inquiry" else "mynumber_card", question="権限の確認").id


def _relief_staff(ctx: dict) -> None:
    """Relief cases need the relief 事務 besides the permission: assign the signed-in user to it."""
    from sesshu.access.service import assign
    from tests.web.conftest import ADMIN

    if has_permission(ctx["role"], "relief.manage") and not ctx.get("relief_assigned"):
        assign(ctx["db"], actor=ADMIN, login_id=ctx["staff"].login_id, task_code="kenko_higai_kyusai",
               department="健康づくり課")
        ctx["relief_assigned"] = True


def _relief_case(ctx: dict) -> int:
    """A relief case received (by the operator) for the person; the user is on the relief 事務."""
    from datetime import date

    from sesshu.relief.service import open_case
    from tests.web.conftest import ADMIN

    _relief_staff(ctx)
    from sesshu.relief.models import ReliefCase

    with ctx["db"].transaction() as s:  # one claim per vaccination: a second one is refused as a duplicate
        existing = s.execute(select(ReliefCase.id).where(ReliefCase.record_id == ctx["record_id"])).scalar()
    if existing:
        ctx["relief_case"] = existing
    if "relief_case" not in ctx:
        ctx["relief_case"] = open_case(ctx["db"], actor=ADMIN, atena_no=ctx["atena_no"], record_id=ctx["record_id"],
                                       claimant_name="権限 確認", claimant_relation="本人", claimed=["medical_expenses"],
                                       received_on=date(2026, 1, 5), documents=["claim_form"]).id
    return ctx["relief_case"]


def _relief_decision(ctx: dict) -> tuple[int, int]:
    """A fresh case (on a new vaccination record) certified with 医療費 52,000円: (case id, benefit id)."""
    from datetime import date

    from sesshu.clock import utcnow
    from sesshu.ledger.models import VaccinationRecord
    from sesshu.relief.service import add_step, open_case
    from tests.web.conftest import ADMIN

    _relief_staff(ctx)
    with ctx["db"].transaction() as s:
        r = VaccinationRecord(atena_no=ctx["atena_no"], vaccine_code="JE", vaccinated_on=date(2025, 6, 1), dose_no=1,
                              category="routine_a", screening_result="vaccinated", lot_no="L1", status="active",
                              created_at=utcnow(), created_by="setup", updated_at=utcnow())
        s.add(r)
        s.flush()
        record_id = r.id
    c = open_case(ctx["db"], actor=ADMIN, atena_no=ctx["atena_no"], record_id=record_id, claimant_name="権限 確認",
                  claimant_relation="本人", claimed=["medical_expenses"], received_on=date(2026, 1, 5), documents=[])
    for step, detail in (("committee", {"minutes": "確認", "result": "確認"}), ("sent_to_prefecture", {}),
                         ("national_decision", {"decision": "certified",
                                                "benefits": [{"kind": "medical_expenses", "amount": "52000"}]})):
        c = add_step(ctx["db"], actor=ADMIN, case_id=c.id, expected_version=c.version, step=step,
                     on_date=date(2026, 2, 1), detail=detail)
    return c.id, c.benefits[0].id


def _long_deceased(ctx: dict) -> None:
    """A person who died long past the ledger's retention period, so an erasure may be requested."""
    from datetime import date

    from sesshu.clock import utcnow
    from sesshu.registry.models import Person

    with ctx["db"].transaction() as s:
        if s.get(Person, "1999") is None:
            s.add(Person(atena_no="1999", name="故人 権限", name_key="故人権限", name_kana="コジン ケンゲン",
                         kana_key="コジンケンゲン", sex="M", birth_date=date(1930, 1, 1), registry_status="deceased",
                         died_on=date(2010, 1, 1), created_at=utcnow(), updated_at=utcnow()))


def _condition(ctx: dict) -> int:
    """An active condition of the person (the one the record case made, or a new one)."""
    from sesshu.conditions.models import PersonCondition
    from sesshu.conditions.schemas import ConditionEntry
    from sesshu.conditions.service import record_condition
    from tests.web.conftest import ADMIN

    with ctx["db"].transaction() as s:
        found = s.execute(select(PersonCondition.id).where(PersonCondition.atena_no == ctx["atena_no"],
                                                           PersonCondition.status == "active")).scalar()
    if found is not None:
        return found
    return record_condition(ctx["db"], actor=ADMIN, atena_no=ctx["atena_no"], entry=ConditionEntry(
        condition_code="designated_disability", impairment="heart", evidence_kind="handbook", evidence_grade=1,
        evidence_no="第2号", confirmed_on=today_jst(), reason="権限の確認")).id


def _away_notice(ctx: dict) -> str:
    """An accepted 住所地外接種の届出 of the cast's 住登外者 (a new one each call: closing it is the case)."""
    from sesshu.away.service import AwayRequest, accept
    from tests.web.conftest import ADMIN

    return accept(ctx["db"], ctx["settings"], actor=ADMIN, request=AwayRequest(
        atena_no=_non_resident(ctx), reason="student", home_municipality="横浜市", period_from=today_jst(),
        period_until=today_jst() + timedelta(days=30), vaccine="COVID")).notice_no


def _pregnancy(ctx: dict) -> int:
    """An active 妊娠届 of the woman of the cast (the one the record case made, or a new one)."""
    from sesshu.pregnancy.models import PregnancyNotice
    from sesshu.pregnancy.schemas import PregnancyEntry
    from sesshu.pregnancy.service import record_pregnancy
    from tests.web.conftest import ADMIN

    with ctx["db"].transaction() as s:
        found = s.execute(select(PregnancyNotice.id).where(PregnancyNotice.atena_no == "1002",
                                                           PregnancyNotice.status == "active")).scalar()
    if found is not None:
        return found
    return record_pregnancy(ctx["db"], actor=ADMIN, atena_no="1002", entry=PregnancyEntry(
        today_jst() + timedelta(days=100), today_jst())).id


def _lifecycle_target(ctx: dict, *, active: bool | None = None) -> str:
    """An account of its own for the lifecycle cases, active or not as the case needs."""
    from sesshu.auth.accounts import deactivate_account, reactivate_account
    from sesshu.auth.models import StaffUser
    from sesshu.auth.service import create_user
    from tests.web.conftest import ADMIN

    login_id = "lifecycle-target"
    with ctx["db"].transaction() as s:
        user = s.execute(select(StaffUser).where(StaffUser.login_id == login_id)).scalar_one_or_none()
        is_active = user.is_active if user else None
    if is_active is None:
        create_user(ctx["db"], ctx["settings"], actor=ADMIN, login_id=login_id, display_name="職員 対象",
                    role="clerk", password=PASSWORD)
        is_active = True
    if active is True and not is_active:
        reactivate_account(ctx["db"], actor=ADMIN, login_id=login_id, reason="権限の確認", today=today_jst())
    elif active is False and is_active:
        deactivate_account(ctx["db"], actor=ADMIN, login_id=login_id, reason="権限の確認")
    return login_id


def _next_valid_until(ctx: dict) -> str:
    from datetime import timedelta

    ctx["valid_until_days"] = ctx.get("valid_until_days", 30) + 1  # a different date each time
    return (today_jst() + timedelta(days=ctx["valid_until_days"])).isoformat()


def _other_role(ctx: dict) -> str:
    from sesshu.auth.models import StaffUser

    with ctx["db"].transaction() as s:
        current = s.execute(select(StaffUser.role).where(StaffUser.login_id == "lifecycle-target")).scalar_one()
    return "supervisor" if current == "clerk" else "clerk"


def _password(ctx: dict, new: str | None = None) -> str:
    """The signed-in user's password now (the change-password case sets a new one)."""
    current = ctx.get("password", PASSWORD)
    if new:
        ctx["password"] = new
    return current


def _totp_code(ctx: dict) -> str:
    """A TOTP code, with TOTP allowed again for the user (a registered passkey turns it off)."""
    from sesshu.auth.accounts import set_totp_fallback
    from tests.web.conftest import ADMIN

    set_totp_fallback(ctx["db"], actor=ADMIN, login_id=ctx["staff"].login_id, allowed=True, reason="権限の確認")
    return ctx["staff"].next_code()


def _json(ctx: dict, url: str, body: dict | None = None) -> dict:
    r = ctx["client"].post(url, json=body or {}, headers={"X-CSRF-Token": ctx["csrf"], "Accept": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()


def _passkey_answer(ctx: dict) -> dict:
    """A fresh registration answer from a software authenticator, to a challenge of this session."""
    ctx["key"] = SoftAuthenticator()
    return {"credential": ctx["key"].create(_json(ctx, "/account/passkeys/options")), "label": "権限の確認"}


def _passkey(ctx: dict) -> int:
    """Registers two passkeys (the last one cannot be removed while TOTP is off) and returns the first's id."""
    from sesshu.auth.models import WebAuthnCredential

    first = _passkey_answer(ctx)
    _json(ctx, "/account/passkeys/verify", first)
    _json(ctx, "/account/passkeys/verify", _passkey_answer(ctx))
    with ctx["db"].transaction() as s:
        return s.execute(select(WebAuthnCredential.id)
                         .where(WebAuthnCredential.credential_id == first["credential"]["id"])).scalar_one()


def _reauth_answer(ctx: dict) -> dict:
    _passkey(ctx)
    options = _json(ctx, "/reauth/passkey/options")
    return {"credential": ctx["key"].get(options), "password": _password(ctx), "next": "/"}


def test_every_route_declares_a_known_permission(app):
    for method, path, permission in route_table(app):
        if (method, path) in PUBLIC:
            assert permission is None, f"{method} {path} is public but declares {permission!r}"
        else:
            assert permission is not None, f"{method} {path} declares no permission"
            assert permission == "" or permission in PERMISSIONS, f"{method} {path}: {permission}"


def _own_record(ctx) -> int:
    """A record the signed-in staff member typed in by hand today (the own-day 訂正・取消 routes)."""
    from datetime import date, timedelta
    ctx["own_day"] = ctx.get("own_day", date(2021, 1, 1)) + timedelta(days=1)
    return add_record(ctx["db"], ctx["atena_no"], vaccine="JE", on=ctx["own_day"], created_by=ctx["staff"].login_id)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_gets_exactly_the_routes_its_permissions_allow(role, app, db, make_staff, persons):
    table = [(m, p, perm) for m, p, perm in route_table(app) if (m, p) not in PUBLIC]
    ctx = {"db": db, "atena_no": persons["plain"], "record_id": add_record(db, persons["plain"]),
           "void_ids": [add_record(db, persons["plain"], vaccine=v) for v in ("BCG", "VAR")],
           "other_login": make_staff("clerk", login_id="other-clerk").login_id}
    ctx["checkpoint_day"] = audit_checkpoint_day(db, app.state.settings)
    with TestClient(app, follow_redirects=False) as client:
        ctx["staff"], ctx["client"] = make_staff(role), client  # passkey cases ask for a challenge first
        ctx["csrf"] = login(client, ctx["staff"])
        ctx["role"], ctx["settings"] = role, app.state.settings  # approval requests are made through the service
        cases = _cases(ctx)
        assert {(m, p) for m, p, _ in table} == set(cases), "every route needs a request in _cases"
        for (method, path), build in cases.items():
            permission = next(perm for m, p, perm in table if (m, p) == (method, path))
            req = build()
            url = path.format(**req.pop("path", {}))
            r = client.request(method, url, **req)
            allowed = permission == "" or has_permission(role, permission)
            if allowed:
                assert r.status_code < 400, f"{role} {method} {path}: {r.status_code} {r.text[:300]}"
                assert r.headers.get("location") != "/login" or path == "/logout", f"{role} {method} {path}"
            else:
                assert r.status_code == 403, f"{role} {method} {path}: {r.status_code}"
                assert "権限がありません" in r.text
