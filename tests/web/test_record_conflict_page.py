"""Two staff correct the same record on the web: the first save wins, the second sees a Japanese
conflict page with the newer values beside what they typed, and can apply their edit to the new version."""
from __future__ import annotations

import re

from fastapi.testclient import TestClient

from sesshu.ledger.models import VaccinationRecord, VaccinationRecordHistory
from tests.web.conftest import add_record, login

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
INPUT = re.compile(r'<input name="([^"]+)" value="([^"]*)"')


def _form(html: str) -> dict[str, str]:
    form = dict(HIDDEN.findall(html))
    form.update(INPUT.findall(html))
    m = re.search(r'<input name="reason" required maxlength="400" value="([^"]*)"', html)
    form["reason"] = m.group(1) if m else ""
    return form


def test_second_correction_of_the_same_version_sees_the_newer_values(app, client, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    atena = persons["plain"]
    csrf_a = login(client, make_staff("supervisor", "super-a"))
    with TestClient(app, follow_redirects=False) as other:
        csrf_b = login(other, make_staff("supervisor", "super-b"))
        # Both opened the record's correction page at version 1.
        assert 'name="expected_version" value="1"' in client.get(f"/records/{rec}/edit").text
        assert 'name="expected_version" value="1"' in other.get(f"/records/{rec}/edit").text
        first = client.post(f"/records/{rec}/correct", data={
            "csrf_token": csrf_a, "atena_no": atena, "expected_version": "1", "reason": "Lot の転記誤り",
            "lot_no": "AA111", "orig_lot_no": "AB123"})
        assert first.status_code == 303
        second = other.post(f"/records/{rec}/correct", data={
            "csrf_token": csrf_b, "atena_no": atena, "expected_version": "1", "reason": "備考の追記",
            "remarks": "発熱なし", "orig_remarks": "", "lot_no": "AB123", "orig_lot_no": "AB123"})
        assert second.status_code == 409
        page = second.text
        assert "更新が競合しました" in page and "他の職員（super-a）がこの記録を先に更新しました" in page
        assert "あなたの修正は保存していません" in page and "現在の版 2" in page and "Lot の転記誤り" in page
        # The newer value (AA111) and the second clerk's own input (発熱なし) are both on the page.
        assert "<td>AA111 <span class=\"badge warn\">他の職員が変更</span></td>" in page and 'value="発熱なし"' in page
        assert page.count("他の職員が変更") == 1  # only Lot No moved under the second clerk
        with db.transaction() as s:
            row = s.get(VaccinationRecord, rec)
            assert (row.lot_no, row.remarks or "", row.version) == ("AA111", "", 2)
        # Re-applying from the conflict page changes only what the second clerk typed, on version 2.
        form = _form(page)
        assert form["expected_version"] == "2" and form["reason"] == "備考の追記"
        again = other.post(f"/records/{rec}/correct", data=form)
        assert again.status_code == 303, again.text
    with db.transaction() as s:
        row = s.get(VaccinationRecord, rec)
        assert (row.lot_no, row.remarks, row.version) == ("AA111", "発熱なし", 3)
        history = s.query(VaccinationRecordHistory).filter_by(record_id=rec).order_by(
            VaccinationRecordHistory.version).all()
        assert [(h.version, h.changed_by, h.reason) for h in history] == [
            (1, "super-a", "Lot の転記誤り"), (2, "super-b", "備考の追記")]


def test_api_conflict_carries_the_current_values(client, db, make_staff, persons):
    rec = add_record(db, persons["plain"])
    csrf = login(client, make_staff("supervisor"))
    ok = client.post(f"/api/v1/records/{rec}/correct", headers={"X-CSRF-Token": csrf},
                     json={"expected_version": 1, "reason": "理由", "changes": {"lot_no": "NEW1"}})
    assert ok.status_code == 200, ok.text
    stale = client.post(f"/api/v1/records/{rec}/correct", headers={"X-CSRF-Token": csrf},
                        json={"expected_version": 1, "reason": "理由", "changes": {"lot_no": "NEW2"}})
    assert stale.status_code == 409
    err = stale.json()["error"]
    assert err["code"] == "E_CONFLICT" and "現在の版 2" in err["message"]
    assert err["current"]["version"] == 2 and err["current"]["values"]["lot_no"] == "NEW1"
