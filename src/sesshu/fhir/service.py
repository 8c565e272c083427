"""FHIR R4 export and import of one person's vaccination records.

An export of the Bundle is an export of personal data in the sense of seed III (媒体・外部への出力):
whichever way it leaves — the API, the screen of the CLI, or a file — it is an audit entry
`fhir.export` with its purpose, the channel, the number of resources and the SHA-256 of the exact
bytes delivered. A *file* is 媒体への出力 and so goes out only as an AES ZIP (sesshu.exports.service);
an API answer goes to a signed-in staff session over the city's TLS and is not a file, so it needs
`person.view` like the person page, but it is logged as an export, not as a view.

The import goes through the CSV imports' own parsers: the Patient becomes a 住基 row
(registry.rows.parse_registry_row), each Immunization a 予診票 row (ledger.rows.parse_record_row),
stored by the same code as `sesshu import records`, in one transaction, rejects with Japanese reasons.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pyzipper
from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.clock import today_jst, utc_iso, utcnow
from sesshu.conditions.facts import load_spans
from sesshu.pregnancy.facts import load_pregnancies
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.disclosure.suspension import log_refusals, suspended_among
from sesshu.domain import fhir
from sesshu.domain.errors import Conflict, InvalidInput, NotFound
from sesshu.domain.wareki import DateParseError, parse_date
from sesshu.exports import service as exports
from sesshu.imports.batch import ImportSummary, close_batch, open_batch
from sesshu.imports.csvfile import FileFacts
from sesshu.ledger.evaluation import evaluate_rows
from sesshu.ledger.models import Doctor, Institution, Lot, Manufacturer, Product, Vaccine, Venue
from sesshu.ledger.rows import parse_record_row
from sesshu.ledger.service import load_masters, person_records, store_parsed_rows
from sesshu.registry.models import Person
from sesshu.registry.rows import RowError, parse_registry_row
from sesshu.rulesets.active import rule_book

MEDIA_TYPE = "application/fhir+json"
_MASTER_MODELS = {"institution": Institution, "doctor": Doctor, "venue": Venue, "manufacturer": Manufacturer}
MAX_IMPORT_BYTES = 20 * 1024 * 1024
ADDRESS_MAX = Person.__table__.c.address.type.length


@dataclass(frozen=True)
class FhirExport:
    content: bytes
    sha256: str
    bundle: dict
    immunizations: int
    audit_seq: int
    filename: str = ""

    media_type = MEDIA_TYPE


def build_bundle(s: Session, settings: Settings, *, atena_no: str) -> tuple[dict, int]:
    """The person's Bundle, read in the caller's transaction (access already checked). Returns it and
    the number of Immunizations."""
    p = s.get(Person, atena_no)
    records = person_records(s, atena_no)
    as_of = today_jst()
    result = evaluate_rows(p.birth_date, p.sex, records, as_of, spans=load_spans(s, [atena_no]).get(atena_no, ()),
                           pregnancies=load_pregnancies(s, [atena_no]).get(atena_no, ()), book=rule_book(s))
    verdicts = {rid: fhir.Verdict(status=v.status, dose_number=v.dose_number, codes=v.codes, reasons=v.reasons)
                for rid, v in result.verdicts.items()}
    lots = {r.lot_no for r in records if r.lot_no}
    product_by_lot = dict(s.execute(select(Lot.lot_no, Product.name).join(Product, Product.code == Lot.product_code)
                                    .where(Lot.lot_no.in_(lots))).all()) if lots else {}
    bundle = fhir.person_bundle(
        fhir.PatientFacts(atena_no=p.atena_no, name=p.name, name_kana=p.name_kana, sex=p.sex,
                          birth_date=p.birth_date, postal_code=p.postal_code, address=p.address, phone=p.phone,
                          registry_status=p.registry_status, moved_in_on=p.moved_in_on,
                          moved_out_on=p.moved_out_on, died_on=p.died_on),
        records, municipality_code=settings.municipality_code, names=master_names(s, records),
        vaccine_names=dict(s.execute(select(Vaccine.code, Vaccine.name)).all()), verdicts=verdicts,
        products={r.id: product_by_lot[r.lot_no] for r in records if r.lot_no in product_by_lot})
    return bundle, len(records)


def master_names(s: Session, records) -> fhir.MasterNames:
    wanted = {
        "institution": {c for r in records for c in (r.institution_code, r.screening_institution_code) if c},
        "doctor": {c for r in records for c in (r.doctor_code, r.screening_doctor_code) if c},
        "venue": {r.venue_code for r in records if r.venue_code},
        "manufacturer": {r.manufacturer_code for r in records if r.manufacturer_code},
    }
    out = fhir.MasterNames()
    for kind, codes in wanted.items():
        if codes:
            model = _MASTER_MODELS[kind]
            getattr(out, kind).update(s.execute(select(model.code, model.name).where(model.code.in_(codes))).all())
    return out


def visible_person(s: Session, actor: Actor, atena_no: str, purpose: str) -> bool:
    if s.get(Person, atena_no) is None:
        audit.record(s, actor, "person.view_missing", atena_no=atena_no, purpose=purpose)
        return False
    access.check_visible(s, actor, atena_no)
    return True


SUSPENDED = "この方は利用停止の請求により、情報の出力を停止しています"


def _stopped(s: Session, actor: Actor, atena_no: str, channel: str) -> bool:
    """利用停止: a FHIR export is not a use the law requires, so a suspended person is not exported
    (the refusal is on record in this transaction, which commits; the caller then refuses)."""
    if not suspended_among(s, [atena_no]):
        return False
    log_refusals(s, actor, [atena_no], use="fhir.export", detail={"channel": channel})
    return True


def export_person(db: Database, settings: Settings, *, actor: Actor, atena_no: str, purpose: str,
                  channel: str) -> FhirExport:
    """The Bundle as JSON bytes for the API or the screen (`channel`: api / cli), logged as an export."""
    purpose = exports.check_purpose(purpose)
    with db.transaction() as s:
        found = visible_person(s, actor, atena_no, purpose)
        stopped = found and _stopped(s, actor, atena_no, channel)
        if found and not stopped:
            bundle, count = build_bundle(s, settings, atena_no=atena_no)
            bundle["timestamp"] = utc_iso()
            content = json.dumps(bundle, ensure_ascii=False, indent=2).encode("utf-8")
            digest = hashlib.sha256(content).hexdigest()
            seq = audit.record(s, actor, "fhir.export", atena_no=atena_no, purpose=purpose,
                               detail={"channel": channel, "format": MEDIA_TYPE, "immunizations": count,
                                       "resources": len(bundle["entry"]), "sha256": digest})
    if not found:
        raise NotFound(f"宛名番号 {atena_no} の方は登録されていません")
    if stopped:
        raise Conflict(SUSPENDED)
    return FhirExport(content=content, sha256=digest, bundle=bundle, immunizations=count, audit_seq=seq)


def export_person_file(db: Database, settings: Settings, *, actor: Actor, atena_no: str, purpose: str,
                       password: str) -> FhirExport:
    """The Bundle as a file: an AES-256 ZIP holding `<宛名番号>.fhir.json` (媒体への出力)."""
    purpose = exports.prepare(actor, purpose=purpose, password=password)
    with db.transaction() as s:
        found = visible_person(s, actor, atena_no, purpose)
        stopped = found and _stopped(s, actor, atena_no, "file")
        if found and not stopped:
            bundle, count = build_bundle(s, settings, atena_no=atena_no)
            bundle["timestamp"] = utc_iso()
            member = f"{atena_no}.fhir.json"
            content = exports.encrypted_zip(member, json.dumps(bundle, ensure_ascii=False, indent=2).encode("utf-8"),
                                            password)
            digest = hashlib.sha256(content).hexdigest()
            filename = f"{atena_no}.fhir.zip"
            seq = audit.record(s, actor, "fhir.export", atena_no=atena_no, purpose=purpose,
                               detail={"channel": "file", "format": exports.ZIP_FORMAT, "member": member,
                                       "file": filename, "immunizations": count,
                                       "resources": len(bundle["entry"]), "sha256": digest})
    if not found:
        raise NotFound(f"宛名番号 {atena_no} の方は登録されていません")
    if stopped:
        raise Conflict(SUSPENDED)
    return FhirExport(content=content, sha256=digest, bundle=bundle, immunizations=count, audit_seq=seq,
                      filename=filename)


# --- import -------------------------------------------------------------------------------------------

@dataclass
class FhirImportSummary:
    summary: ImportSummary
    atena_no: str
    person_created: bool
    masters_added: dict[str, int]
    rejects: list[dict] = field(default_factory=list)  # {"entry", "kind", "reason"}

    def as_dict(self) -> dict:
        return self.summary.as_dict() | {"atena_no": self.atena_no, "person_created": self.person_created,
                                         "masters_added": self.masters_added, "rejects": self.rejects}


class _Rejects:
    """Collects rejected entries the way RejectWriter collects CSV lines."""

    def __init__(self):
        self.rows: list[dict] = []

    def write(self, line_no: int, kind: str, reason: str, raw: list[str]) -> None:
        self.rows.append({"entry": raw[0] if raw else str(line_no), "kind": kind, "reason": reason})


def read_file(path: Path, *, password: str | None) -> tuple[dict, bytes]:
    """The Bundle JSON from a .json file or from the AES ZIP `fhir export` writes."""
    raw = path.read_bytes()
    if len(raw) > MAX_IMPORT_BYTES:
        raise InvalidInput("ファイルが大きすぎます（1人分のBundleは20MBまで）")
    data = raw
    if raw[:4] == b"PK\x03\x04":
        if not password:
            raise InvalidInput("パスワード付きZIPです。パスワードを指定してください")
        try:
            with pyzipper.AESZipFile(io.BytesIO(raw)) as z:
                z.setpassword(password.encode("ascii"))
                names = [n for n in z.namelist() if n.endswith(".json")]
                if len(names) != 1:
                    raise InvalidInput("ZIPの中にBundleのJSONファイルが1つだけ入っている必要があります")
                data = z.read(names[0])
        except RuntimeError:
            raise InvalidInput("ZIPのパスワードが違います") from None
    try:
        return json.loads(data.decode("utf-8-sig")), raw
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInput(f"JSONとして読めません: {e}") from None


def import_bundle(db: Database, settings: Settings, *, path: Path, actor: Actor,
                  password: str | None = None) -> FhirImportSummary:
    data, raw = read_file(path, password=password)
    try:
        parsed = fhir.read_bundle(data, municipality_code=settings.municipality_code)
    except fhir.BundleError as e:
        raise InvalidInput(str(e)) from None
    today = today_jst()
    facts = FileFacts(encoding="utf-8", sha256=hashlib.sha256(raw).hexdigest(), size=len(raw))
    rejects = _Rejects()
    with db.transaction() as s:
        atena_no, created = _person(s, actor, parsed.patient, parsed.patient_dates, today)
        added = _add_masters(s, parsed.masters)
        masters = load_masters(s)
        batch = open_batch(s, kind="records-fhir", path=path, facts=facts, actor=actor)
        summary = ImportSummary(batch_id=batch.id, file=path.name, encoding=facts.encoding)
        rows = []
        for entry in parsed.immunizations:
            summary.read += 1
            line = SimpleNamespace(line_no=entry.index, raw=[entry.label])
            problem = entry.problem
            if not problem:
                try:
                    fields = parse_record_row(entry.values, masters=masters, today=today)
                    if fields.get("remarks"):
                        # 備考 is free text: the CSV parser normalises it (NFKC), but a Bundle carries the text
                        # as the sending system stored it, so a round trip keeps （）and full-width spaces.
                        fields["remarks"] = entry.values["備考"].strip()
                    rows.append((line, fields))
                    continue
                except RowError as e:
                    problem = str(e)
            summary.rejected += 1
            rejects.write(entry.index, "エラー", problem, [entry.label])
        store_parsed_rows(s, rows, batch_id=batch.id, actor=actor, summary=summary, rejects=rejects, queued=set(),
                          municipality=settings.municipality_code)
        close_batch(batch, summary)
        audit.record(s, actor, "records.import", atena_no=atena_no, purpose="FHIR Bundle の取込",
                     detail={"batch_id": batch.id, "file": path.name, "format": MEDIA_TYPE, "sha256": facts.sha256,
                             "read": summary.read, "accepted": summary.accepted, "rejected": summary.rejected,
                             "duplicates": summary.duplicates, "person_created": created, "masters_added": added})
    return FhirImportSummary(summary=summary, atena_no=atena_no, person_created=created, masters_added=added,
                             rejects=rejects.rows)


def _person(s: Session, actor: Actor, values: dict[str, str], dates: dict[str, str], today) -> tuple[str, bool]:
    """The Patient as a 住基 row: an existing person must be the same (生年月日・性別); a new one is
    registered from it, except 住登外 (those need the four-eyes registration). The address is kept as
    the Bundle writes it (the 住基 parser's normalisation would turn （）and full-width spaces half-width),
    and the 転入・転出・死亡 dates come from their own elements (a 住基 row carries only one 異動日)."""
    try:
        fields = parse_registry_row(values, today=today)
    except RowError as e:
        raise InvalidInput(f"Patient: {e}") from None
    address = values.get("住所", "").strip()
    if len(address) > ADDRESS_MAX:
        raise InvalidInput(f"Patient: 住所が長すぎます（{ADDRESS_MAX}文字まで）")
    fields["address"] = address
    for key, raw in dates.items():
        label = fhir.PATIENT_DATE_LABELS[key]
        try:
            fields[key] = parse_date(raw)
        except DateParseError as e:
            raise InvalidInput(f"Patient: {label}: {e}") from None
        if fields[key] > today or fields[key] < fields["birth_date"]:
            raise InvalidInput(f"Patient: {label}が生年月日より前か未来の日付です: {raw}")
    atena_no = fields["atena_no"]
    existing = s.get(Person, atena_no)
    if existing is not None:
        access.check_visible(s, actor, atena_no)
        if existing.birth_date != fields["birth_date"] or existing.sex != fields["sex"]:
            raise InvalidInput(f"宛名番号 {atena_no} の方と生年月日・性別が一致しません（別の方の記録の可能性があります）")
        return atena_no, False
    if fields["registry_status"] == "non_resident":
        raise InvalidInput("住登外者はFHIRの取込では登録できません。住登外者の登録（承認）を済ませてから取り込んでください")
    now = utcnow()
    fields.pop("_my_number")
    s.add(Person(**fields, created_at=now, updated_at=now))
    s.flush()
    audit.record(s, actor, "registry.register_from_fhir", atena_no=atena_no, purpose="FHIR Bundle の取込",
                 detail={"registry_status": fields["registry_status"]})
    return atena_no, True


def _add_masters(s: Session, masters: dict[str, dict[str, str]]) -> dict[str, int]:
    """Codes the records use and this city's masters lack are added with the Bundle's names; existing
    master rows are never changed by an import."""
    added = {}
    for kind, codes in masters.items():
        model = _MASTER_MODELS[kind]
        known = set(s.execute(select(model.code).where(model.code.in_(list(codes)))).scalars()) if codes else set()
        new = {c: n for c, n in codes.items() if c not in known}
        for code, name in new.items():
            if len(code) > 20:
                raise InvalidInput(f"マスタのコードが長すぎます（20文字まで）: {code}")
            s.add(model(code=code, name=(name or code)[:100]))
        if new:
            added[kind] = len(new)
    s.flush()
    return added
