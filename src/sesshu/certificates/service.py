"""照会申請 → 予防接種済証 / 接種歴証明書: the request is recorded (who asked, relationship, how identity was
confirmed), a never-reused issue number is taken, the PDF is printed from the ledger and logged as a print.

With `shc=True` the certificate also carries the person's SMART Health Card(s), signed with the city's key
(sesshu.fhir.shc.build_cards) in the same transaction: the same doses as the printed list, the cards'
hashes in the print log and an `shc.issue` entry (channel `certificate`), as for any other card."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml
from sqlalchemy import select

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.certificates.models import Certificate
from sesshu.certificates.render import CardQr, CertificateData, Dose, render_certificate
from sesshu.clock import today_jst, utcnow
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.domain.errors import InvalidInput, NotFound
from sesshu.domain.text import clean
from sesshu.exports.service import check_purpose, log_print
from sesshu.fhir import shc as health_cards
from sesshu.ledger.listing import verdict_of
from sesshu.ledger.models import Institution, VaccinationRecord, Vaccine
from sesshu.printing import PrintedPdf
from sesshu.registry.models import Person
from sesshu.tickets import numbers
from sesshu.tickets.catalog import letters


@lru_cache(maxsize=1)
def request_data() -> dict:
    return yaml.safe_load((Path(__file__).parent / "requests.yaml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class CertificateRequest:
    """照会申請: who asked (氏名), their relationship to the person, and how identity was confirmed."""

    requested_by: str
    relationship: str
    identity_method: str
    kind: str = "history"  # history (接種歴証明書) | receipt (予防接種済証)
    vaccine: str | None = None  # receipt for one vaccine only
    purpose: str = "接種歴の証明（照会申請）"

    def checked(self) -> "CertificateRequest":
        data = request_data()
        who = clean(self.requested_by)
        if not who or len(who) > 100:
            raise InvalidInput("申請者の氏名を入力してください（100文字以内）")
        if self.relationship not in data["relationships"]:
            raise InvalidInput(f"申請者と本人の関係は {'・'.join(data['relationships'])} のいずれかです")
        if self.identity_method not in data["identity_methods"]:
            raise InvalidInput("本人確認の方法を一覧から選んでください")
        if self.kind not in data["kinds"]:
            raise InvalidInput("証明書の種類は history（接種歴証明書）か receipt（予防接種済証）です")
        return CertificateRequest(who, self.relationship, self.identity_method, self.kind,
                                  (self.vaccine or "").strip().upper() or None, check_purpose(self.purpose))


@dataclass(frozen=True)
class IssuedCertificate:
    issue_no: str
    records: int
    pdf: PrintedPdf
    cards: int = 0  # SMART Health Cards printed on it


def _dose_label(r) -> str:
    """期 and 回数 as typed, or what the schedule engine made of the dose where it does not count:
    a resident must not read an invalid dose as an ordinary 「2回目」."""
    verdict = verdict_of(r.error_code)
    if verdict == "invalid":
        return "無効※"
    parts = [r.term] if r.term else []
    if r.dose_no:
        parts.append(f"{r.dose_no}回目")
    if verdict == "voluntary":
        parts.append("（任意接種）")
    return " ".join(parts)


def _card_caption(card: health_cards.Card) -> str:
    counts: dict[str, int] = {}
    for dose in card.doses:
        counts[dose.vaccine] = counts.get(dose.vaccine, 0) + 1
    return "・".join(f"{name} {n}件" for name, n in counts.items())


def issue_certificate(db: Database, settings: Settings, *, actor: Actor, atena_no: str, request: CertificateRequest,
                      today: date | None = None, extra_qr: str | None = None, extra_qr_label: str = "",
                      shc: bool = False) -> IssuedCertificate:
    request = request.checked()
    today = today or today_jst()
    kinds = request_data()["kinds"]
    with db.transaction() as s:
        p = s.get(Person, atena_no)
        if p is None:
            raise NotFound(f"宛名番号 {atena_no} の方は登録されていません")
        access.check_visible(s, actor, atena_no)
        q = (select(VaccinationRecord, Vaccine.name, Institution.name)
             .join(Vaccine, Vaccine.code == VaccinationRecord.vaccine_code)
             .outerjoin(Institution, Institution.code == VaccinationRecord.institution_code)
             .where(VaccinationRecord.atena_no == atena_no, VaccinationRecord.status == "active",
                    VaccinationRecord.screening_result != "screened_only"))
        if request.vaccine:
            q = q.where(VaccinationRecord.vaccine_code == request.vaccine)
        rows = s.execute(q.order_by(VaccinationRecord.vaccinated_on, VaccinationRecord.id)).all()
        if request.kind == "receipt" and not rows:
            raise InvalidInput("証明できる接種記録がありません")
        fiscal_year = today.year if today.month >= 4 else today.year - 1
        n = numbers.take(s, f"certificate:{fiscal_year}")[0]
        issue_no = f"{fiscal_year}-{n:05d}"
        t = letters()
        data = CertificateData(
            title=kinds[request.kind], issue_no=issue_no, issued_on=today, municipality_name=settings.municipality_name,
            issuer=t["issuer"].replace("熊谷市", settings.municipality_name), statement=t["certificate"]["statement"],
            note=t["certificate"]["note"], atena_no=p.atena_no, name=p.name, name_kana=p.name_kana, sex=p.sex,
            birth_date=p.birth_date, address=p.address,
            doses=[Dose(r.vaccinated_on, vname, _dose_label(r), r.lot_no, iname or "",
                        invalid=verdict_of(r.error_code) == "invalid") for r, vname, iname in rows])
        cards = health_cards.build_cards(s, settings, atena_no=atena_no,
                                         vaccines=(request.vaccine,) if request.vaccine else ()) if shc else []
        pdf = render_certificate(data, extra_qr=extra_qr, extra_qr_label=extra_qr_label,
                                 cards=[CardQr(c.qr_text, _card_caption(c)) for c in cards])
        s.add(Certificate(issue_no=issue_no, atena_no=atena_no, requested_by=request.requested_by,
                          relationship=request.relationship, identity_method=request.identity_method,
                          purpose=request.purpose, records=len(rows), sha256=pdf.sha256, issued_at=utcnow(),
                          issued_by=actor.label))
        detail = {"issue_no": issue_no, "kind": request.kind, "vaccine": request.vaccine, "records": len(rows),
                  "requested_by": request.requested_by, "relationship": request.relationship,
                  "identity_method": request.identity_method}
        audit.record(s, actor, "certificate.request", atena_no=atena_no, purpose=request.purpose, detail=detail)
        printed = {"issue_no": issue_no, "pages": pdf.pages}
        if cards:
            printed["shc"] = {"kid": cards[0].kid, "cards": len(cards), "jws_sha256": [c.sha256 for c in cards]}
            health_cards.log_issue(s, actor, atena_no=atena_no, purpose=request.purpose, channel="certificate",
                                   cards=cards)
        log_print(s, actor, document=kinds[request.kind], purpose=request.purpose, rows=len(rows), sha256=pdf.sha256,
                  atena_no=atena_no, detail=printed)
        return IssuedCertificate(issue_no=issue_no, records=len(rows), pdf=pdf, cards=len(cards))


def person_certificates(db: Database, *, actor: Actor, atena_no: str) -> list[Certificate]:
    with db.transaction() as s:
        access.check_visible(s, actor, atena_no)
        return list(s.execute(select(Certificate).where(Certificate.atena_no == atena_no)
                              .order_by(Certificate.id.desc())).scalars())
