"""Web fixtures: the app on the test database, staff accounts, and signing in through the real forms."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from sesshu.actor import Actor
from sesshu.auth.permissions import has_permission
from sesshu.auth.service import create_user
from sesshu.clock import utcnow
from sesshu.ledger.models import VaccinationRecord
from sesshu.registry.service import import_registry
from sesshu.web.app import create_app
from tests.helpers import REGISTRY_HEADER, my_number, write

PASSWORD = "kumagaya-Sesshu-2026"
ADMIN = Actor(login_id="setup", kind="os", role="operator")
MY_NUMBER = my_number("12345678901")
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Staff:
    login_id: str
    role: str
    secret: str
    last_step: int = field(default=0)

    def next_code(self) -> str:
        """A code for a time step this account has not used yet (a step can be used only once) and that
        the server still accepts (one step of drift either way): waits for the clock when all are used."""
        while True:
            now = time.time()
            now_step = int(now) // 30
            # The previous step only while it stays acceptable for a while (it lapses at the next boundary).
            oldest = now_step - 1 if now % 30 < 20 else now_step
            step = max(self.last_step + 1, oldest)
            if step <= now_step + 1:
                self.last_step = step
                return pyotp.TOTP(self.secret).at(step * 30)
            time.sleep(30 - now % 30 + 0.05)


@pytest.fixture
def app(settings, db):
    application = create_app(settings)
    yield application
    application.state.db.dispose()


@pytest.fixture
def client(app):
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture
def make_staff(settings, db):
    def make(role: str, login_id: str | None = None, valid_until: date | None = None) -> Staff:
        login_id = login_id or f"{role.replace('_', '-')}-1"
        # Staff who handle persons do so for the vaccination task (団体内統合宛名のアクセス制御).
        tasks = ((("yobo_sesshu", "健康づくり課"),)
                 if has_permission(role, "person.view") or has_permission(role, "billing.view") else ())
        user = create_user(db, settings, actor=ADMIN, login_id=login_id, display_name=f"職員 {login_id}", role=role,
                           password=PASSWORD, valid_until=valid_until, tasks=tasks)
        return Staff(login_id=login_id, role=role, secret=user.totp_secret)

    return make


def csrf_token(html: str) -> str:
    m = CSRF_INPUT.search(html)
    assert m, "no csrf_token field on the page"
    return m.group(1)


def submit_password(client: TestClient, login_id: str, password: str = PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"login_id": login_id, "password": password,
                                       "csrf_token": csrf_token(page.text)})


def submit_code(client: TestClient, code: str):
    page = client.get("/login/totp")
    return client.post("/login/totp", data={"code": code, "csrf_token": csrf_token(page.text)})


def login(client: TestClient, staff: Staff) -> str:
    """Sign in through both forms; returns the session's CSRF token."""
    r = submit_password(client, staff.login_id)
    assert r.status_code == 303 and r.headers["location"] == "/login/totp", r.text
    r = submit_code(client, staff.next_code())
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    return csrf_token(client.get("/").text)


@pytest.fixture
def persons(settings, db, tmp_path) -> dict[str, str]:
    """Two residents: an ordinary one (with a My Number) and one whose name is an HTML injection attempt."""
    rows = [
        f"1001,{MY_NUMBER},山田　太郎,ヤマダ　タロウ,男,2020-04-01,360-0001,熊谷市宮町一丁目1番地,048-000-0000,"
        "5001,世帯主,山田　太郎,住民,,",
        "1002,,<script>alert(1)</script>,アクイ　テスト,女,R2.5.3,360-0002,熊谷市末広二丁目2番地,,5002,世帯主,"
        "<b>悪意</b>,住民,,",
    ]
    path = write(Path(tmp_path) / "registry.csv", REGISTRY_HEADER + "\n" + "\n".join(rows) + "\n")
    summary = import_registry(db, settings, path=path, actor=ADMIN)
    assert summary.accepted == 2, summary
    return {"plain": "1001", "hostile": "1002"}


def add_record(db, atena_no: str, vaccine: str = "MR", on: date = date(2021, 4, 10), **values) -> int:
    now = utcnow()
    with db.transaction() as s:
        r = VaccinationRecord(**{"dose_no": 1, "category": "routine_a", "screening_result": "vaccinated",
                                 "lot_no": "AB123", "created_by": "setup", **values},
                              atena_no=atena_no, vaccine_code=vaccine, vaccinated_on=on, status="active",
                              created_at=now, updated_at=now)
        s.add(r)
        s.flush()
        return r.id


def record_version(db, record_id: int) -> int:
    with db.transaction() as s:
        return s.get(VaccinationRecord, record_id).version


def confirmed_non_resident(db, settings, *, name: str = "里帰　花子", birth_date: str = "1995-06-15") -> str:
    """A 住登外者 created through the two-person check (a clerk asks, a supervisor approves); its 宛名番号."""
    from sqlalchemy import select as _select

    from sesshu.approvals import service as approvals
    from sesshu.auth.models import StaffUser

    actors = {}
    for login_id, role in (("nr-clerk", "clerk"), ("nr-boss", "supervisor")):
        with db.transaction() as s:
            uid = s.execute(_select(StaffUser.id).where(StaffUser.login_id == login_id)).scalar()
        if uid is None:
            create_user(db, settings, actor=ADMIN, login_id=login_id, display_name=login_id, role=role,
                        password=PASSWORD, tasks=(("yobo_sesshu", "健康づくり課"),))
            with db.transaction() as s:
                uid = s.execute(_select(StaffUser.id).where(StaffUser.login_id == login_id)).scalar_one()
        actors[role] = Actor(login_id=login_id, kind="user", role=role, user_id=uid)
    req = approvals.request_approval(db, settings, actor=actors["clerk"], kind="non_resident_registration",
                                     raw={"name": name, "name_kana": "サトガエリ　ハナコ", "sex": "F",
                                          "birth_date": birth_date, "postal_code": "360-0042",
                                          "address": "熊谷市筑波2-2-2", "phone": ""},
                                     reason="住所地外接種の届出")
    return approvals.approve(db, settings, actor=actors["supervisor"], approval_id=req.id,
                             expected_version=req.version).result_ref
