"""FHIR R4 (JP Core) shapes of a person and their vaccination records, both ways. Pure: no DB, no web.

Export: `person_bundle` turns registry facts, ledger records, the schedule engine's verdicts and the
master names into a Bundle of Patient + Immunization resources (JP_Patient / JP_Immunization) and the
Organization / Practitioner / Location resources they refer to, so another sesshu can load its masters.
Import: `read_bundle` turns such a Bundle back into 住基-row and 予診票-row values (the CSV headers), which
the importer then validates with the very parsers of the CSV imports.

What never leaves: the 個人番号 (特定個人情報 goes only through the 中間サーバー), 世帯 data, and
voided records. Mapping decisions are described in docs/fhir.md.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Iterable

import yaml

UCUM = "http://unitsofmeasure.org"
EN_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
PERFORMER_FUNCTION = "http://terminology.hl7.org/CodeSystem/v2-0443"
FHIR_VERSION = "4.0.1"

# Ledger fields with no FHIR element of their own travel in one extension, so a re-import is complete.
LEDGER_FIELDS = {
    "category": "接種区分", "billing_month": "請求月", "ticket_no": "券番号", "first_product": "初回ワクチン区分",
    "dt_kind": "二混合区分", "former_municipality": "合併前市町村",
    "screening_institution_code": "予診医療機関コード", "screening_doctor_code": "予診医師コード", "remarks": "備考",
}
REGISTRY_STATUS_LABELS = {"resident": "住民", "moved_out": "転出", "deceased": "死亡", "non_resident": "住登外"}


class BundleError(ValueError):
    """The file as a whole cannot be read as a sesshu person Bundle (message in Japanese)."""


@dataclass(frozen=True)
class Mapping:
    namespace: str
    profiles: dict
    code_systems: dict
    hot9_by_product: dict[str, str]
    cvx_by_vaccine: dict[str, str] = field(default_factory=dict)  # sesshu vaccine code → CVX (SMART Health Cards)

    def cs(self, name: str) -> str:
        return f"{self.namespace}:cs:{name}"

    def ext(self, name: str) -> str:
        return f"{self.namespace}:ext:{name}"

    def id_system(self, kind: str) -> str:
        return f"{self.namespace}:id:{kind}"

    def atena_system(self, municipality_code: str) -> str:
        return f"{self.namespace}:id:atena-no:{municipality_code}"


@lru_cache(maxsize=1)
def load_mapping() -> Mapping:
    raw = yaml.safe_load(resources.files("sesshu.data").joinpath("fhir.yaml").read_text(encoding="utf-8"))
    return Mapping(namespace=raw["namespace"], profiles=raw["profiles"], code_systems=raw["code_systems"],
                   hot9_by_product={h["product_name"]: h["hot9"] for h in raw.get("hot_codes") or []},
                   cvx_by_vaccine={c["vaccine"]: str(c["cvx"]) for c in raw.get("cvx_codes") or []})


# --- export -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PatientFacts:
    atena_no: str
    name: str
    name_kana: str
    sex: str  # M / F
    birth_date: date
    postal_code: str = ""
    address: str = ""
    phone: str = ""
    registry_status: str = "resident"
    moved_in_on: date | None = None
    moved_out_on: date | None = None
    died_on: date | None = None


@dataclass(frozen=True)
class Verdict:
    status: str
    dose_number: int | None
    codes: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


@dataclass
class MasterNames:
    """code → name for each master kind the records use."""

    institution: dict[str, str] = field(default_factory=dict)
    doctor: dict[str, str] = field(default_factory=dict)
    venue: dict[str, str] = field(default_factory=dict)
    manufacturer: dict[str, str] = field(default_factory=dict)


# master kind → (resource type, the Reference's type)
_MASTER_RESOURCES = {"institution": "Organization", "manufacturer": "Organization", "doctor": "Practitioner",
                     "venue": "Location"}
# Registry event dates with no Patient element of their own (the death date has deceasedDateTime).
PATIENT_DATE_EXTENSIONS = {"moved_in_on": "moved-in-on", "moved_out_on": "moved-out-on"}
PATIENT_DATE_LABELS = {"moved_in_on": "転入日", "moved_out_on": "転出日", "died_on": "死亡日"}
# 保険医療機関コード (10 digits): 都道府県番号 01–47, 点数表番号 1 (医科) or 3 (歯科), then 7 digits
# (JP Core JP_Organization, identifier[medicalInstitutionCode]).
_MEDICAL_INSTITUTION_CODE = re.compile(r"^(0[1-9]|[1-3][0-9]|4[0-7])[13][0-9]{7}$")


def _urn(m: Mapping, municipality_code: str, kind: str, key: str) -> str:
    """A stable urn:uuid per thing, so the same data always gives the same Bundle (and the same hash)."""
    return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{m.namespace}:{municipality_code}:{kind}:{key}"))


def _split_name(name: str) -> tuple[str, list[str]]:
    parts = name.replace("\u3000", " ").split()
    return (parts[0], parts[1:]) if parts else ("", [])


def _human_name(text: str, representation: str) -> dict:
    family, given = _split_name(text)
    out = {"extension": [{"url": EN_REPRESENTATION, "valueCode": representation}], "use": "official",
           "text": text, "family": family}
    if given:
        out["given"] = given
    return out


def patient_resource(p: PatientFacts, *, municipality_code: str, m: Mapping) -> dict:
    names = [_human_name(p.name, "IDE")]
    if p.name_kana:
        names.append(_human_name(p.name_kana, "SYL"))
    out = {
        "resourceType": "Patient",
        "id": p.atena_no,
        "meta": {"profile": [m.profiles["patient"]]},
        "extension": [{"url": m.ext("registry-status"), "valueCode": p.registry_status}],
        "identifier": [{"system": m.atena_system(municipality_code), "value": p.atena_no}],
        "name": names,
        "gender": {"M": "male", "F": "female"}.get(p.sex, "unknown"),
        "birthDate": p.birth_date.isoformat(),
    }
    if p.died_on:
        out["deceasedDateTime"] = p.died_on.isoformat()
    elif p.registry_status == "deceased":
        out["deceasedBoolean"] = True
    for key, ext in PATIENT_DATE_EXTENSIONS.items():
        if getattr(p, key):
            out["extension"].append({"url": m.ext(ext), "valueDate": getattr(p, key).isoformat()})
    if p.phone:
        out["telecom"] = [{"system": "phone", "value": p.phone}]
    if p.address or p.postal_code:
        address = {"use": "home", "country": "JP"}
        if p.address:
            address["text"] = p.address
        if p.postal_code:
            address["postalCode"] = p.postal_code
        out["address"] = [address]
    return out


def _master_ref(m: Mapping, municipality_code: str, kind: str, code: str, names: MasterNames) -> dict:
    ref = {"reference": _urn(m, municipality_code, kind, code), "type": _MASTER_RESOURCES[kind],
           "identifier": {"system": m.id_system(kind), "value": code}}
    name = getattr(names, kind).get(code)
    if name:
        ref["display"] = name
    return ref


def _master_resource(m: Mapping, kind: str, code: str, name: str) -> dict:
    """A master as its JP Core resource: JP_Organization (医療機関, ワクチン会社), JP_Practitioner (医師),
    JP_Location (実施場所). Our own code always travels under our identifier system (the import reads
    it); a 医療機関 whose code is a 保険医療機関コード also carries it under JP Core's system."""
    rtype = _MASTER_RESOURCES[kind]
    out = {"resourceType": rtype, "id": f"{kind}-{code}", "meta": {"profile": [m.profiles[rtype.lower()]]},
           "identifier": [{"system": m.id_system(kind), "value": code}]}
    if kind == "institution" and _MEDICAL_INSTITUTION_CODE.match(code):
        out["identifier"].append({"system": m.code_systems["medical_institution_no"], "value": code})
    if name:
        # JP_Practitioner.name is JP_HumanName: the iso21090-EN-representation extension is required (1..*).
        # The doctor master holds the 漢字 name only, so there is no SYL (カナ) name to add.
        out["name"] = [_human_name(name, "IDE")] if rtype == "Practitioner" else name
    return out


def _decimal(value: Decimal) -> float | int:
    """JSON numbers for FHIR decimals: 0.5 stays 0.5, 1.00 becomes 1."""
    normal = value.normalize()
    return int(normal) if normal == normal.to_integral_value() else float(normal)


def immunization_resource(r, *, patient_urn: str, municipality_code: str, names: MasterNames,
                          vaccine_names: dict[str, str], verdict: Verdict | None, product_name: str | None,
                          m: Mapping) -> dict:
    """One ledger record (RecordOut or anything with its fields) as a JP_Immunization."""
    codings = [{"system": m.cs("vaccine"), "code": r.vaccine_code}]
    if vaccine_names.get(r.vaccine_code):
        codings[0]["display"] = vaccine_names[r.vaccine_code]
    hot9 = m.hot9_by_product.get(product_name or "")
    if hot9:
        codings.append({"system": m.code_systems["hot9"], "code": hot9, "display": product_name})
    if r.vaccine_code in m.cvx_by_vaccine:
        codings.append({"system": m.code_systems["cvx"], "code": m.cvx_by_vaccine[r.vaccine_code]})
    screened_only = r.screening_result == "screened_only"
    out = {
        "resourceType": "Immunization",
        "id": f"record-{r.id}",
        "meta": {"profile": [m.profiles["immunization"]]},
        "status": "not-done" if screened_only else "completed",
    }
    if screened_only:
        out["statusReason"] = {"coding": [{"system": m.cs("screening-result"), "code": "screened_only",
                                           "display": "予診のみ"}], "text": "予診のみ（接種せず）"}
    out["vaccineCode"] = {"coding": codings, "text": vaccine_names.get(r.vaccine_code, r.vaccine_code)}
    out["patient"] = {"reference": patient_urn}
    out["occurrenceDateTime"] = r.vaccinated_on.isoformat()
    out["primarySource"] = False  # transcribed from the clinic's 予診票, not recorded at the point of care
    if r.venue_code:
        out["location"] = _master_ref(m, municipality_code, "venue", r.venue_code, names)
    if r.manufacturer_code:
        out["manufacturer"] = _master_ref(m, municipality_code, "manufacturer", r.manufacturer_code, names)
    if r.lot_no:
        out["lotNumber"] = r.lot_no
    if r.dose_volume_ml is not None:
        out["doseQuantity"] = {"value": _decimal(Decimal(r.dose_volume_ml)), "unit": "mL", "system": UCUM,
                               "code": "mL"}
    performers = []
    if r.doctor_code:
        performers.append({"function": {"coding": [{"system": PERFORMER_FUNCTION, "code": "AP",
                                                    "display": "Administering Provider"}]},
                           "actor": _master_ref(m, municipality_code, "doctor", r.doctor_code, names)})
    if r.institution_code:
        performers.append({"actor": _master_ref(m, municipality_code, "institution", r.institution_code, names)})
    if performers:
        out["performer"] = performers
    if r.dose_no:
        applied = {"doseNumberPositiveInt": r.dose_no}
        if r.term:
            applied = {"series": r.term, **applied}
        out["protocolApplied"] = [applied]
    extensions = []
    ledger = [{"url": k, "valueString": str(getattr(r, k))} for k in LEDGER_FIELDS if getattr(r, k)]
    if r.term and not r.dose_no:
        ledger.append({"url": "term", "valueString": r.term})
    if ledger:
        extensions.append({"url": m.ext("ledger-record"), "extension": ledger})
    if verdict is not None:
        parts = [{"url": "status", "valueCode": verdict.status}]
        if verdict.dose_number:
            parts.append({"url": "doseNumber", "valuePositiveInt": verdict.dose_number})
        parts += [{"url": "errorCode", "valueCode": c} for c in verdict.codes]
        parts += [{"url": "reason", "valueString": t} for t in verdict.reasons]
        extensions.append({"url": m.ext("schedule-verdict"), "extension": parts})
    if extensions:
        out["extension"] = extensions
    return out


def person_bundle(patient: PatientFacts, records: Iterable, *, municipality_code: str, names: MasterNames,
                  vaccine_names: dict[str, str], verdicts: dict[int, Verdict],
                  products: dict[int, str] | None = None, timestamp: str | None = None,
                  m: Mapping | None = None) -> dict:
    """The person's $everything: Patient, their Immunizations, and the masters those refer to."""
    m = m or load_mapping()
    products = products or {}
    patient_urn = _urn(m, municipality_code, "patient", patient.atena_no)
    entries = [{"fullUrl": patient_urn, "resource": patient_resource(patient, municipality_code=municipality_code,
                                                                     m=m)}]
    used: dict[tuple[str, str], None] = {}
    for r in records:
        if r.status != "active":
            continue
        entries.append({"fullUrl": _urn(m, municipality_code, "record", str(r.id)),
                        "resource": immunization_resource(r, patient_urn=patient_urn,
                                                          municipality_code=municipality_code, names=names,
                                                          vaccine_names=vaccine_names, verdict=verdicts.get(r.id),
                                                          product_name=products.get(r.id), m=m)})
        for kind, code in (("institution", r.institution_code), ("institution", r.screening_institution_code),
                           ("doctor", r.doctor_code), ("doctor", r.screening_doctor_code),
                           ("venue", r.venue_code), ("manufacturer", r.manufacturer_code)):
            if code:
                used[(kind, code)] = None
    for kind, code in used:
        entries.append({"fullUrl": _urn(m, municipality_code, kind, code),
                        "resource": _master_resource(m, kind, code, getattr(names, kind).get(code, ""))})
    bundle = {"resourceType": "Bundle", "type": "collection"}
    if timestamp:
        bundle["timestamp"] = timestamp
    bundle["entry"] = entries
    return bundle


# --- import -------------------------------------------------------------------------------------------

@dataclass
class BundleEntry:
    """One Immunization: its place in the file, and 予診票 values by CSV header (or why it cannot be read)."""

    index: int
    label: str
    values: dict[str, str]
    problem: str = ""


@dataclass
class ParsedBundle:
    patient: dict[str, str]  # 住基 values by CSV header
    masters: dict[str, dict[str, str]]  # kind → code → name, from the included resources
    immunizations: list[BundleEntry]
    patient_dates: dict[str, str] = field(default_factory=dict)  # moved_in_on / moved_out_on / died_on → ISO date


def _patient_dates(res: dict, m: Mapping) -> dict[str, str]:
    out = {key: str(e.get("valueDate", "")) for key, ext in PATIENT_DATE_EXTENSIONS.items()
           for e in res.get("extension") or [] if e.get("url") == m.ext(ext)}
    if res.get("deceasedDateTime"):
        out["died_on"] = str(res["deceasedDateTime"])[:10]
    return {k: v for k, v in out.items() if v}


def _identifier(ref_or_resource: dict | None, system: str) -> str:
    if not ref_or_resource:
        return ""
    ident = ref_or_resource.get("identifier")
    for i in ([ident] if isinstance(ident, dict) else ident or []):
        if isinstance(i, dict) and i.get("system") == system:
            return str(i.get("value") or "")
    return ""


def _patient_values(res: dict, *, municipality_code: str, m: Mapping) -> dict[str, str]:
    atena_no = _identifier(res, m.atena_system(municipality_code))
    if not atena_no:
        others = [i.get("system") for i in res.get("identifier") or [] if isinstance(i, dict)]
        if any(str(s).startswith(m.id_system("atena-no")) for s in others):
            raise BundleError("他の市町村の宛名番号の方です。転入者の履歴は情報連携（中間サーバー）で照会してください")
        raise BundleError("Patient に当市の宛名番号（identifier）がありません")
    kanji, kana = "", ""
    for n in res.get("name") or []:
        rep = next((e.get("valueCode") for e in n.get("extension") or [] if e.get("url") == EN_REPRESENTATION), "")
        text = n.get("text") or " ".join([n.get("family", ""), *n.get("given", [])]).strip()
        if rep == "SYL":
            kana = kana or text
        else:
            kanji = kanji or text
    gender = {"male": "男", "female": "女"}.get(res.get("gender", ""), res.get("gender", ""))
    # A Patient from a system without our registry-status extension: deceased[x] still says 死亡.
    status = next((e.get("valueCode") for e in res.get("extension") or []
                   if e.get("url") == m.ext("registry-status")),
                  "deceased" if res.get("deceasedDateTime") or res.get("deceasedBoolean") else "resident")
    address = (res.get("address") or [{}])[0]
    phone = next((t.get("value", "") for t in res.get("telecom") or [] if t.get("system") == "phone"), "")
    return {"宛名番号": atena_no, "氏名": kanji, "氏名カナ": kana, "性別": gender, "生年月日": res.get("birthDate", ""),
            "郵便番号": address.get("postalCode", ""), "住所": address.get("text", ""), "電話番号": phone,
            "住民区分": REGISTRY_STATUS_LABELS.get(status, status)}


def _immunization_values(res: dict, *, atena_no: str, patient_refs: set[str], m: Mapping) -> dict[str, str]:
    status = res.get("status")
    if status == "entered-in-error":
        raise BundleError("取消済み（entered-in-error）の記録は取り込みません")
    if status not in ("completed", "not-done"):
        raise BundleError(f"status「{status}」は取り込めません（completed / not-done）")
    ref = (res.get("patient") or {}).get("reference", "")
    if ref not in patient_refs:
        raise BundleError("この Immunization の patient がファイル内の Patient を指していません")
    vaccine = next((c.get("code", "") for c in (res.get("vaccineCode") or {}).get("coding") or []
                    if c.get("system") == m.cs("vaccine")), "")
    if not vaccine:
        raise BundleError("vaccineCode に当システムの接種種別コードがありません（HOTコードだけでは接種種別を決められません）")
    when = res.get("occurrenceDateTime")
    if not when:
        raise BundleError("occurrenceDateTime（接種年月日）がありません")
    v = {"宛名番号": atena_no, "接種種別": vaccine, "接種年月日": str(when)[:10],
         "予診区分": "予診のみ" if status == "not-done" else "接種", "LotNo": res.get("lotNumber", "")}
    dose = res.get("doseQuantity")
    if dose:
        if dose.get("code", dose.get("unit")) != "mL" or dose.get("system", UCUM) != UCUM:
            raise BundleError("doseQuantity（接種量）の単位は mL（UCUM）で指定してください")
        v["接種量"] = str(dose.get("value", ""))
    applied = (res.get("protocolApplied") or [{}])[0]
    if applied.get("doseNumberPositiveInt") is not None:
        v["回数"] = str(applied["doseNumberPositiveInt"])
    if applied.get("series"):
        v["期"] = applied["series"]
    for p in res.get("performer") or []:
        actor = p.get("actor") or {}
        if _identifier(actor, m.id_system("doctor")):
            v["接種医師コード"] = _identifier(actor, m.id_system("doctor"))
        elif _identifier(actor, m.id_system("institution")):
            v["接種医療機関コード"] = _identifier(actor, m.id_system("institution"))
    v["実施場所コード"] = _identifier(res.get("location"), m.id_system("venue"))
    v["ワクチン会社"] = _identifier(res.get("manufacturer"), m.id_system("manufacturer"))
    for e in res.get("extension") or []:
        if e.get("url") == m.ext("ledger-record"):
            for part in e.get("extension") or []:
                key = "期" if part.get("url") == "term" else LEDGER_FIELDS.get(part.get("url", ""))
                if key:
                    v[key] = str(part.get("valueString", ""))
    return {k: val for k, val in v.items() if val not in (None, "")}


def read_bundle(data, *, municipality_code: str, m: Mapping | None = None) -> ParsedBundle:
    """A sesshu person Bundle back into import rows. Whole-file problems raise BundleError; a bad
    Immunization becomes an entry with its problem (the importer rejects it like a bad CSV row)."""
    m = m or load_mapping()
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise BundleError("FHIR の Bundle ではありません（resourceType が Bundle のJSONを指定してください）")
    entries = data.get("entry") or []
    if not isinstance(entries, list):
        raise BundleError("Bundle.entry が配列ではありません")
    patients = [(e.get("fullUrl", ""), e["resource"]) for e in entries
                if isinstance(e, dict) and isinstance(e.get("resource"), dict)
                and e["resource"].get("resourceType") == "Patient"]
    if len(patients) != 1:
        raise BundleError(f"Patient は1人分だけ含めてください（{len(patients)}件あります）")
    full_url, patient = patients[0]
    patient_values = _patient_values(patient, municipality_code=municipality_code, m=m)
    refs = {r for r in (full_url, f"Patient/{patient.get('id', '')}") if r and not r.endswith("/")}
    masters: dict[str, dict[str, str]] = {k: {} for k in _MASTER_RESOURCES}
    immunizations = []
    for index, e in enumerate(entries):
        res = e.get("resource") if isinstance(e, dict) else None
        rtype = res.get("resourceType") if isinstance(res, dict) else None
        if rtype in ("Organization", "Practitioner", "Location"):
            for kind, kind_type in _MASTER_RESOURCES.items():
                code = _identifier(res, m.id_system(kind)) if kind_type == rtype else ""
                if code:
                    name = res.get("name", "")
                    if isinstance(name, list):
                        name = (name[0] or {}).get("text", "") if name else ""
                    masters[kind][code] = str(name or "")
        elif rtype == "Immunization":
            label = f"entry[{index}] Immunization/{res.get('id', '')}".rstrip("/")
            try:
                values = _immunization_values(res, atena_no=patient_values["宛名番号"], patient_refs=refs, m=m)
                immunizations.append(BundleEntry(index=index, label=label, values=values))
            except BundleError as err:
                immunizations.append(BundleEntry(index=index, label=label, values={}, problem=str(err)))
    return ParsedBundle(patient=patient_values, masters=masters, immunizations=immunizations,
                        patient_dates=_patient_dates(patient, m))


# --- SMART Health Card content ----------------------------------------------------------------------

def health_card_bundle(patient: PatientFacts, records: Iterable, *, names: MasterNames,
                       products: dict[int, str] | None = None, m: Mapping | None = None) -> dict:
    """The few elements a vaccination card carries (SMART Health Cards: Vaccination IG's minimal shape):
    the person's name and birth date; per dose the vaccine, the date, the lot and the clinic's name.
    Not-done screenings (予診のみ) and voided records are not vaccinations and stay out."""
    m = m or load_mapping()
    products = products or {}
    family, given = _split_name(patient.name)
    name = {"family": family}
    if given:
        name["given"] = given
    entries = [{"fullUrl": "resource:0", "resource": {"resourceType": "Patient", "name": [name],
                                                      "birthDate": patient.birth_date.isoformat()}}]
    for r in records:
        if r.status != "active" or r.screening_result == "screened_only":
            continue
        codings = [{"system": m.cs("vaccine"), "code": r.vaccine_code}]
        hot9 = m.hot9_by_product.get(products.get(r.id) or "")
        if hot9:
            codings.append({"system": m.code_systems["hot9"], "code": hot9})
        if r.vaccine_code in m.cvx_by_vaccine:  # the SMART Health Cards vaccination IG's value set is CVX
            codings.append({"system": m.code_systems["cvx"], "code": m.cvx_by_vaccine[r.vaccine_code]})
        res = {"resourceType": "Immunization", "status": "completed", "vaccineCode": {"coding": codings},
               "patient": {"reference": "resource:0"}, "occurrenceDateTime": r.vaccinated_on.isoformat()}
        clinic = names.institution.get(r.institution_code or "")
        if clinic:
            res["performer"] = [{"actor": {"display": clinic}}]
        if r.lot_no:
            res["lotNumber"] = r.lot_no
        entries.append({"fullUrl": f"resource:{len(entries)}", "resource": res})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
