"""SMART Health Card certificates: issue (file, PDF), scan the printed QR, verify, rotate the key."""
from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.config import load_settings
from sesshu.domain.errors import InvalidInput
from sesshu.domain.shc import CardError
from sesshu.fhir import shc_keys
from sesshu.fhir.shc import describe, issue_cards, verify_card
from sesshu.ledger.service import import_records
from sesshu.registry.service import import_registry
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, write
from tests.integration.test_cli import run
from tests.integration.test_fhir_export_import import OPS, city  # noqa: F401 — the fixture


def _scan(pdf, tmp_path) -> str:
    subprocess.run(["pdftoppm", "-r", "200", "-png", str(pdf), str(tmp_path / "page")], check=True)
    png = next(tmp_path.glob("page*.png"))
    return subprocess.run(["zbarimg", "-q", "--raw", str(png)], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_cli_issues_a_pdf_whose_qr_scans_and_verifies(city, settings, tmp_path):  # noqa: F811
    pdf, card = tmp_path / "card.pdf", tmp_path / "card.smart-health-card"
    r = run(settings, "shc", "issue", city, "--pdf", str(pdf), "--out", str(card))
    assert r.returncode == 0, r.stderr
    scanned = _scan(pdf, tmp_path)
    jws = json.loads(card.read_text())["verifiableCredential"][0]
    assert scanned.startswith("shc:/")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "予防接種証明書" in text and "山田" in text and "ヒブ" in text and "HB001" in text
    assert "BCG" not in text.split("接種医療機関")[1]  # 予診のみ is not a vaccination
    out = run(settings, "shc", "verify", scanned, "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["issuer"] == settings.shc_issuer and info["birth_date"] == "2023-04-10"
    assert [i["date"] for i in info["immunizations"]] == ["2023-06-09", "2023-07-10"]
    assert info["immunizations"][0]["lot"] == "HB001"
    assert run(settings, "shc", "verify", str(card)).returncode == 0
    # The card file and the QR may come from different issues; each verifies on its own.
    assert verify_card(settings, jws).issuer == settings.shc_issuer


def test_issue_and_print_are_on_record(city, db, settings, tmp_path):  # noqa: F811
    [card] = issue_cards(db, settings, actor=OPS, atena_no=city, purpose="本人の請求", channel="api")
    with db.transaction() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "shc.issue")).scalar_one()
    detail = json.loads(entry.detail)
    assert entry.atena_no == city and detail["kid"] == card.kid and detail["sha256"] == [card.sha256]
    assert detail["immunizations"] == 2
    r = run(settings, "shc", "issue", city, "--pdf", str(tmp_path / "c.pdf"))
    assert r.returncode == 0, r.stderr
    with db.transaction() as s:
        printed = s.execute(select(AuditEntry).where(AuditEntry.action == "print")).scalar_one()
    assert json.loads(printed.detail)["document"] == "smart-health-card"


def test_key_rotation_keeps_old_cards_verifiable_and_destroys_the_old_private_key(city, db, settings):  # noqa: F811
    [old] = issue_cards(db, settings, actor=OPS, atena_no=city, purpose="本人の請求", channel="api")
    r = run(settings, "shc", "rotate-key")
    assert r.returncode == 0, r.stderr
    [new] = issue_cards(db, settings, actor=OPS, atena_no=city, purpose="本人の請求", channel="api")
    assert new.kid != old.kid
    assert not (shc_keys.key_dir(settings) / f"{old.kid}.key.pem").exists()
    assert [k["kid"] for k in shc_keys.jwks(settings)["keys"]] == [new.kid, old.kid]
    assert all("d" not in k for k in shc_keys.jwks(settings)["keys"])
    assert verify_card(settings, old.qr_text).header["kid"] == old.kid
    assert verify_card(settings, new.jws).header["kid"] == new.kid
    with db.transaction() as s:
        assert s.execute(select(AuditEntry.detail).where(AuditEntry.action == "shc.rotate_key")).scalar_one()


def test_a_card_of_another_issuer_is_refused_unless_its_keys_are_given(tmp_path):
    settings = load_settings(var_dir=tmp_path)  # verifying needs no database
    spec = "tests/fixtures/shc/example-00-d-jws.txt"
    refused = run(settings, "shc", "verify", spec)
    assert refused.returncode == 1 and "公開鍵一覧にありません" in refused.stderr
    accepted = run(settings, "shc", "verify", spec, "--jwks", "tests/fixtures/shc/issuer-jwks.json",
                   "--issuer", "https://spec.smarthealth.cards/examples/issuer")
    assert accepted.returncode == 0, accepted.stderr
    assert "Anyperson John B." in accepted.stdout
    wrong_issuer = run(settings, "shc", "verify", spec, "--jwks", "tests/fixtures/shc/issuer-jwks.json",
                       "--issuer", "https://city.example.jp")
    assert wrong_issuer.returncode == 1 and "信頼する発行者ではありません" in wrong_issuer.stderr


def test_another_issuers_keys_need_that_issuer_named(tmp_path):
    settings = load_settings(var_dir=tmp_path)
    spec = "tests/fixtures/shc/example-00-d-jws.txt"
    bare = run(settings, "shc", "verify", spec, "--jwks", "tests/fixtures/shc/issuer-jwks.json")
    assert bare.returncode == 1 and "--issuer" in bare.stderr


def test_cli_refuses_the_specs_revoked_example_with_the_issuers_crl(tmp_path):
    settings = load_settings(var_dir=tmp_path)
    spec03, kid = "tests/fixtures/shc/example-03-d-jws.txt", "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"
    args = ("shc", "verify", spec03, "--jwks", "tests/fixtures/shc/issuer-jwks-crl.json",
            "--issuer", "https://spec.smarthealth.cards/examples/issuer")
    no_crl = run(settings, *args)
    assert no_crl.returncode == 1 and "失効リスト" in no_crl.stderr
    revoked = run(settings, *args, "--crl", f"tests/fixtures/shc/crl-{kid}.json")
    assert revoked.returncode == 1 and "失効されています" in revoked.stderr
    spec02 = run(settings, "shc", "verify", "tests/fixtures/shc/example-02-d-jws.txt", "--jwks",
                 "tests/fixtures/shc/issuer-jwks.json", "--issuer", "https://spec.smarthealth.cards/examples/issuer")
    assert spec02.returncode == 0, spec02.stderr


def test_no_card_is_issued_under_a_non_https_issuer_outside_localhost(city, db, settings):  # noqa: F811
    production = load_settings(var_dir=settings.var_dir, database_url=settings.resolved_database_url,
                               shc_issuer="http://sesshu.city.kumagaya.example.jp")
    with pytest.raises(InvalidInput, match="https でなければなりません"):
        issue_cards(db, production, actor=OPS, atena_no=city, purpose="接種証明書の発行", channel="api")
    r = run(settings, "shc", "issue", city)  # the test city's issuer is http://localhost: issued, with a warning
    assert r.returncode == 0 and r.stdout.startswith("shc:/")
    assert "https ではありません" in r.stderr


def test_tampered_qr_text_is_refused(city, db, settings):  # noqa: F811
    [card] = issue_cards(db, settings, actor=OPS, atena_no=city, purpose="本人の請求", channel="api")
    digits = card.qr_text[5:]
    header_end = card.jws.index(".") * 2 + 2
    flipped = digits[:header_end + 10] + ("1" if digits[header_end + 10] != "1" else "2") + digits[header_end + 11:]
    with pytest.raises(CardError):
        verify_card(settings, "shc:/" + flipped)


def test_a_person_without_vaccinations_gets_no_card(city, db, settings):  # noqa: F811
    with pytest.raises(InvalidInput, match="証明書に載せる接種記録がありません"):
        issue_cards(db, settings, actor=OPS, atena_no=city, purpose="本人の請求", channel="api", vaccines=("MR",))


def load_long_elderly_history(db, settings, tmp_path, actor) -> list[str]:
    """宛名番号 1002, born 1950: 15 flu and 15 COVID doses with distinct lots — too long for one QR.
    Returns the 予診票 rows imported."""
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n1002,,鈴木　花子,スズキ ハナコ,女,1950-05-05,,熊谷市宮町2-2,,,,,,,\n")
    assert import_registry(db, settings, path=tmp_path / "reg.csv", actor=actor).accepted == 1
    lot = lambda v, i: hashlib.sha1(f"{v}{i}".encode()).hexdigest()[:8].upper()  # noqa: E731 — real lots vary
    rows = [f"1002,FLU_ELDER,,1,定期B類,{2010 + i}-10-15,接種,,,,,,,{lot('F', i)},0.5,,,,,," for i in range(15)]
    rows += [f"1002,COVID,,{i + 1},定期B類,{2010 + i}-11-20,接種,,,,,,,{lot('C', i)},0.3,,,,,," for i in range(15)]
    write(tmp_path / "rec.csv", RECORD_HEADER + "\n" + "\n".join(rows) + "\n")
    assert import_records(db, settings, path=tmp_path / "rec.csv", actor=actor).accepted == 30
    return rows


def test_a_history_too_long_for_one_qr_becomes_one_card_per_vaccine(db, settings, tmp_path):
    load_long_elderly_history(db, settings, tmp_path, OPS)
    cards = issue_cards(db, settings, actor=OPS, atena_no="1002", purpose="本人の請求", channel="api")
    assert len(cards) == 2 and all(len(c.jws) <= 1195 for c in cards)
    codes = [{i["codes"][0] for i in describe(verify_card(settings, c.qr_text))["immunizations"]} for c in cards]
    assert codes == [{"urn:sesshu:fhir:cs:vaccine|FLU_ELDER"}, {"urn:sesshu:fhir:cs:vaccine|COVID"}]
