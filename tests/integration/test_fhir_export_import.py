"""FHIR export of a person and import into another city: same records, same checks as the CSV import."""
from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import Decimal

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from sesshu.actor import Actor
from sesshu.audit.models import AuditEntry
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.domain.errors import InvalidInput
from sesshu.fhir.service import export_person, export_person_file, import_bundle
from sesshu.ledger.models import Doctor, Institution, Manufacturer, VaccinationRecord, Venue
from sesshu.ledger.service import import_records
from sesshu.registry.models import Person
from sesshu.registry.service import import_registry
from tests import jp_core
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, my_number, write

OPS = Actor(login_id="ops", kind="os", role="operator")
COMPARED = ("vaccine_code", "term", "dose_no", "category", "vaccinated_on", "screening_result", "institution_code",
            "doctor_code", "screening_institution_code", "screening_doctor_code", "venue_code", "manufacturer_code",
            "lot_no", "dose_volume_ml", "billing_month", "first_product", "dt_kind", "former_municipality",
            "ticket_no", "remarks")


@pytest.fixture
def city(db, settings, tmp_path):
    """A person with a 個人番号, three 予診票 rows (one 予診のみ) and the masters they name."""
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          f"1001,{my_number('11112222333')},山田　太郎,ヤマダ タロウ,男,2023-04-10,360-0001,熊谷市本町1-1,048-000-0000,"
          "5001,世帯主,山田　太郎,住民,,\n")
    assert import_registry(db, settings, path=tmp_path / "reg.csv", actor=OPS).accepted == 1
    with db.transaction() as s:
        s.add_all([Institution(code="C001", name="熊谷こどもクリニック"), Venue(code="V01", name="熊谷こどもクリニック"),
                   Manufacturer(code="SANOFI", name="サノフィ株式会社")])
        s.flush()
        s.add(Doctor(code="D001", name="医師 一郎", institution_code="C001"))
    write(tmp_path / "rec.csv", RECORD_HEADER + "\n"
          "1001,HIB,初回,1,定期A類,R5.6.9,接種,C001,D001,C001,D001,V01,SANOFI,HB001,0.5,R5.7,アクトヒブ,,,T0001,\n"
          "1001,HIB,初回,2,定期A類,R5.7.10,接種,C001,D001,,,V01,SANOFI,HB002,0.5,R5.8,アクトヒブ,,,,\n"
          "1001,BCG,,,定期A類,R5.8.1,予診のみ,C001,D001,,,,,,,R5.9,,,,,発熱のため予診のみ\n")
    assert import_records(db, settings, path=tmp_path / "rec.csv", actor=OPS).accepted == 3
    return "1001"


def _empty_city(tmp_path, sqlite_template):
    """Another city's sesshu: an empty database of the current schema, and its settings."""
    other_var = tmp_path / "other-city"
    other_var.mkdir()
    shutil.copy(sqlite_template, other_var / "sesshu.db")
    other_settings = load_settings(var_dir=other_var, database_url=f"sqlite:///{other_var / 'sesshu.db'}")
    return make_database(other_settings), other_settings


def _records(db, atena_no):
    with db.transaction() as s:
        rows = s.execute(select(VaccinationRecord).where(VaccinationRecord.atena_no == atena_no)
                         .order_by(VaccinationRecord.vaccinated_on)).scalars().all()
        return [{k: getattr(r, k) for k in COMPARED} for r in rows]


def test_export_is_a_valid_fhir_bundle_and_is_logged_as_an_export(city, db, settings):
    exported = export_person(db, settings, actor=OPS, atena_no=city, purpose="他市への提供", channel="api")
    bundle = json.loads(exported.content)
    Bundle.model_validate(bundle)
    assert exported.immunizations == 3
    assert [e["resource"]["status"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Immunization"] == \
        ["completed", "completed", "not-done"]
    assert my_number("11112222333") not in exported.content.decode()
    with db.transaction() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "fhir.export")).scalar_one()
    detail = json.loads(entry.detail)
    assert entry.atena_no == city and entry.purpose == "他市への提供"
    assert detail["channel"] == "api" and detail["sha256"] == exported.sha256 and detail["immunizations"] == 3


def test_file_export_is_an_encrypted_zip_and_imports_back(city, db, settings, tmp_path):
    exported = export_person_file(db, settings, actor=OPS, atena_no=city, purpose="他市への提供",
                                  password="correct-horse-42")
    assert exported.content[:2] == b"PK" and b"Immunization" not in exported.content
    path = tmp_path / exported.filename
    path.write_bytes(exported.content)
    with pytest.raises(InvalidInput, match="パスワードが違います"):
        import_bundle(db, settings, path=path, actor=OPS, password="wrong-password-1")
    again = import_bundle(db, settings, path=path, actor=OPS, password="correct-horse-42")
    assert (again.summary.read, again.summary.accepted, again.summary.duplicates) == (3, 0, 3)


def test_import_into_an_empty_city_reproduces_the_person_and_records(city, db, settings, tmp_path,
                                                                     sqlite_template):
    path = tmp_path / "bundle.json"
    path.write_bytes(export_person(db, settings, actor=OPS, atena_no=city, purpose="他市への提供",
                                   channel="cli").content)
    other, other_settings = _empty_city(tmp_path, sqlite_template)
    try:
        result = import_bundle(other, other_settings, path=path, actor=OPS)
        assert result.person_created and result.summary.accepted == 3 and result.rejects == []
        assert result.masters_added == {"institution": 1, "doctor": 1, "venue": 1, "manufacturer": 1}
        assert _records(other, city) == _records(db, city)
        with other.transaction() as s:
            p = s.get(Person, city)
            assert (p.name, p.name_kana, p.sex, str(p.birth_date), p.address) == \
                ("山田　太郎", "ヤマダ タロウ", "M", "2023-04-10", "熊谷市本町1-1")
            assert p.my_number_enc is None  # the number never travelled
            assert s.get(Institution, "C001").name == "熊谷こどもクリニック"
            actions = s.execute(select(AuditEntry.action)).scalars().all()
        assert "registry.register_from_fhir" in actions and "records.import" in actions
        second = import_bundle(other, other_settings, path=path, actor=OPS)
        assert (second.summary.accepted, second.summary.duplicates) == (0, 3)
    finally:
        other.dispose()


def _comparable(content: bytes) -> dict:
    """An exported Bundle without what is local to the database it came from: the export time and the
    ledger's record ids (a record's id and urn are its row number in that city's ledger)."""
    bundle = json.loads(content)
    bundle.pop("timestamp")
    for n, e in enumerate(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Immunization"):
        e["fullUrl"], e["resource"]["id"] = f"record-{n}", f"record-{n}"
    return bundle


def test_export_import_export_is_lossless(city, db, settings, tmp_path, sqlite_template):
    with db.transaction() as s:  # text as a clerk may have typed it on a screen, and the registry's event dates
        p = s.get(Person, city)
        p.address, p.registry_status = "熊谷市本町１－１（サンプル荘）　１０１号", "deceased"
        p.moved_in_on, p.moved_out_on, p.died_on = date(2023, 5, 1), date(2024, 1, 31), date(2024, 2, 3)
        first = s.execute(select(VaccinationRecord).where(VaccinationRecord.atena_no == city)
                          .order_by(VaccinationRecord.vaccinated_on)).scalars().first()
        first.remarks = "（発熱）　予診後に接種［保護者同意］"
    exported = export_person(db, settings, actor=OPS, atena_no=city, purpose="他市への提供", channel="cli")
    patient = json.loads(exported.content)["entry"][0]["resource"]
    assert patient["deceasedDateTime"] == "2024-02-03"
    assert jp_core.problems(json.loads(exported.content)) == []
    path = write(tmp_path / "bundle.json", exported.content.decode("utf-8"))
    other, other_settings = _empty_city(tmp_path, sqlite_template)
    try:
        assert import_bundle(other, other_settings, path=path, actor=OPS).summary.accepted == 3
        again = export_person(other, other_settings, actor=OPS, atena_no=city, purpose="確認", channel="cli")
        assert _comparable(again.content) == _comparable(exported.content)
        with other.transaction() as s:
            p = s.get(Person, city)
            assert (p.address, p.registry_status, p.moved_in_on, p.moved_out_on, p.died_on) == (
                "熊谷市本町１－１（サンプル荘）　１０１号", "deceased", date(2023, 5, 1), date(2024, 1, 31), date(2024, 2, 3))
        assert _records(other, city) == _records(db, city)
        assert _records(other, city)[0]["remarks"] == "（発熱）　予診後に接種［保護者同意］"
    finally:
        other.dispose()


def test_a_death_date_that_cannot_be_is_refused(city, db, settings, tmp_path):
    bundle = json.loads(export_person(db, settings, actor=OPS, atena_no=city, purpose="確認", channel="cli").content)
    bundle["entry"][0]["resource"]["deceasedDateTime"] = "2020-01-01"  # before the birth
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = "1002"
    with pytest.raises(InvalidInput, match="死亡日が生年月日より前か未来の日付です"):
        import_bundle(db, settings, path=write(tmp_path / "b.json", json.dumps(bundle)), actor=OPS)


def test_import_rejects_bad_entries_with_japanese_reasons_and_keeps_the_good(city, db, settings, tmp_path):
    bundle = json.loads(export_person(db, settings, actor=OPS, atena_no=city, purpose="確認", channel="cli").content)
    imms = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Immunization"]
    imms[0]["occurrenceDateTime"] = "2099-01-01"
    imms[1]["vaccineCode"]["coding"][0]["code"] = "NOPE"
    imms[2]["occurrenceDateTime"] = "2024-02-01"
    imms[2]["status"] = "completed"
    result = import_bundle(db, settings, path=write(tmp_path / "b.json", json.dumps(bundle, ensure_ascii=False)),
                           actor=OPS)
    assert (result.summary.read, result.summary.accepted, result.summary.rejected) == (3, 1, 2)
    reasons = [r["reason"] for r in result.rejects]
    assert reasons == ["接種年月日が未来の日付です: 2099-01-01", "接種種別「NOPE」はマスタに登録されていません"]
    assert result.rejects[0]["entry"].startswith("entry[1] Immunization/record-")
    added = [r for r in _records(db, city) if str(r["vaccinated_on"]) == "2024-02-01"]
    assert added and added[0]["vaccine_code"] == "BCG" and added[0]["screening_result"] == "vaccinated"


def test_a_bundle_for_someone_else_changes_nothing(city, db, settings, tmp_path):
    bundle = json.loads(export_person(db, settings, actor=OPS, atena_no=city, purpose="確認", channel="cli").content)
    bundle["entry"][0]["resource"]["birthDate"] = "2022-01-01"
    for e in bundle["entry"]:
        if e["resource"]["resourceType"] == "Immunization":
            e["resource"]["occurrenceDateTime"] = "2024-03-01"
            break
    before = _records(db, city)
    with pytest.raises(InvalidInput, match="生年月日・性別が一致しません"):
        import_bundle(db, settings, path=write(tmp_path / "b.json", json.dumps(bundle)), actor=OPS)
    assert _records(db, city) == before


def test_dose_volume_survives_as_millilitres(city, db, settings):
    bundle = json.loads(export_person(db, settings, actor=OPS, atena_no=city, purpose="確認", channel="cli").content)
    first = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Immunization")
    assert first["doseQuantity"]["value"] == 0.5 and first["doseQuantity"]["code"] == "mL"
    assert _records(db, city)[0]["dose_volume_ml"] == Decimal("0.50")


def test_a_person_under_use_suspension_is_not_exported(city, db, settings):
    """利用停止: the FHIR export (screen, API, file) refuses the person and the refusal is on record."""
    from sesshu.disclosure.service import receive, suspend_use
    from sesshu.domain.errors import Conflict
    from sesshu.fhir.service import export_person_file

    inquiry = receive(db, actor=OPS, kind="suspension", atena_no=city, channel="counter", requester_name="山田 太郎",
                      requester_relation="self", identity_method="mynumber_card", question="利用停止の請求")
    suspend_use(db, actor=OPS, inquiry_id=inquiry.id)
    with pytest.raises(Conflict, match="利用停止"):
        export_person(db, settings, actor=OPS, atena_no=city, purpose="他市への提供", channel="api")
    with pytest.raises(Conflict, match="利用停止"):
        export_person_file(db, settings, actor=OPS, atena_no=city, purpose="他市への提供", password="correct-horse-42")
    with db.transaction() as s:
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "fhir.export")).first() is None
        refused = s.execute(select(AuditEntry.detail).where(AuditEntry.action == "suspension.refused",
                                                            AuditEntry.atena_no == city)).scalars().all()
    assert len(refused) == 2 and all('"fhir.export"' in d for d in refused)
