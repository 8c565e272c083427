"""A JP Core-shaped check of the resources sesshu exports: the elements and extensions each JP Core
profile requires beyond base FHIR (fhir.resources checks the base), read from the profiles' source in
jami-fhir-jp-wg/jp-core-v1x (input/fsh/profiles/*.fsh, input/fsh/aliases.fsh). Not the JP Core
validator (a Java IG validation): the rules below are the ones our resources can break.

- JP_HumanName: extension iso21090-EN-representation 1..* (IDE 漢字 / SYL カナ / ABC) — on every name of
  JP_Patient and JP_Practitioner ("name only JP_HumanName").
- JP_Organization: identifier[medicalInstitutionCode] has system
  http://jpfhir.jp/fhir/Common/IdSystem/insurance-medical-institution-no (exactly) and, as the profile's
  comment says, a 10-digit 保険医療機関コード.
- JP_Immunization: status (binding required), vaccineCode, patient, occurrence[x]; we also require that
  what performer/location/manufacturer point to is in the Bundle and claims its JP Core profile.
- Every resource claims its profile in meta.profile.
"""
from __future__ import annotations

import re

JP = "http://jpfhir.jp/fhir/core/StructureDefinition/"
PROFILES = {"Patient": JP + "JP_Patient", "Immunization": JP + "JP_Immunization",
            "Practitioner": JP + "JP_Practitioner", "Organization": JP + "JP_Organization",
            "Location": JP + "JP_Location"}
EN_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
MEDICAL_INSTITUTION_NO = "http://jpfhir.jp/fhir/Common/IdSystem/insurance-medical-institution-no"
IMMUNIZATION_STATUS = {"completed", "entered-in-error", "not-done"}


def _human_name_problems(where: str, names) -> list[str]:
    out = []
    for i, n in enumerate(names or []):
        reps = [e.get("valueCode") for e in n.get("extension") or [] if e.get("url") == EN_REPRESENTATION]
        if not reps:
            out.append(f"{where}.name[{i}]: JP_HumanName needs the iso21090-EN-representation extension")
        elif any(r not in ("IDE", "SYL", "ABC") for r in reps):
            out.append(f"{where}.name[{i}]: EN-representation must be IDE, SYL or ABC: {reps}")
        if not (n.get("text") or n.get("family")):
            out.append(f"{where}.name[{i}]: no text or family")
    return out


def problems(bundle: dict) -> list[str]:
    """Every way the Bundle's resources miss the JP Core profiles they claim (empty: none found)."""
    out = []
    by_url = {e.get("fullUrl"): e["resource"] for e in bundle.get("entry", [])}
    for e in bundle.get("entry", []):
        res = e["resource"]
        rtype = res["resourceType"]
        where = f"{rtype}/{res.get('id', '')}"
        if PROFILES.get(rtype) not in (res.get("meta") or {}).get("profile", []):
            out.append(f"{where}: meta.profile does not claim {PROFILES.get(rtype)}")
        if rtype in ("Patient", "Practitioner"):
            out += _human_name_problems(where, res.get("name"))
        if rtype == "Organization":
            for ident in res.get("identifier") or []:
                if ident.get("system") == MEDICAL_INSTITUTION_NO and not re.fullmatch(r"\d{10}", ident.get("value", "")):
                    out.append(f"{where}: 医療機関コード must be 10 digits: {ident.get('value')}")
        if rtype == "Immunization":
            if res.get("status") not in IMMUNIZATION_STATUS:
                out.append(f"{where}: status {res.get('status')}")
            for required in ("vaccineCode", "patient"):
                if not res.get(required):
                    out.append(f"{where}: {required} is required")
            if not any(k.startswith("occurrence") for k in res):
                out.append(f"{where}: occurrence[x] is required")
            refs = [("performer", p.get("actor") or {}) for p in res.get("performer") or []]
            refs += [(k, res[k]) for k in ("location", "manufacturer", "patient") if res.get(k)]
            for element, ref in refs:
                target = by_url.get(ref.get("reference"))
                if target is None:
                    out.append(f"{where}.{element}: {ref.get('reference')} is not in the Bundle")
                elif PROFILES[target["resourceType"]] not in (target.get("meta") or {}).get("profile", []):
                    out.append(f"{where}.{element}: the target does not claim its JP Core profile")
    return out
