"""FHIR R4 mapping (pure): JP Core shapes, validated by fhir.resources, and read back into import rows."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest
from fhir.resources.R4B.bundle import Bundle

from sesshu.domain import fhir
from tests import jp_core

PATIENT = fhir.PatientFacts(atena_no="1001", name="山田　太郎", name_kana="ヤマダ タロウ", sex="M",
                            birth_date=date(2023, 4, 10), postal_code="360-0001", address="熊谷市本町1-1",
                            phone="048-000-0000")
NAMES = fhir.MasterNames(institution={"C001": "熊谷こどもクリニック"}, doctor={"D001": "医師 一郎"},
                         venue={"V01": "熊谷こどもクリニック"}, manufacturer={"BIKEN": "阪大微生物病研究会"})


def record(**values):
    base = dict(id=1, atena_no="1001", vaccine_code="HIB", term="初回", dose_no=1, category="routine_a",
                vaccinated_on=date(2023, 6, 9), screening_result="vaccinated", institution_code="C001",
                doctor_code="D001", screening_institution_code=None, screening_doctor_code=None, venue_code="V01",
                manufacturer_code="BIKEN", lot_no="AB1", dose_volume_ml=Decimal("0.50"), billing_month="2023-07",
                first_product="アクトヒブ", dt_kind="", former_municipality="", ticket_no="T123", remarks="",
                status="active")
    return SimpleNamespace(**(base | values))


def bundle(records, **kw):
    return fhir.person_bundle(PATIENT, records, municipality_code="112020", names=NAMES,
                              vaccine_names={"HIB": "ヒブ", "COVID": "新型コロナウイルス感染症"},
                              verdicts={1: fhir.Verdict(status="valid", dose_number=1)}, **kw)


def resources(b, kind):
    return [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == kind]


def test_bundle_is_valid_fhir_with_jp_core_immunization_elements():
    b = bundle([record()])
    Bundle.model_validate(b)  # raises on any element FHIR does not define or a wrong type
    imm = resources(b, "Immunization")[0]
    assert imm["meta"]["profile"] == ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Immunization"]
    assert imm["status"] == "completed"
    assert imm["vaccineCode"]["coding"][0] == {"system": "urn:sesshu:fhir:cs:vaccine", "code": "HIB", "display": "ヒブ"}
    assert imm["occurrenceDateTime"] == "2023-06-09" and imm["lotNumber"] == "AB1"
    assert imm["doseQuantity"] == {"value": 0.5, "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL"}
    assert imm["protocolApplied"] == [{"series": "初回", "doseNumberPositiveInt": 1}]
    assert imm["performer"][0]["actor"]["identifier"]["value"] == "D001"
    assert imm["performer"][0]["function"]["coding"][0]["code"] == "AP"
    verdict = next(e for e in imm["extension"] if e["url"] == "urn:sesshu:fhir:ext:schedule-verdict")
    assert {"url": "status", "valueCode": "valid"} in verdict["extension"]
    assert imm["patient"]["reference"] == b["entry"][0]["fullUrl"]
    assert {e["resource"]["resourceType"] for e in b["entry"]} == \
        {"Patient", "Immunization", "Organization", "Practitioner", "Location"}
    assert jp_core.problems(b) == []


def test_patient_carries_kanji_and_kana_names_but_never_the_my_number():
    patient = resources(bundle([record()]), "Patient")[0]
    assert [n["text"] for n in patient["name"]] == ["山田　太郎", "ヤマダ タロウ"]
    assert [n["extension"][0]["valueCode"] for n in patient["name"]] == ["IDE", "SYL"]
    assert patient["identifier"] == [{"system": "urn:sesshu:fhir:id:atena-no:112020", "value": "1001"}]
    assert "my_number" not in str(patient) and "個人番号" not in str(patient)


def test_hot_code_only_for_a_product_with_a_sourced_code():
    known = resources(bundle([record(vaccine_code="COVID")], products={1: "コミナティ筋注"}), "Immunization")[0]
    assert {"system": "urn:oid:1.2.392.200119.4.403.1", "code": "182110901", "display": "コミナティ筋注"} in \
        known["vaccineCode"]["coding"]
    unknown = resources(bundle([record()], products={1: "アクトヒブ"}), "Immunization")[0]
    assert [c["system"] for c in unknown["vaccineCode"]["coding"]] == ["urn:sesshu:fhir:cs:vaccine"]


def test_screening_only_is_not_done_and_voided_records_stay_out():
    b = bundle([record(screening_result="screened_only", dose_volume_ml=None, lot_no=""),
                record(id=2, vaccinated_on=date(2023, 7, 10), status="voided")])
    Bundle.model_validate(b)
    imms = resources(b, "Immunization")
    assert len(imms) == 1 and imms[0]["status"] == "not-done"


def test_bundle_reads_back_into_the_same_import_values():
    b = bundle([record()])
    parsed = fhir.read_bundle(b, municipality_code="112020")
    assert parsed.patient == {"宛名番号": "1001", "氏名": "山田　太郎", "氏名カナ": "ヤマダ タロウ", "性別": "男",
                              "生年月日": "2023-04-10", "郵便番号": "360-0001", "住所": "熊谷市本町1-1",
                              "電話番号": "048-000-0000", "住民区分": "住民"}
    assert parsed.immunizations[0].values == {
        "宛名番号": "1001", "接種種別": "HIB", "接種年月日": "2023-06-09", "予診区分": "接種", "LotNo": "AB1",
        "接種量": "0.5", "回数": "1", "期": "初回", "接種医師コード": "D001", "接種医療機関コード": "C001",
        "実施場所コード": "V01", "ワクチン会社": "BIKEN", "接種区分": "routine_a", "請求月": "2023-07",
        "券番号": "T123", "初回ワクチン区分": "アクトヒブ"}
    assert parsed.masters["institution"] == {"C001": "熊谷こどもクリニック"}
    assert parsed.masters["doctor"] == {"D001": "医師 一郎"}


def test_an_unreadable_immunization_is_rejected_with_a_japanese_reason():
    b = bundle([record()])
    imm = resources(b, "Immunization")[0]
    imm["doseQuantity"] = {"value": 5, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
    entry = fhir.read_bundle(b, municipality_code="112020").immunizations[0]
    assert entry.problem == "doseQuantity（接種量）の単位は mL（UCUM）で指定してください"
    imm.pop("doseQuantity")
    imm["vaccineCode"] = {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "17"}]}
    assert "当システムの接種種別コードがありません" in fhir.read_bundle(b, municipality_code="112020").immunizations[0].problem


@pytest.mark.parametrize("change, message", [
    (lambda b: b.update(resourceType="Patient"), "FHIR の Bundle ではありません"),
    (lambda b: b["entry"].append(b["entry"][0]), "Patient は1人分だけ含めてください（2件あります）"),
    (lambda b: b["entry"][0]["resource"]["identifier"][0].update(system="urn:sesshu:fhir:id:atena-no:999999"),
     "他の市町村の宛名番号の方です"),
])
def test_a_bundle_that_is_not_one_of_our_persons_is_refused_whole(change, message):
    b = bundle([record()])
    change(b)
    with pytest.raises(fhir.BundleError, match=message):
        fhir.read_bundle(b, municipality_code="112020")


def test_masters_are_jp_core_practitioner_organization_and_location():
    b = bundle([record(institution_code="1110200001")])
    Bundle.model_validate(b)
    assert jp_core.problems(b) == []
    doctor = resources(b, "Practitioner")[0]
    assert doctor["meta"]["profile"] == ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Practitioner"]
    assert doctor["name"] == [{"extension": [{"url": fhir.EN_REPRESENTATION, "valueCode": "IDE"}], "use": "official",
                               "text": "医師 一郎", "family": "医師", "given": ["一郎"]}]
    clinic = next(r for r in resources(b, "Organization") if r["id"] == "institution-1110200001")
    assert clinic["meta"]["profile"] == ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Organization"]
    assert {"system": "http://jpfhir.jp/fhir/Common/IdSystem/insurance-medical-institution-no",
            "value": "1110200001"} in clinic["identifier"]
    maker = next(r for r in resources(b, "Organization") if r["id"] == "manufacturer-BIKEN")
    assert [i["system"] for i in maker["identifier"]] == ["urn:sesshu:fhir:id:manufacturer"]  # not a 医療機関
    venue = resources(b, "Location")[0]
    assert venue["meta"]["profile"] == ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Location"]
    # A code that is not a 保険医療機関コード (here C001) travels under our identifier system only.
    other = resources(bundle([record()]), "Organization")
    assert all(i["system"].startswith("urn:sesshu:") for r in other for i in r["identifier"])


def test_the_jp_core_check_finds_a_practitioner_name_without_its_representation():
    b = bundle([record()])
    resources(b, "Practitioner")[0]["name"] = [{"text": "医師 一郎"}]
    resources(b, "Location")[0].pop("meta")
    assert set(jp_core.problems(b)) == {
        "Practitioner/doctor-D001.name[0]: JP_HumanName needs the iso21090-EN-representation extension",
        "Location/venue-V01: meta.profile does not claim http://jpfhir.jp/fhir/core/StructureDefinition/JP_Location",
        "Immunization/record-1.location: the target does not claim its JP Core profile"}


def test_a_deceased_person_has_deceased_date_time_and_registry_dates_come_back():
    person = fhir.PatientFacts(**(vars(PATIENT) | {"registry_status": "deceased", "moved_in_on": date(2023, 5, 1),
                                                   "died_on": date(2024, 2, 3)}))
    b = fhir.person_bundle(person, [record()], municipality_code="112020", names=NAMES, vaccine_names={},
                           verdicts={})
    Bundle.model_validate(b)
    patient = resources(b, "Patient")[0]
    assert patient["deceasedDateTime"] == "2024-02-03"
    assert {"url": "urn:sesshu:fhir:ext:moved-in-on", "valueDate": "2023-05-01"} in patient["extension"]
    parsed = fhir.read_bundle(b, municipality_code="112020")
    assert parsed.patient["住民区分"] == "死亡"
    assert parsed.patient_dates == {"moved_in_on": "2023-05-01", "died_on": "2024-02-03"}
    undated = fhir.PatientFacts(**(vars(PATIENT) | {"registry_status": "deceased"}))
    patient = fhir.patient_resource(undated, municipality_code="112020", m=fhir.load_mapping())
    assert patient["deceasedBoolean"] is True and "deceasedDateTime" not in patient
    b["entry"][0]["resource"]["extension"] = []  # another system's Patient: deceased[x] alone says 死亡
    assert fhir.read_bundle(b, municipality_code="112020").patient["住民区分"] == "死亡"
