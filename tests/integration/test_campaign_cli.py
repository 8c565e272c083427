"""`sesshu campaign check|propose|list|show` as an operator and a supervisor would type them."""
from __future__ import annotations

import json

import pyotp

from sesshu.approvals import service as approvals
from sesshu.domain.schedule import PANDEMIC_DIR
from tests.helpers import STAFF_PASSWORD as PASSWORD
from tests.helpers import staff_actor
from tests.integration.test_cli import run

V1 = PANDEMIC_DIR / "covid-2021.yaml"


def test_check_propose_approve_list(db, settings, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(V1.read_text(encoding="utf-8").replace("days: 18}", "dayz: 18}"), encoding="utf-8")
    r = run(settings, "campaign", "check", str(bad))
    assert r.returncode == 2 and "行目" in r.stderr and "dayz" in r.stderr and "何も変更していません" in r.stderr

    r = run(settings, "campaign", "check", str(V1), "--json")
    assert r.returncode == 0, r.stderr
    preview = json.loads(r.stdout)
    assert (preview["name"], preview["version"], preview["vaccine_codes"]) == ("covid-2021", 1, ["C19_PFIZER"])
    assert json.loads(run(settings, "campaign", "list", "--json").stdout) == []

    _boss, secret = staff_actor(db, settings, "boss-a")
    boss2, _ = staff_actor(db, settings, "boss-b")
    r = run(settings, "campaign", "propose", str(V1), "--reason", "厚生労働大臣の指示（再現）", "--user", "boss-a",
            input_text=f"{PASSWORD}\n{pyotp.TOTP(secret).now()}\n")
    assert r.returncode == 0, r.stderr
    assert "申請しました" in r.stdout
    [row] = json.loads(run(settings, "campaign", "list", "--json").stdout)
    assert (row["status"], row["proposed_by"], row["approved_by"]) == ("proposed", "boss-a", None)

    r = run(settings, "campaign", "propose", str(V1), "--reason", "x", "--user", "boss-a", input_text="wrong\n000000\n")
    assert r.returncode == 2 and "エラー" in r.stderr

    approvals.approve(db, settings, actor=boss2, approval_id=row["approval_id"], expected_version=1)
    [row] = json.loads(run(settings, "campaign", "list", "--json").stdout)
    assert (row["status"], row["approved_by"], row["effective_from"], row["group_ids"]) == (
        "active", "boss-b", "2021-02-17", ["healthcare_worker", "underlying_condition", "elderly_facility_worker"])
    assert "C19_PFIZER" in run(settings, "campaign", "list").stdout
    assert run(settings, "campaign", "show", str(row["id"])).stdout == V1.read_text(encoding="utf-8")

    payload = {"birth_date": "1950-01-01", "sex": "F", "as_of": "2021-06-01",
               "doses": [{"vaccine": "C19_PFIZER", "date": "2021-05-01"}]}
    r = run(settings, "schedule", "evaluate", input_text=json.dumps(payload))
    out = json.loads(r.stdout)
    assert out["doses"][0]["status"] == "valid" and "covid-2021" in out["doses"][0]["rules"]
