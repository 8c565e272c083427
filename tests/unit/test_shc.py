"""SMART Health Cards (pure): the spec's example vectors, our signing, minimisation, and QR text."""
from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sesshu.domain import shc
from sesshu.fhir.card_pdf import draw_shc_qr
from sesshu.printing import PdfDocument

FIXTURES = Path(__file__).parent.parent / "fixtures" / "shc"
SPEC_JWS = (FIXTURES / "example-00-d-jws.txt").read_text().strip()
SPEC_QR = (FIXTURES / "example-00-f-qr-code-numeric-value-0.txt").read_text().strip()
SPEC_JWKS = json.loads((FIXTURES / "issuer-jwks.json").read_text())
SPEC_ISSUER = "https://spec.smarthealth.cards/examples/issuer"
NOW = datetime(2026, 12, 3, tzinfo=timezone.utc)


def test_spec_example_card_verifies_with_the_spec_issuer_keys():
    card = shc.verify(SPEC_JWS, jwks=SPEC_JWKS, issuers=(SPEC_ISSUER,), now=NOW)
    assert card.header == {"zip": "DEF", "alg": "ES256", "kid": "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"}
    patient = card.bundle["entry"][0]["resource"]
    assert patient == {"resourceType": "Patient", "name": [{"family": "Anyperson", "given": ["John", "B."]}],
                       "birthDate": "1951-01-20"}
    assert [e["resource"]["resourceType"] for e in card.bundle["entry"]] == ["Patient", "Immunization", "Immunization"]


def test_spec_example_kid_is_the_rfc7638_thumbprint_of_its_key():
    key = SPEC_JWKS["keys"][0]
    assert shc.jwk_thumbprint(key) == key["kid"]


def test_spec_qr_text_decodes_to_the_spec_jws_and_back():
    assert shc.jws_from_qr(SPEC_QR) == SPEC_JWS
    assert shc.qr_text(SPEC_JWS) == SPEC_QR


def test_spec_card_is_refused_for_another_issuer_or_with_other_keys():
    with pytest.raises(shc.CardError, match="信頼する発行者ではありません"):
        shc.verify(SPEC_JWS, jwks=SPEC_JWKS, issuers=("https://city.example.jp",), now=NOW)
    other = {"keys": [shc.public_jwk(ec.generate_private_key(ec.SECP256R1()).public_key())]}
    with pytest.raises(shc.CardError, match="公開鍵一覧にありません"):
        shc.verify(SPEC_JWS, jwks=other, issuers=(SPEC_ISSUER,), now=NOW)


def test_a_changed_payload_breaks_the_signature():
    header, payload, signature = SPEC_JWS.split(".")
    forged = shc.b64url(shc.deflate_raw(shc.inflate_raw(shc.b64url_decode(payload)).replace(b"Anyperson", b"Someone")))
    with pytest.raises(shc.CardError, match="署名が正しくありません"):
        shc.verify(f"{header}.{forged}.{signature}", jwks=SPEC_JWKS, issuers=(SPEC_ISSUER,), now=NOW)


def _bundle():
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:p", "resource": {"resourceType": "Patient", "id": "1001", "meta": {"profile": ["x"]},
                                               "text": {"status": "generated"}, "name": [{"family": "山田"}],
                                               "birthDate": "2023-04-10"}},
        {"fullUrl": "urn:uuid:i", "resource": {
            "resourceType": "Immunization", "id": "record-1", "status": "completed",
            "vaccineCode": {"coding": [{"system": "urn:sesshu:fhir:cs:vaccine", "code": "HIB", "display": "ヒブ"}],
                            "text": "ヒブ"},
            "patient": {"reference": "urn:uuid:p"}, "occurrenceDateTime": "2023-06-09",
            "performer": [{"actor": {"display": "熊谷こどもクリニック"}}]}}]}


def test_minimise_follows_the_spec_rules_for_qr_cards():
    out = shc.minimise(_bundle())
    patient, imm = (e["resource"] for e in out["entry"])
    assert [e["fullUrl"] for e in out["entry"]] == ["resource:0", "resource:1"]
    assert patient == {"resourceType": "Patient", "name": [{"family": "山田"}], "birthDate": "2023-04-10"}
    assert imm["patient"] == {"reference": "resource:0"}
    assert imm["vaccineCode"] == {"coding": [{"system": "urn:sesshu:fhir:cs:vaccine", "code": "HIB"}]}
    assert "id" not in imm and imm["performer"] == [{"actor": {"display": "熊谷こどもクリニック"}}]


def test_our_card_has_the_spec_header_and_verifies_with_our_published_key():
    key = ec.generate_private_key(ec.SECP256R1())
    payload = shc.card_payload(issuer="https://sesshu.city.example.jp", issued_at=NOW, bundle=shc.minimise(_bundle()))
    jws = shc.sign(payload, key)
    header = json.loads(shc.b64url_decode(jws.split(".")[0]))
    jwk = shc.public_jwk(key.public_key())
    assert header == {"zip": "DEF", "alg": "ES256", "kid": jwk["kid"]} and "d" not in jwk
    card = shc.verify(jws, jwks={"keys": [jwk]}, issuers=("https://sesshu.city.example.jp",), now=NOW)
    assert card.payload["nbf"] == int(NOW.timestamp())
    assert card.payload["vc"]["type"] == ["https://smarthealth.cards#health-card", "https://smarthealth.cards#immunization"]
    assert card.payload["vc"]["credentialSubject"]["fhirVersion"] == "4.0.1"
    # raw DEFLATE: no zlib header (0x78…) in front of the compressed payload
    assert shc.b64url_decode(jws.split(".")[1])[:1] != b"\x78"


def test_a_card_issued_in_the_future_or_expired_is_refused():
    key = ec.generate_private_key(ec.SECP256R1())
    jwks = {"keys": [shc.public_jwk(key.public_key())]}
    payload = shc.card_payload(issuer="https://a.example", issued_at=datetime(2027, 1, 1, tzinfo=timezone.utc),
                               bundle=shc.minimise(_bundle()))
    with pytest.raises(shc.CardError, match="未来"):
        shc.verify(shc.sign(payload, key), jwks=jwks, issuers=("https://a.example",), now=NOW)
    payload = shc.card_payload(issuer="https://a.example", issued_at=NOW, bundle=shc.minimise(_bundle()))
    payload["exp"] = int(NOW.timestamp()) - 10
    with pytest.raises(shc.CardError, match="有効期限"):
        shc.verify(shc.sign(payload, key), jwks=jwks, issuers=("https://a.example",), now=NOW)


def test_qr_text_refuses_what_is_not_a_single_shc_qr():
    with pytest.raises(shc.CardError, match="shc:/ で始まる"):
        shc.jws_from_qr("https://example.com")
    with pytest.raises(shc.CardError, match="chunk"):
        shc.jws_from_qr("shc:/1/2/5676")
    with pytest.raises(shc.CardError, match="偶数桁"):
        shc.jws_from_qr("shc:/567")


def test_printed_qr_of_the_spec_card_scans_back_to_its_shc_text(tmp_path):
    doc = PdfDocument(title="SHC", author="熊谷市")
    assert draw_shc_qr(doc, 20, 20, 60, SPEC_QR) <= 22  # numeric mode at level L: within the spec's V22
    pdf = tmp_path / "card.pdf"
    pdf.write_bytes(doc.finish().content)
    subprocess.run(["pdftoppm", "-r", "200", "-png", str(pdf), str(tmp_path / "page")], check=True)
    png = next(tmp_path.glob("page*.png"))
    out = subprocess.run(["zbarimg", "-q", "--raw", str(png)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == SPEC_QR


# --- the spec's examples 02 (no Patient) and 03 (revoked) -------------------------------------------

SPEC_JWS_02 = (FIXTURES / "example-02-d-jws.txt").read_text().strip()
SPEC_JWS_03 = (FIXTURES / "example-03-d-jws.txt").read_text().strip()
SPEC_JWKS_CRL = json.loads((FIXTURES / "issuer-jwks-crl.json").read_text())
SPEC_KID = "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"
SPEC_CRL = json.loads((FIXTURES / f"crl-{SPEC_KID}.json").read_text())
BEFORE_03_EXPIRES = datetime(2022, 6, 1, tzinfo=timezone.utc)  # example 03: nbf 2021-12-14, exp 2022-12-14


def test_spec_example_02_without_a_patient_verifies():
    card = shc.verify(SPEC_JWS_02, jwks=SPEC_JWKS, issuers=(SPEC_ISSUER,), now=NOW)
    types = [e["resource"]["resourceType"] for e in card.bundle["entry"]]
    assert "Patient" not in types and types
    assert card.issuer == SPEC_ISSUER


def test_spec_example_03_is_refused_as_revoked_by_the_issuers_crl():
    with pytest.raises(shc.CardError, match="失効されています（rid vwAjHdarZuc）"):
        shc.verify(SPEC_JWS_03, jwks=SPEC_JWKS_CRL, issuers=(SPEC_ISSUER,), crls={SPEC_KID: SPEC_CRL},
                   now=BEFORE_03_EXPIRES)


def test_a_key_with_crl_version_needs_its_current_crl():
    with pytest.raises(shc.CardError, match="失効リスト.*を指定してください"):
        shc.verify(SPEC_JWS_03, jwks=SPEC_JWKS_CRL, issuers=(SPEC_ISSUER,), now=BEFORE_03_EXPIRES)
    newer_keys = json.loads(json.dumps(SPEC_JWKS_CRL))
    newer_keys["keys"][0]["crlVersion"] = 2
    with pytest.raises(shc.CardError, match="失効リストが古いです"):
        shc.verify(SPEC_JWS_03, jwks=newer_keys, issuers=(SPEC_ISSUER,), crls={SPEC_KID: SPEC_CRL},
                   now=BEFORE_03_EXPIRES)


def test_a_rid_revoked_only_until_a_time_lets_later_cards_through():
    # 03's rid listed with a timestamp before its nbf: only cards issued before that time are revoked.
    crl = SPEC_CRL | {"rids": ["vwAjHdarZuc.1600000000"]}
    card = shc.verify(SPEC_JWS_03, jwks=SPEC_JWKS_CRL, issuers=(SPEC_ISSUER,), crls={SPEC_KID: crl},
                      now=BEFORE_03_EXPIRES)
    assert card.payload["vc"]["rid"] == "vwAjHdarZuc"
    # A card without rid (example 00) passes the CRL check of the same key.
    assert shc.verify(SPEC_JWS, jwks=SPEC_JWKS_CRL, issuers=(SPEC_ISSUER,), crls={SPEC_KID: SPEC_CRL}, now=NOW)


def test_a_malformed_crl_entry_is_refused_not_skipped():
    crl = SPEC_CRL | {"rids": ["vwAjHdarZuc.soon"]}
    with pytest.raises(shc.CardError, match="rid の形式が正しくありません"):
        shc.verify(SPEC_JWS_03, jwks=SPEC_JWKS_CRL, issuers=(SPEC_ISSUER,), crls={SPEC_KID: crl},
                   now=BEFORE_03_EXPIRES)


def test_verify_needs_the_issuers_it_trusts():
    with pytest.raises(ValueError):
        shc.verify(SPEC_JWS, jwks=SPEC_JWKS, issuers=(), now=NOW)


@pytest.mark.parametrize("issuer, allowed, warned", [
    ("https://sesshu.city.kumagaya.example.jp", True, False),
    ("http://localhost:8000", True, True),
    ("http://127.0.0.1:8600", True, True),
    ("http://sesshu.city.kumagaya.example.jp", False, False),
    ("https://sesshu.city.kumagaya.example.jp/", False, False),
    ("sesshu.city.kumagaya.example.jp", False, False),
])
def test_issuer_url_must_be_https_except_on_the_developers_own_machine(issuer, allowed, warned):
    problem, ok = shc.issuer_url_problem(issuer)
    assert ok is allowed
    assert bool(problem) is (warned or not allowed)
