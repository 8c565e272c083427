"""Information linkage proved with three real processes on 127.0.0.1 — the hub, city A and city B,
each with its own SQLite database and its own keys: a resident moves A→B, B inquires once B's
supervisor has approved the inquiry (a request alone sends nothing, a rejected one never), A answers
from its 副本 automatically, B's ledger holds the doses with the engine's verdicts; a 自動応答不可
person waits for a supervisor; inquiries outside the permit list, tampered and replayed messages
are refused; the hub's database holds nothing readable about anyone."""
from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from sesshu.approvals import service as approvals
from sesshu.audit.models import AuditEntry
from sesshu.demo.linkage_world import (
    HANAKO_A,
    HANAKO_B,
    OPERATOR,
    PERMITS,
    TARO_A,
    TARO_B,
    World,
    hub_storage,
    json_of,
    load_people,
    personal_strings,
    publish_copies,
)
from sesshu.domain.errors import Forbidden
from sesshu.ledger.service import person_history
from sesshu.linkage import service as linkage
from sesshu.linkage.client import HubClient, HubError
from sesshu.linkage.envelope import load_body_keys, seal_envelope
from sesshu.linkage.models import LinkageExchange

@pytest.fixture
def world(tmp_path, sqlite_template):
    w = World(tmp_path)
    for city in (w.a, w.b):
        city.open(sqlite_template)
    w.start_hub(w.write_hub_config(PERMITS), template=sqlite_template)
    yield w
    w.stop()


def _wait_for(predicate, timeout: float = 15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def _approve_when_filed(city, boss, atena_no: str, outcome: list) -> threading.Thread:
    """The supervisor at the city approves the inquiry about this person as soon as it is filed (as on
    /approvals), while the clerk's `inquire --wait` waits."""
    def run():
        try:
            filed = _wait_for(lambda: [a for a in approvals.list_approvals(city.db, actor=boss, status="requested")
                                       if a.kind == "linkage_inquiry" and f"宛名番号 {atena_no} " in a.summary])
            outcome.append(approvals.approve(city.db, city.settings, actor=boss, approval_id=filed[0].id,
                                             expected_version=filed[0].version))
        except Exception as e:  # noqa: BLE001 - reported by the test thread
            outcome.append(e)

    t = threading.Thread(target=run)
    t.start()
    return t


def _inquire_approved(city, boss, atena_no: str, *args: str, check: bool = True):
    """`sesshu linkage inquire … --wait` at the city with its supervisor approving meanwhile."""
    outcome: list = []
    t = _approve_when_filed(city, boss, atena_no, outcome)
    done = city.run("linkage", "inquire", atena_no, *args, check=check)
    t.join(timeout=30)
    assert len(outcome) == 1 and outcome[0].status == "approved", outcome
    return done


def test_resident_moving_from_a_to_b_gets_their_doses_through_the_hub(world):
    a, b = world.a, world.b
    load_people(world)
    clerk, clerk2, boss = (a.add_staff(n, r) for n, r in (("a-clerk", "clerk"), ("a-checker", "clerk"),
                                                             ("a-boss", "supervisor")))
    b_clerk, b_boss = b.add_staff("b-clerk", "clerk"), b.add_staff("b-boss", "supervisor")
    linkage.set_manual_only(a.db, actor=OPERATOR, atena_no=TARO_A, manual_only=True, reason="DV等支援措置")
    publish_copies(a, clerk, clerk2, boss)
    world.start_daemon(a)
    world.start_daemon(b)

    # 転出 at A gives a one-time code that travels with the 転入通知; B links its own 符号 with it.
    code = a.run("linkage", "move-out", HANAKO_A).stdout.strip()
    assert "112020" in b.run("linkage", "move-in", HANAKO_B, "--code", code).stdout
    refused = b.run("linkage", "move-in", TARO_B, "--code", code, check=False)
    assert refused.returncode == 2 and "移転照合コードが無効" in refused.stderr  # single use

    # III-6: the inquiry is sent only after a supervisor approves its content.
    answered = json_of(_inquire_approved(b, b_boss, HANAKO_B, "--to", "112020", "--wait", "20", "--json"))
    assert answered["approval_status"] == "approved"
    assert answered["status"] == "answered" and answered["records_imported"] == 4

    h = person_history(b.db, b.settings, actor=b_clerk, atena_no=HANAKO_B)
    doses = [(r.vaccine_code, r.vaccinated_on.isoformat(), r.lot_no, r.former_municipality) for r in h.records]
    assert doses == [("HIB", "2024-06-10", "HB001", "熊谷市"), ("HIB", "2024-07-10", "HB002", "熊谷市"),
                     ("HIB", "2024-08-10", "HB003", "熊谷市"), ("BCG", "2024-09-02", "BC001", "熊谷市")]
    verdicts = {r.vaccine_code + str(h.verdicts[r.id].dose_number): h.verdicts[r.id].status for r in h.records}
    assert verdicts == {"HIB1": "valid", "HIB2": "valid", "HIB3": "valid", "BCG1": "valid"}
    hib = next(e for e in h.eligibility if e.vaccine == "HIB")
    assert hib.next_dose == 4  # the engine now forecasts the booster from the former city's doses

    # 情報提供等記録 on both sides, with the permit.
    permit = answered["permit_id"]
    assert {(e.direction, e.outcome, e.permit_id) for e in linkage.exchanges_for_person(
        b.db, actor=b_clerk, atena_no=HANAKO_B)} >= {("inquiry", "requested", permit), ("inquiry", "answered", permit)}
    provided = linkage.exchanges_for_person(a.db, actor=clerk, atena_no=HANAKO_A)
    assert [(e.direction, e.counterpart, e.outcome, e.records, e.permit_id) for e in provided] == [
        ("provision", "112089", "provided", 4, permit)]

    # 自動応答不可: the answer waits for a clerk's proposal and a supervisor's approval.
    code = a.run("linkage", "move-out", TARO_A).stdout.strip()
    b.run("linkage", "move-in", TARO_B, "--code", code)
    filed = json_of(b.run("linkage", "inquire", TARO_B, "--to", "112020", "--wait", "2", "--json"))
    assert filed["approval_status"] == "requested" and filed["status"] == "awaiting_approval"
    time.sleep(1)  # B's daemon runs its rounds: a request that is not approved is not sent
    assert [q for q in linkage.list_inquiries(b.db, actor=b_clerk) if q.atena_no == TARO_B] == []
    assert linkage.exchanges_for_person(b.db, actor=b_clerk, atena_no=TARO_B) == []
    with pytest.raises(Forbidden):  # the CLI operator who filed it never decides it
        approvals.approve(b.db, b.settings, actor=OPERATOR, approval_id=filed["approval_id"], expected_version=1)
    approvals.approve(b.db, b.settings, actor=b_boss, approval_id=filed["approval_id"], expected_version=1)
    held = _wait_for(lambda: linkage.list_provisions(a.db, actor=clerk, status="held"))
    approval_id = linkage.request_manual_decision(a.db, a.settings, actor=clerk, provision_id=held[0].id,
                                                  decision="disclose", reason="本人の同意を確認")
    approvals.approve(a.db, a.settings, actor=boss, approval_id=approval_id, expected_version=1)

    def taro_answered():  # B's daemon imports the answer once A's daemon has sent it
        return [q for q in linkage.list_inquiries(b.db, actor=b_clerk) if q.atena_no == TARO_B][0].status == "answered"

    _wait_for(taro_answered)
    taro = person_history(b.db, b.settings, actor=b_boss, atena_no=TARO_B)
    assert [(r.vaccine_code, r.vaccinated_on.isoformat()) for r in taro.records] == [("MR", "2024-05-02")]

    # Outside the 照会許可用照合リスト: A may not ask B, B may not ask A for another 情報.
    out = _inquire_approved(a, boss, HANAKO_A, "--to", "112089", "--wait", "15", check=False)
    assert out.returncode == 2 and "照会許可用照合リスト" in out.stderr
    out = _inquire_approved(b, b_boss, HANAKO_B, "--to", "112020", "--info", "relief_benefit", "--wait", "15",
                            check=False)
    assert out.returncode == 2 and "照会許可用照合リスト" in out.stderr
    with b.db.transaction() as s:
        assert s.execute(select(LinkageExchange.outcome).where(LinkageExchange.atena_no == HANAKO_B,
                                                               LinkageExchange.info == "relief_benefit")).scalar() \
            == "refused"

    # A rejected inquiry is never sent: no inquiry, no 情報提供等記録, nothing at the hub.
    before = len(linkage.exchanges_for_person(b.db, actor=b_clerk, atena_no=HANAKO_B))
    filed = json_of(b.run("linkage", "inquire", HANAKO_B, "--to", "112020", "--wait", "0", "--json"))
    approvals.reject(b.db, b.settings, actor=b_boss, approval_id=filed["approval_id"], expected_version=1,
                     comment="既に回答を受領済みです")
    b.run("linkage", "sync")
    assert len([q for q in linkage.list_inquiries(b.db, actor=b_clerk) if q.atena_no == HANAKO_B]) == 2
    assert len(linkage.exchanges_for_person(b.db, actor=b_clerk, atena_no=HANAKO_B)) == before

    # A tampered and a replayed message are refused by the hub.
    client = HubClient(url=b.settings.linkage_hub_url, body_id="112089", keys=load_body_keys(b.settings.resolved_key_dir))
    env = seal_envelope(client.keys, kind="poll", sender="112089", to="hub", body={})
    client.post_envelope("poll", env)
    with pytest.raises(HubError) as replay:
        client.post_envelope("poll", env)
    assert replay.value.code == "E_REPLAY" and replay.value.status == 409
    tampered = seal_envelope(client.keys, kind="inquiry", sender="112089", to="hub",
                             body={"task": "yobo_sesshu", "info": "vaccination_history", "provider": "112020",
                                   "fugo": "0" * 32})
    tampered["body"]["provider"] = "112089"
    with pytest.raises(HubError) as forged:
        client.post_envelope("inquiry", tampered)
    assert forged.value.code == "E_SIGNATURE" and forged.value.status == 400

    # Inquiry results are deleted after their period (the ledger records stay); the deletion is logged.
    assert linkage.result_payload(b.db, b.settings, actor=b_clerk, inquiry_id=answered["id"])["records"]
    later = (date.today() + timedelta(days=linkage.result_days(b.settings) + 1)).isoformat()
    assert "照会結果 2 件" in b.run("linkage", "purge-results", "--as-of", later).stdout
    assert linkage.result_payload(b.db, b.settings, actor=b_clerk, inquiry_id=answered["id"]) is None
    with b.db.transaction() as s:
        assert s.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "linkage.purge_result")).scalar() == 2
    assert len(person_history(b.db, b.settings, actor=b_clerk, atena_no=HANAKO_B).records) == 4
    # 情報提供等記録 are kept for their period (7 years by default), then deleted too.
    after = date.today() + timedelta(days=366 * linkage.record_years(b.settings) + 1)
    assert linkage.purge_results(b.db, actor=OPERATOR, today=after - timedelta(days=365)) == {
        "results": 0, "exchange_records": 0}
    # B's five: Hanako requested + answered, Taro requested + answered, the refused relief_benefit inquiry.
    assert linkage.purge_results(b.db, actor=OPERATOR, today=after) == {"results": 0, "exchange_records": 5}

    # The hub's storage holds no name, no 宛名番号, no 個人番号 (checkpoint the WAL into the file first).
    world.stop()
    import sqlite3

    con = sqlite3.connect(world.hub_db_path)
    assert con.execute("SELECT count(*) FROM hub_permit").fetchone()[0] == 2  # the two allowed inquiries
    con.close()
    raw = hub_storage(world)
    for secret in personal_strings():
        assert secret.encode() not in raw, secret
