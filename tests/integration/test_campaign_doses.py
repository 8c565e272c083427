"""住民接種 doses under an active campaign (covid-2021 replay): imported 予診票 rows are judged against
the campaign (a too-short interval is returned, nothing is 任意), and the month's billing pays them at
the campaign's fee schedule — the 休日加算 on a Sunday or national holiday — once only."""
from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select, text

from sesshu.actor import Actor
from sesshu.approvals import service as approvals
from sesshu.billing.models import BillingReturn, PaymentLine
from sesshu.billing.service import close_month, run_month
from sesshu.domain.schedule import PANDEMIC_DIR
from sesshu.ledger.models import VaccinationRecord
from sesshu.ledger.service import evaluate_pending
from sesshu.rulesets import service as rulesets
from tests.integration.billing.city import C1, _csv, build_city
from tests.helpers import staff_actor, write

ADMIN = Actor(login_id="setup", kind="os", role="operator")
JUNE, JULY = "2021-06", "2021-07"


def _activate_covid_2021(db, settings):
    boss, boss2 = staff_actor(db, settings, "boss-a")[0], staff_actor(db, settings, "boss-b")[0]
    for f in ("covid-2021.yaml", "covid-2021-v2.yaml"):
        row = rulesets.propose(db, settings, actor=boss, raw=(PANDEMIC_DIR / f).read_bytes(), reason="再現")
        approvals.approve(db, settings, actor=boss2, approval_id=row.approval_id, expected_version=1)


def test_campaign_doses_are_judged_by_the_campaign_and_paid_at_its_fees(db, settings, tmp_path):
    from sesshu.ledger.service import import_records

    build_city(db, settings, tmp_path)  # 2003 (born 1950) and 2004 (born 1955) are 65+ in FY2021
    _activate_covid_2021(db, settings)
    rows = [
        ("2003", "C19_PFIZER", "", "1", "住民接種", "2021-06-01", "接種", C1, JUNE),   # Tuesday
        ("2003", "C19_PFIZER", "", "2", "住民接種", "2021-06-20", "接種", C1, JUNE),   # Sunday, 19 days later
        ("2004", "C19_PFIZER", "", "1", "住民接種", "2021-06-02", "接種", C1, JUNE),
        ("2004", "C19_PFIZER", "", "2", "住民接種", "2021-06-12", "接種", C1, JUNE),   # 10 days: too short
        ("2014", "C19_MODERNA", "", "1", "住民接種", "2021-06-03", "接種", C1, JUNE),  # born 1957-07-07: 60-64 group
    ]
    summary = import_records(db, settings, path=write(tmp_path / "c19.csv", _csv(rows), "cp932"), actor=ADMIN)
    assert summary.accepted == 5, summary
    evaluate_pending(db, actor=ADMIN)
    with db.transaction() as s:
        got = {(r.atena_no, r.vaccinated_on.isoformat()): (r.category, r.error_code) for r in s.execute(
            select(VaccinationRecord).where(VaccinationRecord.vaccine_code.like("C19_%"))).scalars()}
    assert got == {("2003", "2021-06-01"): ("pandemic_resident", ""), ("2003", "2021-06-20"): ("pandemic_resident", ""),
                   ("2004", "2021-06-02"): ("pandemic_resident", ""),
                   ("2004", "2021-06-12"): ("pandemic_resident", "E_INTERVAL_TOO_SHORT"),
                   ("2014", "2021-06-03"): ("pandemic_resident", "")}

    run = run_month(db, actor=ADMIN, month=JUNE, transfer_date=date(2021, 7, 20))
    with db.transaction() as s:
        paid = {(ln.record_id, ln.unit_fee) for ln in s.execute(
            select(PaymentLine).where(PaymentLine.month == JUNE, PaymentLine.kind == "fee")).scalars()}
        returned = {r.atena_no: r.codes for r in s.execute(
            select(BillingReturn).where(BillingReturn.month == JUNE)).scalars()}
    # 2,277円 (2,070円 税込) per dose; the Sunday dose adds the 休日加算 2,343円.
    assert sorted(fee for _rid, fee in paid) == [2277, 2277, 2277, 2277 + 2343]
    assert run.outcome.result["fee_amount"] == 4 * 2277 + 2343
    assert returned == {"2004": "E_INTERVAL_TOO_SHORT"}
    close_month(db, actor=ADMIN, month=JUNE)
    # Claimed again the next month: not paid twice.
    with db.transaction() as s:
        s.execute(text("UPDATE vaccination_record SET billing_month = :m WHERE atena_no = '2003' AND vaccine_code LIKE 'C19_%'"), {"m": JULY})
    run_month(db, actor=ADMIN, month=JULY, transfer_date=date(2021, 8, 20))
    with db.transaction() as s:
        again = {r.codes for r in s.execute(select(BillingReturn).where(BillingReturn.month == JULY)).scalars()}
        assert not s.execute(select(PaymentLine).where(PaymentLine.month == JULY, PaymentLine.kind == "fee")).first()
    assert again == {"R_ALREADY_PAID"}


def test_demo_load_with_the_covid_2021_replay(db, settings):
    from sesshu.demo.campaign import load_campaign
    from sesshu.demo.service import load_demo
    from sesshu.ledger.targets import select_targets

    load_demo(db, settings, actor=ADMIN, residents=60, seed=3, as_of=date(2026, 12, 1))
    rows = load_campaign(db, settings, name="covid-2021", operator=ADMIN)
    assert [(r.version, r.status, r.proposed_by, r.approved_by) for r in rows] == [
        (1, "active", "demo-super", "demo-super2"), (2, "active", "demo-super", "demo-super2")]
    groups = {r.group for r in select_targets(db, actor=ADMIN, vaccine="C19_PFIZER", as_of=date(2021, 7, 5))}
    assert groups <= {"65歳以上", "60〜64歳", "それ以外の方"} and "65歳以上" in groups


def test_a_declared_underlying_condition_on_the_form_records_the_self_declared_group_with_the_dose(db, settings, tmp_path):
    """基礎疾患 on the 予診票 (self-declared, no certificate): a stored row that declares it records the campaign's
    self-declared group for the person, audited, in the import's transaction; "なし" records nothing."""
    from sesshu.audit.models import AuditEntry
    from sesshu.conditions.models import PersonCondition
    from sesshu.ledger.service import import_records
    from tests.helpers import RECORD_HEADER

    build_city(db, settings, tmp_path)
    head = RECORD_HEADER + ",基礎疾患\n"
    tail = "," * 13  # 接種医師コード … 備考: the 13 columns after 接種医療機関コード

    def row(atena, on, underlying, vaccine="C19_PFIZER", category="住民接種"):
        return f"{atena},{vaccine},,1,{category},{on},接種,{C1}{tail},{underlying}\n"

    # No campaign in force: the declaration has no group to go to, the row comes back with the reason.
    flu = row("2003", "2026-10-22", "あり", vaccine="FLU_ELDER", category="定期B類")
    before = import_records(db, settings, path=write(tmp_path / "a.csv", head + flu, "cp932"),
                            actor=ADMIN, rejects_path=tmp_path / "a-rejects.csv")
    assert (before.accepted, before.rejected) == (0, 1)
    assert "基礎疾患の記載で確認する接種順位の群が適用中の実施計画にありません" in \
        (tmp_path / "a-rejects.csv").read_text(encoding="utf-8-sig")

    _activate_covid_2021(db, settings)
    text_ = head + row("2014", "令和3年6月3日", "慢性の心臓病") + row("2004", "2021-06-04", "なし") + row("2014", "2021-06-03", "あり")
    out = import_records(db, settings, path=write(tmp_path / "b.csv", text_, "cp932"), actor=ADMIN)
    assert (out.accepted, out.duplicates) == (2, 1)
    evaluate_pending(db, actor=ADMIN)
    with db.transaction() as s:
        [c] = s.execute(select(PersonCondition).where(PersonCondition.condition_code == "underlying_condition")).scalars()
        assert (c.atena_no, c.evidence_kind, c.evidence_note) == ("2014", "self_declared", "b.csv: 慢性の心臓病")
        audit = s.execute(select(AuditEntry.atena_no, AuditEntry.detail).where(
            AuditEntry.action == "person.condition_set")).all()
        assert [a for a, _d in audit] == ["2014"] and "慢性" not in str(audit[0][1])  # the wording stays out of the log
        # the import's summary entry (the per-person entries of the same action name a person)
        imported = s.execute(select(AuditEntry.detail).where(AuditEntry.action == "records.import",
                                                             AuditEntry.atena_no.is_(None))
                             .order_by(AuditEntry.seq.desc())).scalars().first()
        assert json.loads(imported)["underlying_condition_recorded"] == 1


def test_campaign_lines_get_tickets_and_notices_and_a_ticket_is_used_by_its_dose(db, settings, tmp_path):
    """接種券 for a campaign line (住民接種, 券種 3): the 個別通知 batch selects the line's targets on its date,
    the letter names the campaign's vaccine, and a 予診票 row with the 券番号 uses the ticket."""
    import subprocess

    from sesshu.ledger.service import import_records
    from sesshu.ledger.targets import select_targets
    from sesshu.tickets.catalog import line_info
    from sesshu.tickets.models import Ticket
    from sesshu.tickets.notices import run_notices
    from sesshu.tickets.service import person_tickets, rules_on

    build_city(db, settings, tmp_path)
    _activate_covid_2021(db, settings)
    with db.transaction() as s:
        info = line_info("C19_PFIZER", rules_on(s, date(2021, 6, 10)))
    assert (info.category, info.kind) == ("pandemic_resident", "3")
    out = tmp_path / "notices"
    outcome = run_notices(db, settings, actor=ADMIN, vaccine="C19_PFIZER", as_of=date(2021, 6, 10), within_days=0,
                          out_dir=out)
    # The campaign's targets on that day: 2003 and 2004 (65歳以上), 2014 (60–64, opened by the replay's city).
    targets = {r.atena_no for r in select_targets(db, actor=ADMIN, vaccine="C19_PFIZER", as_of=date(2021, 6, 10))}
    assert outcome.result["persons"] == len(targets) == 3, outcome.result
    with db.transaction() as s:
        tickets = {t.atena_no: t for t in s.execute(select(Ticket).where(Ticket.vaccine == info.code)).scalars()}
    assert set(tickets) == targets and {t.kind for t in tickets.values()} == {"3"}
    [pdf] = [f for f in out.iterdir() if f.suffix == ".pdf"]
    text_ = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "ファイザー" in text_ or "新型コロナ" in text_, text_[:400]
    [shown] = person_tickets(db, settings, actor=ADMIN, atena_no="2003")
    assert (shown.vaccine, shown.line_name, shown.state) == (info.code, info.name, "issued")

    no = tickets["2003"].ticket_no
    head, line = _csv([("2003", "C19_PFIZER", "", "1", "住民接種", "2021-06-14", "接種", C1, JUNE)]).splitlines()
    cols = head.split(",")
    values = line.split(",")
    values[cols.index("券番号")] = no
    summary = import_records(db, settings, path=write(tmp_path / "t.csv", head + "\n" + ",".join(values) + "\n", "cp932"),
                             actor=ADMIN)
    assert summary.accepted == 1, summary
    with db.transaction() as s:
        assert s.get(Ticket, tickets["2003"].id).state == "used"


def test_a_campaign_dose_gets_its_receipt_and_a_smart_health_card_with_the_cvx_code(db, settings, tmp_path):
    """予防接種済証 for 住民接種 doses (the campaign's vaccine name, dose numbers, lot) with a SMART Health Card
    whose vaccineCode carries CVX 208 (Pfizer 30 mcg) next to sesshu's own code (data/fhir.yaml)."""
    from datetime import datetime, timezone

    from sesshu.certificates.service import CertificateRequest, issue_certificate
    from sesshu.domain import shc
    from sesshu.fhir import shc_keys
    from sesshu.ledger.service import import_records
    from tests.pdfcheck import flat, pdf_text, qr_codes

    build_city(db, settings, tmp_path)
    _activate_covid_2021(db, settings)
    head, *lines = _csv([("2003", "C19_PFIZER", "", "1", "住民接種", "2021-06-01", "接種", C1, JUNE),
                         ("2003", "C19_PFIZER", "", "2", "住民接種", "2021-06-22", "接種", C1, JUNE)]).splitlines()
    cols = head.split(",")
    rows = []
    for line, lot in zip(lines, ("FA5765", "FC3661")):
        values = line.split(",")
        values[cols.index("LotNo")] = lot
        rows.append(",".join(values))
    assert import_records(db, settings, path=write(tmp_path / "c.csv", "\n".join([head, *rows]) + "\n", "cp932"),
                          actor=ADMIN).accepted == 2
    request = CertificateRequest(requested_by="鈴木　三郎", relationship="本人", identity_method="マイナンバーカード",
                                 kind="receipt", vaccine="C19_PFIZER")
    issued = issue_certificate(db, settings, actor=ADMIN, atena_no="2003", request=request, today=date(2021, 7, 1),
                               shc=True)
    assert (issued.records, issued.cards) == (2, 1)
    path = tmp_path / "receipt.pdf"
    path.write_bytes(issued.pdf.content)
    text_ = flat(pdf_text(path, 1, 1))
    for expected in ("予防接種済証", "新型コロナワクチン（ファイザー社）", "1回目", "2回目", "FA5765", "FC3661",
                     "令和3年6月22日", "鈴木三郎"):
        assert expected in text_, expected
    [scanned] = qr_codes(path, tmp_path, 2)
    payload = shc.verify(shc.jws_from_qr(scanned), jwks=shc_keys.jwks(settings),
                         issuers=(settings.shc_issuer.rstrip("/"),), now=datetime.now(timezone.utc))
    immunizations = [e["resource"] for e in payload.bundle["entry"] if e["resource"]["resourceType"] == "Immunization"]
    assert [i["occurrenceDateTime"] for i in immunizations] == ["2021-06-01", "2021-06-22"]
    for i in immunizations:
        codings = {(c.get("system"), c["code"]) for c in i["vaccineCode"]["coding"]}
        assert ("http://hl7.org/fhir/sid/cvx", "208") in codings and any(code == "C19_PFIZER" for _s, code in codings)
