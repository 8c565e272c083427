"""Password rules (length, ID, shipped blocklist with simple variations, history), the user's own
change-password page, optional expiry, and one ID per person (no generic, shared IDs)."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from sesshu.auth.models import PasswordHistory, StaffUser
from sesshu.auth.passwords import common_passwords
from sesshu.auth.service import create_user
from sesshu.clock import utcnow
from sesshu.domain.errors import InvalidInput
from sesshu.web.app import create_app
from tests.web.conftest import ADMIN, PASSWORD, csrf_token, login


def test_shipped_blocklist_is_a_real_list():
    words = common_passwords()
    assert len(words) > 10000 and {"password", "123456", "qwerty", "iloveyou"} <= words


COMMON = "よく使われるパスワード"
CONTEXT = "市の名前やシステムの名前"  # the city's and the system's names (auth/data/context-words.txt)


@pytest.mark.parametrize("password, reason", [
    *[(p, COMMON) for p in ("Password2024!", "PASSWORD12345", "iloveyou1234567", "qwertyqwerty", "!!Sunshine2025",
                            "ｐａｓｓｗｏｒｄ２０２４！")],
    *[(p, CONTEXT) for p in ("kumagaya2026", "Kumagaya2026!", "KUMAGAYA-shi-2026", "ｋｕｍａｇａｙａ２０２６",
                             "2026熊谷市!!!!!!!", "sesshu-2026-!!!")]])
def test_common_passwords_and_the_citys_name_with_simple_variations_are_refused(settings, db, password, reason):
    with pytest.raises(InvalidInput, match=reason):
        create_user(db, settings, actor=ADMIN, login_id="yamada-t", display_name="山田", role="clerk",
                    password=password)


def test_short_password_and_password_with_the_id_are_refused(settings, db):
    with pytest.raises(InvalidInput, match="12文字以上"):
        create_user(db, settings, actor=ADMIN, login_id="yamada-t", display_name="山田", role="clerk",
                    password="Kx9#mQ2$vL")
    with pytest.raises(InvalidInput, match="IDを含めない"):
        create_user(db, settings, actor=ADMIN, login_id="yamada-t", display_name="山田", role="clerk",
                    password="my-YAMADA-T-is-long")


@pytest.mark.parametrize("login_id", ["admin", "Guest", "test01", "shared-2", "kyoyu", "kanri_1"])
def test_generic_shared_ids_are_refused(settings, db, login_id):
    with pytest.raises(InvalidInput, match="共用のID"):
        create_user(db, settings, actor=ADMIN, login_id=login_id, display_name="共用", role="clerk",
                    password=PASSWORD)


def test_ids_are_unique_regardless_of_who_asks(settings, db, make_staff):
    make_staff("clerk", login_id="suzuki-h")
    with pytest.raises(Exception, match="既に使われています"):
        create_user(db, settings, actor=ADMIN, login_id="suzuki-h", display_name="別人", role="clerk",
                    password="another-Long-passphrase")


def _change(client, csrf: str, current: str, new: str, confirm: str | None = None):
    return client.post("/account/password", data={"csrf_token": csrf, "current": current, "new": new,
                                                  "confirm": new if confirm is None else confirm})


NEW = "Hanabi-matsuri-natsu"


def test_change_password_needs_the_current_one(client, make_staff):
    csrf = login(client, make_staff("clerk"))
    r = _change(client, csrf, "not-the-password-123", NEW)
    assert r.status_code == 400 and "現在のパスワードが正しくありません" in r.text


def test_change_password_refuses_blocklisted_and_mismatched(client, make_staff):
    csrf = login(client, make_staff("clerk"))
    assert "よく使われるパスワード" in _change(client, csrf, PASSWORD, "Password2024!").text
    assert "一致しません" in _change(client, csrf, PASSWORD, NEW, NEW + "x").text


def test_changed_password_works_and_other_sessions_end(client, make_staff, app, db):
    staff = make_staff("clerk")
    with TestClient(app, follow_redirects=False) as elsewhere:
        login(elsewhere, staff)
        csrf = login(client, staff)
        r = _change(client, csrf, PASSWORD, NEW)
        assert r.status_code == 303 and r.headers["location"] == "/account/password?done=1"
        assert client.get("/").status_code == 200  # this session goes on
        assert elsewhere.get("/").headers["location"] == "/login"
    from tests.web.conftest import submit_password

    fresh = TestClient(app, follow_redirects=False)
    assert submit_password(fresh, staff.login_id, PASSWORD).status_code == 400
    assert submit_password(fresh, staff.login_id, NEW).status_code == 303


def test_the_last_five_passwords_cannot_be_reused(client, make_staff, db):
    csrf = login(client, make_staff("clerk"))
    chain = [PASSWORD] + [f"Hanabi-matsuri-natsu-{c}" for c in "abcde"]
    for old, new in zip(chain, chain[1:]):
        assert _change(client, csrf, old, new).status_code == 303
    # The last five (a..d and the current e) are refused; the sixth back (the first one) is free again.
    for reused in chain[1:]:
        r = _change(client, csrf, chain[-1], reused)
        assert r.status_code == 400 and "直近5回以内" in r.text, reused
    assert _change(client, csrf, chain[-1], chain[0]).status_code == 303
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(PasswordHistory)).scalar_one() == 5


def test_expired_password_forces_the_change_page_first(settings, db, make_staff):
    app = create_app(dataclasses.replace(settings, password_max_age_days=90))
    staff = make_staff("clerk")
    with db.transaction() as s:
        s.execute(update(StaffUser).values(password_changed_at=utcnow() - timedelta(days=91)))
    with TestClient(app, follow_redirects=False) as c:
        login_to_change_page(c, staff)
        assert c.get("/search", params={"kana": "ヤ"}).headers["location"] == "/account/password"
        api = c.get("/api/v1/persons", params={"kana": "ヤ"})
        assert api.status_code == 403 and api.json()["error"]["code"] == "E_PASSWORD_EXPIRED"
        page = c.get("/account/password")
        assert page.status_code == 200 and "有効期間が過ぎています" in page.text
        assert _change(c, csrf_token(page.text), PASSWORD, NEW).status_code == 303
        assert c.get("/").status_code == 200
    app.state.db.dispose()


def login_to_change_page(client, staff) -> None:
    from tests.web.conftest import submit_code, submit_password

    submit_password(client, staff.login_id)
    assert submit_code(client, staff.next_code()).headers["location"] == "/"
    assert client.get("/").headers["location"] == "/account/password"


def test_no_forced_rotation_by_default(client, make_staff, db):
    staff = make_staff("clerk")
    with db.transaction() as s:
        s.execute(update(StaffUser).values(password_changed_at=utcnow() - timedelta(days=3000)))
    login(client, staff)
    assert client.get("/").status_code == 200
