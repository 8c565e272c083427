"""SMART Health Card certificates of a person's vaccination history: issue, verify, rotate the key.

A card is a certificate handed to the person it is about (the resident takes it to a wallet app or
shows its QR), so — like a printed 接種済証 — it is not encrypted; it is logged like a print: audit entry
`shc.issue` with purpose, channel, key id, dose count and the SHA-256 of the JWS.

For the certificate PDF (tickets/certificates): `build_cards(s, settings, atena_no=…)` gives the card(s)
in the caller's transaction (the caller logs its print and `log_issue`); each card's `qr_text` is the shc:/
text and `draw_shc_qr(doc, x, y, size, card.qr_text)` draws it (sesshu.fhir.card_pdf).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.domain import fhir
from sesshu.domain import shc
from sesshu.domain.errors import InvalidInput, NotFound
from sesshu.exports import service as exports
from sesshu.fhir import shc_keys
from sesshu.fhir.service import visible_person, master_names
from sesshu.ledger.models import Lot, Product, Vaccine
from sesshu.ledger.service import person_records
from sesshu.registry.models import Person

FILE_MEDIA_TYPE = "application/smart-health-card"


@dataclass(frozen=True)
class Dose:
    vaccinated_on: date
    vaccine: str
    dose_no: int | None
    lot_no: str
    institution: str


@dataclass(frozen=True)
class Card:
    jws: str
    qr_text: str
    kid: str
    issuer: str
    issued_at: datetime
    name: str
    birth_date: date
    doses: tuple[Dose, ...]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.jws.encode("ascii")).hexdigest()


def build_cards(s: Session, settings: Settings, *, atena_no: str, vaccines: tuple[str, ...] = (),
                now: datetime | None = None) -> list[Card]:
    """The signed card(s) of a person's vaccinations, in the caller's transaction (access checked by the caller).

    One card for the whole history when it fits one QR; otherwise one card per 接種種別 (the spec's
    granular sharing: immunizations for different diseases SHOULD be kept separate). A 接種種別 whose
    doses alone do not fit one QR is refused rather than cut.
    """
    p = s.get(Person, atena_no)
    if p is None:
        raise NotFound(f"宛名番号 {atena_no} の方は登録されていません")
    records = [r for r in person_records(s, atena_no)
               if r.screening_result != "screened_only" and (not vaccines or r.vaccine_code in vaccines)]
    if not records:
        raise InvalidInput("証明書に載せる接種記録がありません")
    names = master_names(s, records)
    lots = {r.lot_no for r in records if r.lot_no}
    product_by_lot = dict(s.execute(select(Lot.lot_no, Product.name).join(Product, Product.code == Lot.product_code)
                                    .where(Lot.lot_no.in_(lots))).all()) if lots else {}
    products = {r.id: product_by_lot[r.lot_no] for r in records if r.lot_no in product_by_lot}
    vaccine_names = dict(s.execute(select(Vaccine.code, Vaccine.name)).all())
    patient = fhir.PatientFacts(atena_no=p.atena_no, name=p.name, name_kana=p.name_kana, sex=p.sex,
                                birth_date=p.birth_date)
    now = now or datetime.now(timezone.utc)
    issuer = checked_issuer(settings)
    kid, key = shc_keys.signing_key(settings)

    def card(group) -> Card:
        bundle = shc.minimise(fhir.health_card_bundle(patient, group, names=names, products=products))
        jws = shc.sign(shc.card_payload(issuer=issuer, issued_at=now, bundle=bundle), key)
        doses = tuple(Dose(vaccinated_on=r.vaccinated_on, vaccine=vaccine_names.get(r.vaccine_code, r.vaccine_code),
                           dose_no=r.dose_no, lot_no=r.lot_no,
                           institution=names.institution.get(r.institution_code or "", "")) for r in group)
        return Card(jws=jws, qr_text=shc.qr_text(jws), kid=kid, issuer=issuer, issued_at=now, name=p.name,
                    birth_date=p.birth_date, doses=doses)

    whole = card(records)
    if len(whole.jws) <= shc.MAX_SINGLE_QR_JWS:
        return [whole]
    groups: dict[str, list] = {}
    for r in records:
        groups.setdefault(r.vaccine_code, []).append(r)
    cards = [card(group) for group in groups.values()]
    for c, code in zip(cards, groups):
        if len(c.jws) > shc.MAX_SINGLE_QR_JWS:
            raise InvalidInput(f"{vaccine_names.get(code, code)}の接種記録が多く、1つのQRコードに収まりません"
                               f"（{len(c.jws)}文字、上限{shc.MAX_SINGLE_QR_JWS}文字）")
    return cards


def checked_issuer(settings: Settings) -> str:
    """The iss for new cards; refused unless https (http is let through only for a loopback host: the
    developer's machine or the demo, see domain.shc.issuer_url_problem)."""
    issuer = settings.shc_issuer.rstrip("/")
    problem, allowed = shc.issuer_url_problem(issuer)
    if not allowed:
        raise InvalidInput(problem)
    return issuer


def issuer_warning(settings: Settings) -> str:
    """The warning to show with cards issued under an http (loopback) issuer; "" in production."""
    problem, allowed = shc.issuer_url_problem(settings.shc_issuer.rstrip("/"))
    return problem if allowed else ""


def log_issue(s: Session, actor: Actor, *, atena_no: str, purpose: str, channel: str, cards: list[Card]) -> None:
    audit.record(s, actor, "shc.issue", atena_no=atena_no, purpose=purpose,
                 detail={"channel": channel, "kid": cards[0].kid, "cards": len(cards),
                         "immunizations": sum(len(c.doses) for c in cards),
                         "sha256": [c.sha256 for c in cards]})


def issue_cards(db: Database, settings: Settings, *, actor: Actor, atena_no: str, purpose: str, channel: str,
                vaccines: tuple[str, ...] = ()) -> list[Card]:
    """Issue the person's card(s) (API, CLI file); logged like a print of a certificate."""
    purpose = exports.check_purpose(purpose)
    with db.transaction() as s:
        found = visible_person(s, actor, atena_no, purpose)
        if found:
            cards = build_cards(s, settings, atena_no=atena_no, vaccines=vaccines)
            log_issue(s, actor, atena_no=atena_no, purpose=purpose, channel=channel, cards=cards)
    if not found:
        raise NotFound(f"宛名番号 {atena_no} の方は登録されていません")
    return cards


def issue_card_pdf(db: Database, settings: Settings, *, actor: Actor, atena_no: str, purpose: str,
                   vaccines: tuple[str, ...] = ()):
    """The certificate: one page per card with its QR and doses; the print is logged with the PDF's hash."""
    from sesshu.fhir.card_pdf import card_pdf

    purpose = exports.check_purpose(purpose)
    with db.transaction() as s:
        found = visible_person(s, actor, atena_no, purpose)
        if found:
            cards = build_cards(s, settings, atena_no=atena_no, vaccines=vaccines)
            printed = card_pdf(cards, municipality=settings.municipality_name)
            exports.log_print(s, actor, document="smart-health-card", purpose=purpose,
                              rows=sum(len(c.doses) for c in cards), sha256=printed.sha256, atena_no=atena_no,
                              detail={"kid": cards[0].kid, "cards": len(cards),
                                      "jws_sha256": [c.sha256 for c in cards]})
    if not found:
        raise NotFound(f"宛名番号 {atena_no} の方は登録されていません")
    return cards, printed


def card_file(cards: list[Card]) -> bytes:
    """The .smart-health-card file (spec: 'via File Download'): every card's JWS."""
    return json.dumps({"verifiableCredential": [c.jws for c in cards]}).encode("utf-8")


def read_card_text(text: str) -> list[str]:
    """The JWS(s) in what a verifier is given: a shc:/ QR text, a .smart-health-card file, or a bare JWS."""
    text = text.strip()
    if text.startswith(shc.QR_PREFIX):
        return [shc.jws_from_qr(text)]
    if text.startswith("{"):
        try:
            vcs = json.loads(text).get("verifiableCredential") or []
        except (ValueError, AttributeError):
            raise shc.CardError("SMART Health Card ファイル（verifiableCredential）として読めません") from None
        if not isinstance(vcs, list) or not vcs:
            raise shc.CardError("ファイルにカード（verifiableCredential）がありません")
        return vcs
    return [text]


def verify_cards(settings: Settings, text: str, *, jwks: dict | None = None,
                 issuers: tuple[str, ...] | None = None, crls: dict[str, dict] | None = None,
                 now: datetime | None = None) -> list[shc.VerifiedCard]:
    """Verify every card in `text` against our keys and issuer (default) or another issuer's JWKS, which
    counts only together with the issuer(s) it belongs to: keys alone do not say whose cards they sign."""
    if jwks is None:
        jwks = shc_keys.jwks(settings)
        issuers = issuers or (settings.shc_issuer.rstrip("/"),)
    elif not issuers:
        raise shc.CardError("他の発行者の公開鍵（--jwks）を使うときは、その発行者のURL（--issuer）も指定してください")
    now = now or datetime.now(timezone.utc)
    return [shc.verify(jws, jwks=jwks, issuers=issuers, crls=crls, now=now) for jws in read_card_text(text)]


def verify_card(settings: Settings, text: str, **kw) -> shc.VerifiedCard:
    """One card (a QR text or a JWS)."""
    cards = verify_cards(settings, text, **kw)
    if len(cards) != 1:
        raise shc.CardError(f"カードが{len(cards)}枚あります")
    return cards[0]


def verify_input(settings: Settings, source: str, **kw) -> list[shc.VerifiedCard]:
    """`source` is the text itself (a shc:/ QR text or a JWS) or a file path."""
    stripped = source.strip()
    if stripped.startswith(shc.QR_PREFIX) or (stripped.startswith("ey") and stripped.count(".") == 2
                                              and "/" not in stripped):
        return verify_cards(settings, stripped, **kw)  # a QR text or a compact JWS, not a file name
    return verify_cards(settings, Path(source).read_text(encoding="utf-8"), **kw)


def rotate_key(db: Database, settings: Settings, *, actor: Actor) -> tuple[str, list[str]]:
    kid, retired = shc_keys.rotate(settings)
    with db.transaction() as s:
        audit.record(s, actor, "shc.rotate_key", purpose="SMART Health Card 署名鍵の更新",
                     detail={"kid": kid, "retired": retired})
    return kid, retired


def describe(card: shc.VerifiedCard) -> dict:
    """What a verified card says, for the CLI and tests."""
    entries = [e["resource"] for e in card.bundle.get("entry", [])]
    patient = next((r for r in entries if r.get("resourceType") == "Patient"), {})
    name = (patient.get("name") or [{}])[0]
    return {"issuer": card.issuer, "kid": card.header.get("kid"),
            "issued_at": datetime.fromtimestamp(card.payload["nbf"], timezone.utc).isoformat(),
            "name": " ".join([name.get("family", ""), *name.get("given", [])]).strip(),
            "birth_date": patient.get("birthDate"),
            "immunizations": [{"date": r.get("occurrenceDateTime"),
                               "codes": [f"{c.get('system')}|{c.get('code')}"
                                         for c in (r.get("vaccineCode") or {}).get("coding", [])],
                               "lot": r.get("lotNumber"),
                               "performer": ((r.get("performer") or [{}])[0].get("actor") or {}).get("display")}
                              for r in entries if r.get("resourceType") == "Immunization"]}
