"""接種歴証明書 on a 照会申請: doses listed, issue number never reused, the request and the print on record."""
from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.certificates.models import Certificate
from sesshu.certificates.service import CertificateRequest, issue_certificate
from sesshu.domain.errors import InvalidInput
from sesshu.ledger.models import Institution, VaccinationRecord
from tests.integration.notices_city import OPERATOR, load_city
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
