"""The results part of the search page, fetched while typing: counts, tolerant kana, in-place errors."""
from __future__ import annotations

from tests.web.conftest import login


def test_results_come_as_a_fragment_with_the_count(client, make_staff, persons):
    login(client, make_staff("clerk"))
    r = client.get("/search/results", params={"kana": "ﾔﾏﾀﾞ"})  # half-width katakana
    assert r.status_code == 200
    assert "<html" not in r.text and 'id="result-count"' in r.text
    assert "1件" in r.text and "山田　太郎" in r.text
    hira = client.get("/search/results", params={"kana": "やまだ"})
    assert "山田　太郎" in hira.text


def test_by_atena_no_and_birth_date_in_wareki(client, make_staff, persons):
    login(client, make_staff("clerk"))
    assert "山田　太郎" in client.get("/search/results", params={"atena_no": "1001"}).text
    r = client.get("/search/results", params={"birth_date": "Ｒ２．５．３"})
    assert "1件" in r.text and "/persons/1002" in r.text


def test_no_conditions_and_bad_dates_are_shown_in_place(client, make_staff, persons):
    login(client, make_staff("clerk"))
    empty = client.get("/search/results")
    assert empty.status_code == 200 and "検索結果" not in empty.text
    bad = client.get("/search/results", params={"birth_date": "R2.13.1"})
    assert bad.status_code == 200 and "生年月日" in bad.text and 'role="alert"' in bad.text
    none = client.get("/search/results", params={"kana": "ンンン"})
    assert "条件に合う方はいませんでした" in none.text
