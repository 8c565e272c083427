"""The search page: every condition, paged results, and audited CSV output with a stated purpose."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json

import pyzipper
from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from tests.web.conftest import add_record, login


def test_search_page_offers_every_condition_and_focuses_the_first(client, make_staff):
    login(client, make_staff("clerk"))
    page = client.get("/search").text
    for name in ("atena_no", "kana", "name", "birth_date", "birth_from", "birth_to", "address", "vaccine",
                 "vaccinated_from", "vaccinated_to", "institution", "registry_status"):
        assert f'name="{name}"' in page
    assert 'name="atena_no" value="" inputmode="numeric" maxlength="15" autofocus' in page
    assert '<option value="MR"' in page and "住登外" in page
    assert "検索結果" not in page


def test_search_by_kana_prefix_lists_the_person(client, make_staff, persons):
    login(client, make_staff("clerk"))
    page = client.get("/search", params={"kana": "やまだ"}).text
    assert "1件" in page and "山田　太郎" in page and f'href="/persons/{persons["plain"]}"' in page
    assert "令和2年4月1日" in page


def test_search_by_japanese_era_birth_date_and_vaccine(client, db, make_staff, persons):
    add_record(db, persons["plain"], vaccine="MR")
    login(client, make_staff("clerk"))
    page = client.get("/search", params={"birth_from": "R2.1.1", "birth_to": "令和2年12月31日", "vaccine": "MR"}).text
    assert "山田　太郎" in page and "alert" not in page


def test_empty_or_invalid_conditions_are_explained(client, make_staff):
    login(client, make_staff("clerk"))
    r = client.get("/search", params={"kana": ""})
    assert r.status_code == 400 and "検索条件を1つ以上入力してください" in r.text
    r = client.get("/search", params={"birth_date": "令和2年13月1日"})
    assert r.status_code == 400 and "生年月日" in r.text


def test_csv_button_only_for_roles_that_may_export(client, make_staff, persons):
    login(client, make_staff("clerk"))
    assert "CSV出力" not in client.get("/search", params={"kana": "ヤマダ"}).text


def test_supervisor_exports_csv_with_a_purpose_and_it_is_audited(client, db, make_staff, persons):
    csrf = login(client, make_staff("supervisor"))
    page = client.get("/search", params={"kana": "ヤマダ"}).text
    assert "CSV出力" in page and 'action="/search/export?kana=%E3%83%A4' in page
    assert 'name="password" type="password"' in page and 'name="password_confirmation" type="password"' in page
    r = client.post("/search/export", params={"kana": "ヤマダ"},
                    data={"csrf_token": csrf, "purpose": "勧奨通知の確認", "password": "correct-horse-42",
                          "password_confirmation": "correct-horse-42"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "attachment" in r.headers["content-disposition"] and ".zip" in r.headers["content-disposition"]
    with pyzipper.AESZipFile(io.BytesIO(r.content)) as z:
        z.setpassword(b"correct-horse-42")
        text = z.read(z.namelist()[0]).decode("utf-8-sig")
    assert text.splitlines()[0].startswith("宛名番号,氏名") and "山田　太郎" in text and "アクイ" not in text
    with db.transaction() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "person.export")).scalar_one()
    detail = json.loads(entry.detail)
    assert entry.purpose == "勧奨通知の確認" and detail["rows"] == 1
    assert detail["sha256"] == hashlib.sha256(r.content).hexdigest()


def test_export_with_a_short_or_unconfirmed_password_is_refused(client, make_staff, persons):
    csrf = login(client, make_staff("supervisor"))
    data = {"csrf_token": csrf, "purpose": "確認", "password": "short", "password_confirmation": "short"}
    r = client.post("/search/export", params={"kana": "ヤマダ"}, data=data)
    assert r.status_code == 400 and "12文字以上" in r.text and "山田" not in r.text
    data.update(password="correct-horse-42", password_confirmation="correct-horse-43")
    r = client.post("/search/export", params={"kana": "ヤマダ"}, data=data)
    assert r.status_code == 400 and "一致しません" in r.text


def test_export_without_purpose_is_refused(client, make_staff, persons):
    csrf = login(client, make_staff("supervisor"))
    r = client.post("/search/export", params={"kana": "ヤマダ"}, data={"csrf_token": csrf, "purpose": " "})
    assert r.status_code == 400 and "出力の目的を入力してください" in r.text


def test_paging_links_keep_the_conditions(settings, app, client, make_staff, persons):
    app.state.settings = dataclasses.replace(settings, search_page_size=1)
    login(client, make_staff("clerk"))
    page = client.get("/search", params={"address": "熊谷市"}).text
    assert "2件" in page and "（1 / 2ページ）" in page
    assert 'href="/search?address=%E7%86%8A%E8%B0%B7%E5%B8%82&amp;page=2"' in page


def test_results_sort_by_birth_date(client, make_staff, persons):
    """Issue 22 item 11: results could not be sorted by birth date."""
    from tests.web.conftest import login as _login
    _login(client, make_staff("clerk"))
    up = client.get("/search", params={"address": "熊谷市", "sort": "birth_date"}).text
    down = client.get("/search", params={"address": "熊谷市", "sort": "-birth_date"}).text
    first_up = up.index('href="/persons/1001"') < up.index('href="/persons/1002"')
    first_down = down.index('href="/persons/1001"') < down.index('href="/persons/1002"')
    assert first_up and not first_down  # 1001 born 2020-04-01, 1002 born 2020-05-03
    assert 'id="sort-birth"' in up and "sort=-birth_date" in up and "生年月日 ▲" in up
    assert client.get("/search", params={"address": "熊谷市", "sort": "name; drop"}).status_code == 400
