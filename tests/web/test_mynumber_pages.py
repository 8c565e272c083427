"""My Number pages: masked everywhere, full number only by POST with a reason, 個人番号確認 at the counter."""
from __future__ import annotations

import io
import json
from datetime import timedelta

import pyzipper
from sqlalchemy import select, update

from sesshu.audit.models import AuditEntry
from sesshu.auth.models import WebSession
from sesshu.clock import utcnow
from sesshu.mynumber.models import MyNumberVerification
from tests.web.conftest import MY_NUMBER, csrf_token, login

MASKED = "********" + MY_NUMBER[-4:]
PASSWORD = "correct-horse-42"


def _entries(db, action: str) -> list[AuditEntry]:
    with db.transaction() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def test_the_number_is_masked_on_every_screen_and_export(client, make_staff, persons):
    csrf = login(client, make_staff("supervisor"))
    page = client.get(f"/persons/{persons['plain']}").text
    assert MASKED in page and MY_NUMBER not in page
    api = client.get(f"/api/v1/persons/{persons['plain']}")
    assert api.json()["person"]["my_number_masked"] == MASKED and MY_NUMBER not in api.text
    assert MY_NUMBER not in client.get("/search", params={"kana": "ヤマダ"}).text
    r = client.post("/search/export", params={"kana": "ヤマダ"},
                    data={"csrf_token": csrf, "purpose": "確認", "password": PASSWORD,
                          "password_confirmation": PASSWORD})
    with pyzipper.AESZipFile(io.BytesIO(r.content)) as z:
        z.setpassword(PASSWORD.encode())
        text = z.read(z.namelist()[0]).decode("utf-8-sig")
    assert "山田　太郎" in text and MY_NUMBER not in text and MY_NUMBER[-4:] not in text


def test_person_page_links_to_reveal_only_for_roles_that_may(client, make_staff, persons):
    login(client, make_staff("clerk"))
    page = client.get(f"/persons/{persons['plain']}").text
    assert "/mynumber/verify" in page and "/mynumber/reveal" not in page


def test_clerk_cannot_reveal_and_the_attempt_is_on_record(client, db, make_staff, persons):
    csrf = login(client, make_staff("clerk"))
    url = f"/persons/{persons['plain']}/mynumber/reveal"
    assert client.get(url).status_code == 403
    r = client.post(url, data={"csrf_token": csrf, "purpose": "linkage", "reason": "照会への回答"})
    assert r.status_code == 403 and MY_NUMBER not in r.text
    denied = [json.loads(e.detail) for e in _entries(db, "auth.denied")]
    assert {"permission": "person.reveal_my_number", "path": url, "method": "POST"} in denied
    assert _entries(db, "mynumber.reveal") == []


def test_supervisor_reveals_with_a_reason_once_and_it_is_audited(client, db, make_staff, persons):
    login(client, make_staff("supervisor"))
    url = f"/persons/{persons['plain']}/mynumber/reveal"
    form = client.get(url)
    assert form.status_code == 200 and 'method="post"' in form.text and MY_NUMBER not in form.text
    r = client.post(url, data={"csrf_token": csrf_token(form.text), "purpose": "relief_claim",
                               "reason": "給付申請書の番号と照合"})
    assert r.status_code == 200
    assert f"{MY_NUMBER[:4]} {MY_NUMBER[4:8]} {MY_NUMBER[8:]}" in r.text
    assert "no-store" in r.headers["cache-control"] and r.headers["pragma"] == "no-cache"
    [entry] = _entries(db, "mynumber.reveal")
    assert entry.atena_no == persons["plain"] and entry.actor == "supervisor-1"
    assert entry.purpose == "健康被害救済給付の申請書類との照合"
    assert json.loads(entry.detail)["reason"] == "給付申請書の番号と照合"
    # Going back to the form shows no number: every reveal needs its own reason.
    assert MY_NUMBER not in client.get(url).text


def test_reveal_without_reason_explains_and_shows_nothing(client, db, make_staff, persons):
    csrf = login(client, make_staff("supervisor"))
    r = client.post(f"/persons/{persons['plain']}/mynumber/reveal",
                    data={"csrf_token": csrf, "purpose": "linkage", "reason": ""})
    assert r.status_code == 400 and "表示する理由を入力してください" in r.text and MY_NUMBER not in r.text
    assert _entries(db, "mynumber.reveal") == []


def test_reveal_without_csrf_token_is_refused(client, db, make_staff, persons):
    login(client, make_staff("supervisor"))
    r = client.post(f"/persons/{persons['plain']}/mynumber/reveal",
                    data={"purpose": "linkage", "reason": "照会への回答"})
    assert r.status_code == 403 and MY_NUMBER not in r.text
    assert _entries(db, "mynumber.reveal") == []


def test_counter_verification_with_full_width_digits(client, db, make_staff, persons):
    login(client, make_staff("clerk"))
    url = f"/persons/{persons['plain']}/mynumber/verify"
    page = client.get(url)
    assert page.status_code == 200 and "山田　太郎" in page.text and MY_NUMBER not in page.text
    full_width = MY_NUMBER.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    r = client.post(url, data={
        "csrf_token": csrf_token(page.text), "number": full_width[:4] + "　" + full_width[4:],
        "document": "mynumber_card", "name": "山田太郎", "birth_date": "R2.4.1", "sex": "男",
        "address_confirmed": "1"})
    assert r.status_code == 200 and "確認結果" in r.text and "一致しました" in r.text
    assert MY_NUMBER not in r.text and full_width not in r.text
    with db.transaction() as s:
        row = s.execute(select(MyNumberVerification)).scalar_one()
    assert (row.result, row.address_check, row.verified_by) == ("match", "confirmed", "clerk-1")


def test_counter_verification_names_the_mismatch_and_keeps_the_form_on_error(client, db, make_staff, persons):
    login(client, make_staff("clerk"))
    url = f"/persons/{persons['plain']}/mynumber/verify"
    csrf = csrf_token(client.get(url).text)
    base = {"csrf_token": csrf, "number": MY_NUMBER, "document": "notification_card", "identity_document": "運転免許証",
            "name_confirmed": "1", "birth_date_confirmed": "1", "sex_confirmed": "1", "address": "熊谷市宮町二丁目1番地"}
    r = client.post(url, data=base)
    assert r.status_code == 200 and "一致しない項目: 住所" in r.text
    r = client.post(url, data={**base, "identity_document": ""})
    assert r.status_code == 400 and "身元確認書類" in r.text and "熊谷市宮町二丁目1番地" in r.text
    assert MY_NUMBER not in r.text
    with db.transaction() as s:
        assert [v.result for v in s.execute(select(MyNumberVerification)).scalars()] == ["mismatch"]
    assert len(_entries(db, "mynumber.verify")) == 1


def test_search_export_without_permission_is_403_and_audited(client, db, make_staff, persons):
    csrf = login(client, make_staff("clerk"))
    r = client.post("/search/export", params={"kana": "ヤマダ"},
                    data={"csrf_token": csrf, "purpose": "確認", "password": PASSWORD,
                          "password_confirmation": PASSWORD})
    assert r.status_code == 403 and "山田" not in r.text
    assert [json.loads(e.detail)["permission"] for e in _entries(db, "auth.denied")] == ["person.export"]
    assert _entries(db, "person.export") == []


def test_reveal_needs_a_recent_reauthentication(client, db, make_staff, persons):
    csrf = login(client, make_staff("supervisor"))
    with db.transaction() as s:
        s.execute(update(WebSession).values(reauth_at=utcnow() - timedelta(minutes=60)))
    url = f"/persons/{persons['plain']}/mynumber/reveal"
    r = client.post(url, data={"csrf_token": csrf, "purpose": "linkage", "reason": "照会への回答"})
    assert r.status_code == 303 and r.headers["location"].startswith("/reauth")
    assert MY_NUMBER not in r.text and _entries(db, "mynumber.reveal") == []
