"""Web side of FHIR and SMART Health Cards: $everything, the card (JSON and PDF), the public keys."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from sesshu.fhir import shc_keys
from sesshu.fhir.service import MEDIA_TYPE, export_person
from sesshu.fhir.shc import issue_card_pdf, issue_cards, issuer_warning
from sesshu.web.deps import get_db, get_settings, require

router = APIRouter(tags=["fhir"])
public_router = APIRouter(include_in_schema=False)

AtenaNo = Annotated[str, Path(pattern=r"^[0-9]{1,15}$")]
Purpose = Annotated[str, Query(max_length=100, description="利用目的（記録されます）")]
Vaccines = Annotated[list[str], Query(description="載せる接種種別（省略時はすべて）")]


@router.get("/api/v1/fhir/Patient/{atena_no}/$everything", summary="個人の接種記録（FHIR R4 Bundle）",
            response_class=Response, responses={200: {"content": {MEDIA_TYPE: {}}}})
def fhir_everything(request: Request, atena_no: AtenaNo, purpose: Purpose = "FHIR形式での接種記録の提供",
                    session=Depends(require("person.view"))):
    exported = export_person(get_db(request), get_settings(request), actor=session.actor, atena_no=atena_no,
                             purpose=purpose, channel="api")
    return Response(exported.content, media_type=MEDIA_TYPE, headers={"X-Content-SHA256": exported.sha256})


@router.get("/api/v1/persons/{atena_no}/shc", summary="接種証明書（SMART Health Card）とQRの文字列")
def shc_card(request: Request, atena_no: AtenaNo, purpose: Purpose = "接種証明書の発行（本人の請求）",
             vaccine: Vaccines = [], session=Depends(require("certificate.issue"))):
    cards = issue_cards(get_db(request), get_settings(request), actor=session.actor, atena_no=atena_no,
                        purpose=purpose, channel="api", vaccines=tuple(v.upper() for v in vaccine))
    # The body is also a valid .smart-health-card file (its verifiableCredential array).
    return JSONResponse({"verifiableCredential": [c.jws for c in cards], "qr_texts": [c.qr_text for c in cards],
                         "kid": cards[0].kid, "issuer": cards[0].issuer, "issued_at": cards[0].issued_at.isoformat(),
                         "immunizations": [len(c.doses) for c in cards],
                         **({"warning": w} if (w := issuer_warning(get_settings(request))) else {})})


@router.get("/api/v1/persons/{atena_no}/shc.pdf", summary="接種証明書（SMART Health Card）のPDF")
def shc_card_pdf(request: Request, atena_no: AtenaNo, purpose: Purpose = "接種証明書の発行（本人の請求）",
                 vaccine: Vaccines = [], session=Depends(require("certificate.issue"))):
    _cards, printed = issue_card_pdf(get_db(request), get_settings(request), actor=session.actor, atena_no=atena_no,
                                    purpose=purpose, vaccines=tuple(v.upper() for v in vaccine))
    return Response(printed.content, media_type=printed.media_type,
                    headers={"Content-Disposition": f'attachment; filename="shc-{atena_no}.pdf"'})


@public_router.get("/.well-known/jwks.json")
def jwks(request: Request):
    """The city's public SMART Health Card keys, current and retired; public, with CORS (the spec)."""
    return JSONResponse(shc_keys.jwks(get_settings(request)), headers={"Access-Control-Allow-Origin": "*"})
