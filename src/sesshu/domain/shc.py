"""SMART Health Cards (spec.smarthealth.cards, v1): the signed card, its QR text, and its verification.

Pure: keys come in as `cryptography` objects or JWK dicts, "now" is passed in. What the spec fixes:
- JWS compact serialisation, header {"zip":"DEF","alg":"ES256","kid":<RFC 7638 thumbprint>};
- payload {"iss","nbf","vc":{"type":[…#health-card…],"credentialSubject":{"fhirVersion","fhirBundle"}}},
  minified JSON compressed with raw DEFLATE (no zlib header) before signing;
- the Bundle minimised for QR use: no Resource.id / meta / DomainResource.text / CodeableConcept.text /
  Coding.display, fullUrl and references as resource:N;
- QR text "shc:/" + two digits per JWS character (ord(c) − 45); one QR holds a JWS of ≤ 1195 characters
  (version 22 at error correction L). Chunked QRs are deprecated and not produced here.
"""
from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

HEALTH_CARD = "https://smarthealth.cards#health-card"
IMMUNIZATION_CARD = "https://smarthealth.cards#immunization"
QR_PREFIX = "shc:/"
MAX_SINGLE_QR_JWS = 1195  # V22 at error correction L (spec: Chunking; FAQ/qr.md)
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class CardError(ValueError):
    """A card that does not verify; the message (Japanese) says why."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as e:
        raise CardError("JWS の base64url 部分を読み取れません") from e


def _coordinate(n: int) -> str:
    return b64url(n.to_bytes(32, "big"))


def jwk_thumbprint(jwk: dict) -> str:
    """RFC 7638: SHA-256 of the required EC members in lexicographic order, no whitespace."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict:
    """The public key as the spec wants it in jwks.json (never the private `d`)."""
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("SMART Health Cards use P-256 keys")
    numbers = key.public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": _coordinate(numbers.x), "y": _coordinate(numbers.y)}
    return {"kty": "EC", "kid": jwk_thumbprint(jwk), "use": "sig", "alg": "ES256", "crv": "P-256",
            "x": jwk["x"], "y": jwk["y"]}


def public_key_from_jwk(jwk: dict) -> ec.EllipticCurvePublicKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise CardError("P-256 の EC 公開鍵ではありません")
    x = int.from_bytes(b64url_decode(jwk["x"]), "big")
    y = int.from_bytes(b64url_decode(jwk["y"]), "big")
    try:
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError as e:
        raise CardError("公開鍵の座標が P-256 の曲線上にありません") from e


def _minified(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def deflate_raw(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def inflate_raw(data: bytes) -> bytes:
    try:
        d = zlib.decompressobj(-15)
        out = d.decompress(data, 1_000_000) + d.flush()
    except zlib.error as e:
        raise CardError("JWS のペイロードを展開できません（raw DEFLATE ではありません）") from e
    if d.unconsumed_tail:
        raise CardError("JWS のペイロードが大きすぎます")
    return out


# --- the Bundle, minimised --------------------------------------------------------------------------

def minimise(bundle: dict) -> dict:
    """The spec's QR minimisation of a Bundle: resource:N URIs, and no id/meta/text/display."""
    urls = {}
    for i, entry in enumerate(bundle.get("entry", [])):
        res = entry.get("resource", {})
        for key in (entry.get("fullUrl"), f"{res.get('resourceType')}/{res.get('id')}" if res.get("id") else None):
            if key:
                urls[key] = f"resource:{i}"

    def walk(node, *, top: bool = False, codeable: bool = False):
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {}
        is_codeable = "coding" in node
        for k, v in node.items():
            if top and k in ("id", "text"):
                continue
            if top and k == "meta":
                if isinstance(v, dict) and v.get("security"):
                    out["meta"] = {"security": v["security"]}
                continue
            if k == "text" and is_codeable:
                continue
            if k == "display" and codeable:
                continue
            if k == "reference" and isinstance(v, str):
                out[k] = urls.get(v, v)
                continue
            if k == "coding":
                out[k] = [walk(c, codeable=True) for c in v]
                continue
            out[k] = walk(v)
        return out

    entries = []
    for i, entry in enumerate(bundle.get("entry", [])):
        entries.append({"fullUrl": f"resource:{i}", "resource": walk(entry["resource"], top=True)})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


# --- signing and verifying --------------------------------------------------------------------------

def card_payload(*, issuer: str, issued_at: datetime, bundle: dict, types: tuple[str, ...] = (IMMUNIZATION_CARD,),
                 fhir_version: str = "4.0.1") -> dict:
    if issuer.endswith("/"):
        raise ValueError("iss must not end with '/'")
    return {"iss": issuer, "nbf": int(issued_at.timestamp()),
            "vc": {"type": [HEALTH_CARD, *types],
                   "credentialSubject": {"fhirVersion": fhir_version, "fhirBundle": bundle}}}


def sign(payload: dict, key: ec.EllipticCurvePrivateKey) -> str:
    kid = public_jwk(key.public_key())["kid"]
    header = b64url(_minified({"zip": "DEF", "alg": "ES256", "kid": kid}))
    body = b64url(deflate_raw(_minified(payload)))
    der = key.sign(f"{header}.{body}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{header}.{body}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@dataclass(frozen=True)
class VerifiedCard:
    header: dict
    payload: dict

    @property
    def bundle(self) -> dict:
        return self.payload["vc"]["credentialSubject"]["fhirBundle"]

    @property
    def issuer(self) -> str:
        return self.payload["iss"]


def issuer_url_problem(issuer: str) -> tuple[str, bool]:
    """Whether `issuer` may be printed into a card as iss: ("", True) when it is fine; (warning, True)
    for http on a loopback host (a developer's or the demo's own machine: no one else can fetch its keys,
    so such a card never verifies elsewhere); (reason, False) for anything else the spec forbids
    ("The URL at iss SHALL use the https scheme and SHALL NOT include a trailing /")."""
    parsed = urlsplit(issuer)
    if issuer.endswith("/"):
        return f"発行者URL（SESSHU_SHC_ISSUER）の末尾に / を付けないでください: {issuer}", False
    if parsed.scheme == "https" and parsed.hostname:
        return "", True
    if parsed.scheme == "http" and parsed.hostname in LOOPBACK_HOSTS:
        return (f"発行者URL {issuer} は https ではありません。開発・デモ用のカードで、他の検証アプリでは"
                "検証できません（本番は SESSHU_SHC_ISSUER に市の https のURLを設定してください）"), True
    return (f"発行者URL（SESSHU_SHC_ISSUER）は https でなければなりません（仕様: Issuer URL SHALL use https）: "
            f"{issuer}"), False


def _revocation(payload: dict, key: dict, crls: dict[str, dict]) -> None:
    """The spec's revocation check: when the issuer's key lists `crlVersion`, its Card Revocation List
    SHALL be consulted, and a card whose `vc.rid` is listed (issued before the rid's timestamp suffix,
    if any) is refused."""
    version = key.get("crlVersion")
    if version is None:
        return
    kid = key["kid"]
    crl = crls.get(kid)
    if crl is None:
        raise CardError(f"発行者は鍵 {kid} の失効リスト（crlVersion {version}）を公開しています。"
                        f"失効リスト（/.well-known/crl/{kid}.json）を指定してください")
    if crl.get("kid") != kid:
        raise CardError(f"失効リストの kid（{crl.get('kid')}）が署名鍵 {kid} のものではありません")
    if crl.get("method", "rid") != "rid":
        raise CardError(f"失効リストの方式「{crl.get('method')}」には対応していません（rid のみ）")
    if not isinstance(crl.get("ctr"), int) or crl["ctr"] < version:
        raise CardError(f"失効リストが古いです（ctr {crl.get('ctr')}、公開鍵の crlVersion {version}）。"
                        "最新の失効リストを取得してください")
    rid = (payload.get("vc") or {}).get("rid")
    if not rid:
        return  # cards without rid can only be revoked by the issuer's external methods (or its key)
    for entry in crl.get("rids") or []:
        listed, _, until = str(entry).partition(".")
        if until and not until.isdigit():
            raise CardError(f"失効リストの rid の形式が正しくありません: {entry}")
        if listed == rid and (not until or payload.get("nbf", 0) < int(until)):
            raise CardError(f"このカードは発行者により失効されています（rid {rid}）")


def verify(jws: str, *, jwks: dict, issuers: tuple[str, ...], now: datetime,
           crls: dict[str, dict] | None = None) -> VerifiedCard:
    """Check the signature with the issuer's keys, then the issuer, the revocation list, the dates and
    the content.

    `issuers`: the iss values accepted — always given: a JWKS says nothing about whose keys it holds, so
    a card is trusted only for an issuer the caller names together with that issuer's keys.
    `crls`: Card Revocation Lists by kid, needed for keys that list `crlVersion`."""
    if not issuers:
        raise ValueError("verify needs the accepted issuers")
    parts = jws.strip().split(".")
    if len(parts) != 3:
        raise CardError("JWS（コンパクト形式: ヘッダ.ペイロード.署名）ではありません")
    try:
        header = json.loads(b64url_decode(parts[0]))
    except ValueError as e:
        raise CardError("JWS のヘッダをJSONとして読めません") from e
    if header.get("alg") != "ES256":
        raise CardError(f"署名方式が ES256 ではありません（{header.get('alg')}）")
    if header.get("zip") != "DEF":
        raise CardError("ヘッダに zip: DEF がありません")
    kid = header.get("kid")
    key = next((k for k in jwks.get("keys", []) if k.get("kid") == kid), None)
    if key is None:
        raise CardError(f"署名鍵（kid {kid}）が発行者の公開鍵一覧にありません")
    if jwk_thumbprint(key) != kid:
        raise CardError("公開鍵の kid が鍵の指紋（RFC 7638）と一致しません")
    signature = b64url_decode(parts[2])
    if len(signature) != 64:
        raise CardError("署名の長さが ES256 のもの（64バイト）ではありません")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public_key_from_jwk(key).verify(der, f"{parts[0]}.{parts[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise CardError("署名が正しくありません（改ざんされたか、別の鍵で署名されています）") from None
    try:
        payload = json.loads(inflate_raw(b64url_decode(parts[1])))
    except ValueError as e:
        raise CardError("ペイロードをJSONとして読めません") from e
    if payload.get("iss") not in issuers:
        raise CardError(f"発行者（iss {payload.get('iss')}）が信頼する発行者ではありません")
    _revocation(payload, key, crls or {})
    nbf = payload.get("nbf")
    if not isinstance(nbf, (int, float)):
        raise CardError("発行日時（nbf）がありません")
    if nbf > now.timestamp() + 300:  # five minutes of clock skew
        raise CardError("発行日時（nbf）が未来です")
    exp = payload.get("exp")
    if exp is not None and exp < now.timestamp():
        raise CardError("有効期限（exp）が過ぎています")
    vc = payload.get("vc") or {}
    if HEALTH_CARD not in (vc.get("type") or []):
        raise CardError("vc.type に https://smarthealth.cards#health-card がありません")
    bundle = (vc.get("credentialSubject") or {}).get("fhirBundle") or {}
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "collection":
        raise CardError("credentialSubject.fhirBundle が collection の Bundle ではありません")
    if (vc.get("credentialSubject") or {}).get("fhirVersion") is None:
        raise CardError("credentialSubject.fhirVersion がありません")
    # No rule on which resources the Bundle holds: the framework leaves that to the content profiles
    # (the spec's example 02 has no Patient), so the card is shown as it is.
    entries = bundle.get("entry") or []
    for i, e in enumerate(entries):
        if e.get("fullUrl") != f"resource:{i}":
            raise CardError(f"entry[{i}].fullUrl が resource:{i} ではありません")
    return VerifiedCard(header=header, payload=payload)


# --- QR text ----------------------------------------------------------------------------------------

def qr_text(jws: str) -> str:
    return QR_PREFIX + "".join(f"{ord(c) - 45:02d}" for c in jws)


def qr_segments(jws: str) -> list[tuple[str, str]]:
    """The two QR segments the spec requires: the prefix in byte mode, the digits in numeric mode."""
    return [("byte", QR_PREFIX), ("numeric", qr_text(jws)[len(QR_PREFIX):])]


def jws_from_qr(text: str) -> str:
    text = text.strip()
    if not text.startswith(QR_PREFIX):
        raise CardError("shc:/ で始まるQRの文字列ではありません")
    digits = text[len(QR_PREFIX):]
    if "/" in digits:
        raise CardError("分割されたQR（廃止された chunk 形式）には対応していません")
    if not digits.isdigit() or len(digits) % 2:
        raise CardError("shc:/ の後は偶数桁の数字でなければなりません")
    chars = []
    for i in range(0, len(digits), 2):
        n = int(digits[i:i + 2])
        if n > 77:  # ord('z') - 45
            raise CardError("shc:/ の数字がJWSの文字の範囲外です")
        chars.append(chr(n + 45))
    return "".join(chars)
