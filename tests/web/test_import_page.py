"""予診票 upload on the web: background import with progress, the summary, the rejects download."""
from __future__ import annotations

import csv
import io
import time

from sqlalchemy import func, select

from sesshu.audit.models import AuditEntry
from sesshu.imports.uploads import upload_dir
from sesshu.ledger.models import VaccinationRecord
from tests.helpers import RECORD_HEADER
from tests.web.conftest import login

GOOD = "1001,MR,1期,1,定期A類,R3.4.10,接種,,,,,,,AB123,0.5,R3.4,,,,,\n"
BAD_DATE = "1001,BCG,,1,定期A類,R3.13.40,接種,,,,,,,,,,,,,,\n"
NOBODY = "9999,MR,1期,1,定期A類,R3.4.10,接種,,,,,,,,,,,,,,\n"


def _upload(client, csrf, text: str, name: str = "予診票_202104.csv", encoding: str = "cp932"):
    return client.post("/imports/records", data={"csrf_token": csrf},
                       files={"file": (name, text.encode(encoding), "text/csv")})


def _wait(client, job_url: str) -> dict:
    for _ in range(200):
        status = client.get(job_url + "/status").json()
        if status["finished"]:
            return status
        time.sleep(0.05)
    raise AssertionError("the import did not finish")


def test_upload_imports_in_the_background_and_offers_the_rejects(client, db, settings, make_staff, persons):
    csrf = login(client, make_staff("clerk"))
    r = _upload(client, csrf, RECORD_HEADER + "\n" + GOOD + BAD_DATE + NOBODY)
    assert r.status_code == 303 and r.headers["location"].startswith("/imports/jobs/")
    job_url = r.headers["location"]
    status = _wait(client, job_url)
    assert status["status"] == "done", status
    assert (status["summary"]["read"], status["summary"]["accepted"], status["summary"]["rejected"]) == (3, 1, 2)
    page = client.get(job_url)
    assert page.status_code == 200 and "取り込めなかった行をダウンロード" in page.text
    download = client.get(job_url + "/rejects")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["行番号", "区分", "理由"]
    assert [row[0] for row in rows[1:]] == ["3", "4"]
    assert "接種年月日" in rows[1][2] and "住民記録にありません" in rows[2][2]
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(VaccinationRecord)).scalar_one() == 1
        actions = set(s.execute(select(AuditEntry.action)).scalars())
    assert {"records.upload", "records.import", "records.rejects_download"} <= actions
    # The uploaded file itself is gone; only the rejects stay (for a day).
    leftovers = [p.name for p in upload_dir(settings).rglob("*") if p.is_file()]
    assert leftovers == ["rejects.csv"]
    # The import is listed with its error rate on the page.
    assert "66.7%" in client.get("/imports").text


def test_another_clerk_cannot_see_the_job_or_its_rejects(app, client, db, make_staff, persons):
    from fastapi.testclient import TestClient

    csrf = login(client, make_staff("clerk"))
    job_url = _upload(client, csrf, RECORD_HEADER + "\n" + NOBODY).headers["location"]
    _wait(client, job_url)
    with TestClient(app, follow_redirects=False) as other:
        login(other, make_staff("clerk", login_id="clerk-2"))
        assert other.get(job_url).status_code == 404
        assert other.get(job_url + "/rejects").status_code == 404


def test_a_missing_or_empty_file_is_explained_on_the_page(client, make_staff):
    csrf = login(client, make_staff("clerk"))
    r = client.post("/imports/records", data={"csrf_token": csrf}, files={"file": ("empty.csv", b"", "text/csv")})
    assert r.status_code == 400 and ("空です" in r.text or "選んでください" in r.text)


def test_an_oversized_upload_is_refused_before_it_is_read(client, make_staff):
    csrf = login(client, make_staff("clerk"))
    r = client.post("/imports/records", headers={"Content-Length": str(500 * 1024 * 1024),
                                                 "Content-Type": "multipart/form-data; boundary=x",
                                                 "X-CSRF-Token": csrf}, content=b"--x--")
    assert r.status_code == 413 and "大きすぎます" in r.text


HIB_1 = "1001,HIB,,1,,R2.6.1,接種,,,,,,,LOT-H1,,R2.6,,,,,\n"
HIB_TOO_SOON = "1001,HIB,,2,,R2.6.10,接種,,,,,,,LOT-H1,,R2.6,,,,,\n"
FLU_CHILD = "1001,FLU_ELDER,,,,R3.11.1,接種,,,,,,,,,R3.11,,,,,\n"
VAR_VOLUNTARY = "1002,VAR,,1,任意,R3.6.1,接種,,,,,,,,,R3.6,,,,,\n"


def test_the_summary_says_what_the_engine_made_of_the_stored_rows(client, db, make_staff, persons):
    """Issue 22 item 2: the job page counted only unreadable rows; now valid / invalid by code / 任意 /
    not billable, each a link to the record list."""
    csrf = login(client, make_staff("clerk"))
    job_url = _upload(client, csrf, RECORD_HEADER + "\n" + GOOD + HIB_1 + HIB_TOO_SOON + FLU_CHILD
                      + VAR_VOLUNTARY).headers["location"]
    status = _wait(client, job_url)
    v = status["verdicts"]
    assert (v["stored"], v["valid"], v["invalid"], v["voluntary"], v["not_billable"]) == (5, 3, 1, 1, 1), v
    codes = {c["code"]: c for c in v["codes"]}
    assert codes["E_INTERVAL_TOO_SHORT"]["count"] == 1 and "間隔" in codes["E_INTERVAL_TOO_SHORT"]["reason"]
    page = client.get(job_url).text
    batch = status["summary"]["batch_id"]
    assert f'href="/records?batch={batch}&amp;verdict=invalid"' in page and "E_INTERVAL_TOO_SHORT" in page
    assert "無効と判定された記録が1件" in page
    listed = client.get(f"/records?batch={batch}&verdict=invalid")
    assert listed.status_code == 200 and "1件" in listed.text and "接種間隔が不足しています" in listed.text
    assert listed.text.count('class="verdict-invalid"') == 1
    by_code = client.get(f"/records?batch={batch}&code=E_INTERVAL_TOO_SHORT").text
    assert by_code.count('class="verdict-invalid"') == 1
    not_billable = client.get(f"/records?batch={batch}&billing=not_billable").text
    assert not_billable.count("<tr class=\"verdict-") == 1 and "水痘" in not_billable


def test_the_import_page_lists_the_columns_and_offers_a_sample_that_imports(client, db, make_staff, persons):
    """Issue 22 item 10: the import page listed no columns and offered no sample file."""
    csrf = login(client, make_staff("clerk"))
    page = client.get("/imports").text
    for header in ("宛名番号", "接種種別", "接種年月日", "LotNo", "請求月", "備考"):
        assert f"<td>{header}</td>" in page
    assert 'href="/imports/sample.csv"' in page
    sample = client.get("/imports/sample.csv")
    assert sample.status_code == 200 and "attachment" in sample.headers["content-disposition"]
    text = sample.content.decode("cp932")
    assert text.startswith("宛名番号,接種種別")
    job_url = _upload(client, csrf, text, name="見本.csv").headers["location"]  # the sample itself imports
    status = _wait(client, job_url)
    assert status["summary"]["accepted"] == 2, status
