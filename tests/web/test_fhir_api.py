"""FHIR $everything, the SMART Health Card endpoints and the public jwks.json."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.domain import shc
from sesshu.fhir.shc import verify_card
from tests.web.conftest import MY_NUMBER, add_record, login


def test_everything_is_a_fhir_bundle_logged_as_an_export(client, db, make_staff, persons):
    add_record(db, persons["plain"], vaccine="MR", on=date(2021, 4, 10))
    login(client, make_staff("clerk"))
    r = client.get(f"/api/v1/fhir/Patient/{persons['plain']}/$everything", params={"purpose": "転出先への提供"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    assert r.headers["cache-control"] == "no-store"
    bundle = Bundle.model_validate(r.json())
    assert [e.resource.__resource_type__ for e in bundle.entry][:2] == ["Patient", "Immunization"]
    assert MY_NUMBER not in r.text
    with db.transaction() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "fhir.export")).scalar_one()
    assert entry.actor == "clerk-1" and entry.purpose == "転出先への提供"
    assert json.loads(entry.detail)["sha256"] == r.headers["x-content-sha256"]


def test_everything_for_an_unknown_person_is_404_and_on_record(client, db, make_staff):
    login(client, make_staff("clerk"))
    r = client.get("/api/v1/fhir/Patient/424242/$everything")
    assert r.status_code == 404 and r.json()["error"]["message"] == "宛名番号 424242 の方は登録されていません"
    with db.transaction() as s:
        assert s.execute(select(AuditEntry.action).where(AuditEntry.atena_no == "424242")).scalar_one() == \
            "person.view_missing"


def test_card_from_the_api_verifies_with_the_public_jwks(client, db, make_staff, persons, app):
    add_record(db, persons["plain"], vaccine="MR", on=date(2021, 4, 10))
    login(client, make_staff("clerk"))
    card = client.get(f"/api/v1/persons/{persons['plain']}/shc").json()
    assert card["qr_texts"] == [shc.qr_text(card["verifiableCredential"][0])]
    assert card["issuer"].startswith("http://localhost") and "https ではありません" in card["warning"]
    client.cookies.clear()  # the keys are public: no session
    r = client.get("/.well-known/jwks.json")
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
    keys = r.json()
    assert [k["kid"] for k in keys["keys"]] == [card["kid"]] and "d" not in keys["keys"][0]
    verified = shc.verify(card["verifiableCredential"][0], jwks=keys, issuers=(card["issuer"],),
                          now=datetime.now(timezone.utc))
    assert verified.bundle["entry"][1]["resource"]["occurrenceDateTime"] == "2021-04-10"
    assert verify_card(app.state.settings, card["qr_texts"][0]).issuer == card["issuer"]


def test_card_pdf_is_a_logged_print(client, db, make_staff, persons):
    add_record(db, persons["plain"], vaccine="MR", on=date(2021, 4, 10))
    login(client, make_staff("supervisor"))
    r = client.get(f"/api/v1/persons/{persons['plain']}/shc.pdf")
    assert r.status_code == 200 and r.content[:5] == b"%PDF-"
    with db.transaction() as s:
        detail = json.loads(s.execute(select(AuditEntry.detail).where(AuditEntry.action == "print")).scalar_one())
    assert detail["document"] == "smart-health-card"


def test_auditors_get_neither_bundle_nor_card(client, make_staff, persons):
    login(client, make_staff("auditor"))
    assert client.get(f"/api/v1/fhir/Patient/{persons['plain']}/$everything").status_code == 403
    assert client.get(f"/api/v1/persons/{persons['plain']}/shc").status_code == 403
