"""接種歴証明書 on a 照会申請: doses listed, issue number never reused, the request and the print on record."""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.certificates.models import Certificate
from sesshu.certificates.service import CertificateRequest, issue_certificate
from sesshu.domain import shc
from sesshu.domain.errors import InvalidInput
from sesshu.domain.wareki import to_wareki
from sesshu.fhir import shc_keys
from sesshu.fhir.shc import describe
from sesshu.ledger.models import Institution, VaccinationRecord
from tests.integration.notices_city import OPERATOR, load_city
from tests.integration.test_cli import run
from tests.pdfcheck import flat, pdf_text, qr_codes
from tests.web.conftest import add_record

REQUEST = CertificateRequest(requested_by="熊谷　花子", relationship="親権者（法定代理人）",
                             identity_method="マイナンバーカード")


def test_certificate_lists_doses_with_lot_and_institution(db, settings, tmp_path):
    load_city(db, settings, tmp_path)
    with db.transaction() as s:
        s.add(Institution(code="C001", name="熊谷こどもクリニック"))
    for vaccine, on, lot in (("HIB", date(2026, 1, 10), "HB001"), ("BCG", date(2026, 4, 2), "BC777")):
        rid = add_record(db, "2001", vaccine=vaccine, on=on, institution_code="C001", term="初回")
        with db.transaction() as s:
            s.get(VaccinationRecord, rid).lot_no = lot
    issued = issue_certificate(db, settings, actor=OPERATOR, atena_no="2001", request=REQUEST, today=date(2026, 12, 3))
    second = issue_certificate(db, settings, actor=OPERATOR, atena_no="2001", request=REQUEST, today=date(2026, 12, 3))
    assert (issued.issue_no, second.issue_no, issued.records) == ("2026-00001", "2026-00002", 2)
    path = tmp_path / "cert.pdf"
    path.write_bytes(issued.pdf.content)
    text = flat(pdf_text(path))
    for expected in ("接種歴証明書", "第2026-00001号", "熊谷子1", "令和8年1月10日", "HB001", "BC777",
                     "熊谷こどもクリニック", "熊谷市長", "証明します"):
        assert expected in text, expected
    with db.transaction() as s:
        cert = s.execute(select(Certificate).where(Certificate.issue_no == "2026-00001")).scalar_one()
        request = s.execute(select(AuditEntry).where(AuditEntry.action == "certificate.request")).scalars().first()
        prints = s.execute(select(AuditEntry).where(AuditEntry.action == "print")).scalars().all()
    assert (cert.requested_by, cert.identity_method, cert.sha256) == ("熊谷 花子", "マイナンバーカード", issued.pdf.sha256)
    assert json.loads(request.detail)["relationship"] == "親権者（法定代理人）" and request.atena_no == "2001"
    assert [json.loads(p.detail)["sha256"] for p in prints] == [issued.pdf.sha256, second.pdf.sha256]


def test_certificate_takes_an_extra_qr_payload(db, settings, tmp_path):
    load_city(db, settings, tmp_path)
    payload = "shc:/" + "56" * 40
    issued = issue_certificate(db, settings, actor=OPERATOR, atena_no="2002", request=REQUEST,
                               extra_qr=payload, extra_qr_label="SMART Health Card")
    path = tmp_path / "c.pdf"
    path.write_bytes(issued.pdf.content)
    assert qr_codes(path, tmp_path, 1) == [payload]


def test_request_needs_who_and_how_identity_was_confirmed(db, settings, tmp_path):
    load_city(db, settings, tmp_path)
    with pytest.raises(InvalidInput, match="本人確認"):
        issue_certificate(db, settings, actor=OPERATOR, atena_no="2001",
                          request=CertificateRequest(requested_by="熊谷　花子", relationship="本人", identity_method="顔見知り"))
    with pytest.raises(InvalidInput, match="申請者"):
        issue_certificate(db, settings, actor=OPERATOR, atena_no="2001",
                          request=CertificateRequest(requested_by=" ", relationship="本人", identity_method="運転免許証"))


def _verified_cards(settings, texts: list[str]) -> list[dict]:
    """Each scanned shc:/ text verified with the city's published public keys (jwks.json), then read."""
    jwks = shc_keys.jwks(settings)
    return [describe(shc.verify(shc.jws_from_qr(t), jwks=jwks, issuers=(settings.shc_issuer.rstrip("/"),),
                                now=datetime.now(timezone.utc))) for t in texts]


def test_certificate_with_a_smart_health_card_scans_verifies_and_lists_the_same_doses(db, settings, tmp_path):
    load_city(db, settings, tmp_path)
    with db.transaction() as s:
        s.add(Institution(code="C001", name="熊谷こどもクリニック"))
    doses = (("HIB", date(2026, 1, 10), "HB001"), ("HIB", date(2026, 2, 12), "HB002"), ("BCG", date(2026, 4, 2), "BC777"))
    for vaccine, on, lot in doses:
        rid = add_record(db, "2001", vaccine=vaccine, on=on, institution_code="C001", term="初回")
        with db.transaction() as s:
            s.get(VaccinationRecord, rid).lot_no = lot
    issued = issue_certificate(db, settings, actor=OPERATOR, atena_no="2001", request=REQUEST, today=date(2026, 12, 3),
                               shc=True)
    assert (issued.records, issued.cards, issued.pdf.pages) == (3, 1, 2)
    path = tmp_path / "cert.pdf"
    path.write_bytes(issued.pdf.content)
    listed = flat(pdf_text(path, 1, 1))
    assert "電子証明書SMARTHealthCard1枚（2ページ目のQRコード）" in listed
    scanned = qr_codes(path, tmp_path, 2)  # tmp_path/page2.png: looked at, one QR centred under the explanation
    assert len(scanned) == 1 and scanned[0].startswith("shc:/")
    [card] = _verified_cards(settings, scanned)
    assert card["name"] == "熊谷 子1" and card["birth_date"] == "2025-11-02"
    assert [(i["date"], i["lot"], i["performer"]) for i in card["immunizations"]] == [
        (on.isoformat(), lot, "熊谷こどもクリニック") for _v, on, lot in doses]
    for _v, on, lot in doses:  # the printed list shows the same doses
        assert to_wareki(on) in listed and lot in listed
    assert "1/1ヒブ2件・BCG1件" in flat(pdf_text(path, 2, 2))
    jws = shc.jws_from_qr(scanned[0])
    with db.transaction() as s:
        printed = s.execute(select(AuditEntry).where(AuditEntry.action == "print")).scalar_one()
        issue = s.execute(select(AuditEntry).where(AuditEntry.action == "shc.issue")).scalar_one()
    detail = json.loads(printed.detail)
    assert detail["sha256"] == issued.pdf.sha256 and detail["issue_no"] == issued.issue_no
    assert detail["shc"]["jws_sha256"] == [hashlib.sha256(jws.encode("ascii")).hexdigest()]
    assert json.loads(issue.detail)["channel"] == "certificate" and issue.atena_no == "2001"


def test_a_long_history_prints_every_card_of_the_set_each_labelled(db, settings, tmp_path):
    from tests.integration.test_shc_cards import load_long_elderly_history

    rows = load_long_elderly_history(db, settings, tmp_path, OPERATOR)
    issued = issue_certificate(db, settings, actor=OPERATOR, atena_no="1002", request=REQUEST, shc=True)
    assert (issued.records, issued.cards, issued.pdf.pages) == (30, 2, 3)
    path = tmp_path / "cert.pdf"
    path.write_bytes(issued.pdf.content)
    scanned = qr_codes(path, tmp_path, 3)
    assert len(scanned) == 2
    cards = _verified_cards(settings, scanned)
    on_cards = sorted((i["date"], i["lot"]) for c in cards for i in c["immunizations"])
    listed = flat(pdf_text(path, 1, 2))
    assert len(on_cards) == 30 and all(lot_no in listed and to_wareki(date.fromisoformat(d)) in listed
                                       for d, lot_no in on_cards)
    assert sorted(r.split(",")[13] for r in rows) == sorted(lot_no for _d, lot_no in on_cards)
    page = flat(pdf_text(path, 3, 3))
    assert "1/2" in page and "2/2" in page and "接種種別ごとに分けています" in page


def test_cli_prints_the_card_on_request(db, settings, tmp_path):
    load_city(db, settings, tmp_path)
    add_record(db, "2001", vaccine="HIB", on=date(2026, 1, 10), term="初回")
    cert = tmp_path / "cert.pdf"
    r = run(settings, "certificate", "2001", "--out", str(cert), "--requested-by", "熊谷 花子",
            "--relationship", "親権者（法定代理人）", "--identity", "運転免許証", "--shc")
    assert r.returncode == 0, r.stderr
    assert "SMART Health Card 1 枚" in r.stdout
    [card] = _verified_cards(settings, qr_codes(cert, tmp_path, 2))
    assert [i["date"] for i in card["immunizations"]] == ["2026-01-10"]


def test_an_invalid_dose_is_marked_and_long_names_are_not_cut(db, settings, tmp_path):
    """Issue 22 item 6: an invalid dose printed as an ordinary 「2回目」, and names were cut with 「…」."""
    load_city(db, settings, tmp_path)
    long_name = "医療法人社団熊谷こどもとおとなのクリニック熊谷駅前分院小児科"
    with db.transaction() as s:
        s.add(Institution(code="C009", name=long_name))
    add_record(db, "2001", vaccine="HIB", on=date(2026, 1, 10), institution_code="C009", dose_no=1)
    add_record(db, "2001", vaccine="HIB", on=date(2026, 1, 17), institution_code="C009", dose_no=2,
               error_code="E_INTERVAL_TOO_SHORT")
    issued = issue_certificate(db, settings, actor=OPERATOR, atena_no="2001", request=REQUEST, today=date(2026, 12, 3))
    path = tmp_path / "cert.pdf"
    path.write_bytes(issued.pdf.content)
    text = flat(pdf_text(path))
    assert "無効※" in text and "2回目" not in text and "1回目" in text
    assert "※「無効」の接種は" in text and "定期接種の回数に数えていません" in text
    assert "…" not in text and text.count(long_name[-6:]) == 2  # wrapped onto a second line, never cut
    import subprocess
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(path), "/tmp/issue22-cert"], check=True)
