"""Search by any condition, person history, corrections with optimistic locking, all audited."""
from __future__ import annotations

import io
import json
from datetime import date

import pytest
import pyzipper
from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.domain.errors import Conflict, InvalidInput, NotFound
from sesshu.ledger import service as ledger
from sesshu.ledger.models import Institution
from sesshu.registry.service import import_registry
from sesshu.search.service import SearchCriteria, export_persons, search_persons
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, my_number, write


@pytest.fixture
def city(db, settings, operator, tmp_path):
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          f"1001,{my_number('11112222333')},山田 太郎,ヤマダ タロウ,男,2023-04-10,,熊谷市本町1-1,,,,,,,\n"
          "1002,,山田 花子,ヤマダ ハナコ,女,2012-04-01,,熊谷市宮町2-2,,,,,,,\n"
          "1003,,佐藤 一郎,サトウ イチロウ,男,1950-01-01,,熊谷市筑波3-3,,,,,死亡,死亡,2024-01-01\n"
          "1004,,山本 次郎,ヤマモト ジロウ,男,2023-05-01,,熊谷市本町4-4,,,,,,,\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=operator)
    with db.transaction() as s:
        s.add_all([Institution(code="C001", name="熊谷こどもクリニック"), Institution(code="C002", name="妻沼医院")])
    write(tmp_path / "rec.csv", RECORD_HEADER + "\n"
          "1001,HIB,初回,1,,2023-06-09,,C001,,,,,,,,,,,,,\n"
          "1001,HIB,初回,2,,2023-07-10,,C001,,,,,,,,,,,,,\n"
          "1004,HIB,初回,1,,2023-07-01,,C002,,,,,,,,,,,,,\n"
          "1002,HPV9,,1,,2024-05-01,,C001,,,,,,,,,,,,,\n")
    ledger.import_records(db, settings, path=tmp_path / "rec.csv", actor=operator)
    return db


def _ids(page) -> list[str]:
    return [r.atena_no for r in page.rows]


@pytest.mark.parametrize("kana,expected", [
    ("ヤマ", ["1001", "1002", "1004"]),
    ("やま", ["1001", "1002", "1004"]),
    ("ﾔﾏ", ["1001", "1002", "1004"]),
    ("ヤマ　ダ", ["1001", "1002"]),
    (" やまだ", ["1001", "1002"]),
    ("ヤマダハ", ["1002"]),
])
def test_kana_prefix_matches_hiragana_katakana_and_halfwidth(city, clerk, kana, expected):
    # Results come in kana order: ヤマダタロウ, ヤマダハナコ, ヤマモトジロウ.
    assert _ids(search_persons(city, actor=clerk, criteria=SearchCriteria(kana=kana))) == expected


def test_each_condition_narrows_the_search(city, clerk):
    def ids(**kw):
        return sorted(_ids(search_persons(city, actor=clerk, criteria=SearchCriteria(**kw))))

    assert ids(atena_no="1003") == ["1003"]
    assert ids(name="山田") == ["1001", "1002"]
    assert ids(name="山田　太郎") == ["1001"]
    assert ids(birth_date=date(2012, 4, 1)) == ["1002"]
    assert ids(birth_from=date(2023, 1, 1), birth_to=date(2023, 4, 30)) == ["1001"]
    assert ids(address="本町") == ["1001", "1004"]
    assert ids(address="本町１") == ["1001"]
    assert ids(vaccine="hib") == ["1001", "1004"]
    assert ids(vaccine="HIB", vaccinated_from=date(2023, 7, 1), vaccinated_to=date(2023, 7, 5)) == ["1004"]
    assert ids(institution="C001") == ["1001", "1002"]
    assert ids(registry_status="deceased") == ["1003"]
    assert ids(kana="ヤマ", institution="C002") == ["1004"]


def test_like_wildcards_in_input_are_literal(city, clerk):
    assert _ids(search_persons(city, actor=clerk, criteria=SearchCriteria(address="%"))) == []
    assert _ids(search_persons(city, actor=clerk, criteria=SearchCriteria(name="_"))) == []


def test_search_needs_a_condition(city, clerk):
    with pytest.raises(InvalidInput):
        search_persons(city, actor=clerk, criteria=SearchCriteria(kana="   "))


def test_paging(city, clerk):
    first = search_persons(city, actor=clerk, criteria=SearchCriteria(kana="ヤマ"), page=1, per_page=2)
    second = search_persons(city, actor=clerk, criteria=SearchCriteria(kana="ヤマ"), page=2, per_page=2)
    assert first.total == 3 and first.pages == 2 and len(first.rows) == 2 and len(second.rows) == 1
    assert set(_ids(first)).isdisjoint(_ids(second))


def test_search_and_export_are_audited(city, clerk, operator):
    search_persons(city, actor=clerk, criteria=SearchCriteria(kana="ヤマダ"))
    out = export_persons(city, actor=operator, criteria=SearchCriteria(kana="ヤマ"), purpose="接種勧奨の送付",
                         password="correct-horse-42")
    with pyzipper.AESZipFile(io.BytesIO(out.content)) as z:
        z.setpassword(b"correct-horse-42")
        text = z.read(z.namelist()[0]).decode("utf-8-sig")
    assert text.splitlines()[0] == "宛名番号,氏名,氏名カナ,性別,生年月日,住所,住民区分"
    assert len(text.splitlines()) == 4
    with city.transaction() as s:
        entries = {e.action: e for e in s.execute(select(AuditEntry).where(AuditEntry.actor.in_(["clerk1", "os:ops"])))
                   .scalars()}
    assert json.loads(entries["person.search"].detail)["shown"] == ["1001", "1002"]
    export = json.loads(entries["person.export"].detail)
    assert export["rows"] == 3 and entries["person.export"].purpose == "接種勧奨の送付"


def test_person_history_lists_records_and_masks_my_number(city, settings, clerk):
    h = ledger.person_history(city, settings, actor=clerk, atena_no="1001")
    assert [r.vaccinated_on.isoformat() for r in h.records] == ["2023-06-09", "2023-07-10"]
    assert h.person.my_number_masked.startswith("********") and len(h.person.my_number_masked) == 12
    assert "11112222333" not in h.person.model_dump_json()
    with city.transaction() as s:
        e = s.execute(select(AuditEntry).where(AuditEntry.action == "person.view")).scalar_one()
    assert e.atena_no == "1001" and e.actor == "clerk1"


def test_viewing_an_unknown_person_is_refused_and_recorded(city, settings, clerk):
    with pytest.raises(NotFound):
        ledger.person_history(city, settings, actor=clerk, atena_no="424242")
    with city.transaction() as s:
        e = s.execute(select(AuditEntry).where(AuditEntry.action == "person.view_missing")).scalar_one()
    assert e.atena_no == "424242"


def test_correction_keeps_old_values_and_reason(city, settings, clerk):
    rec = ledger.person_history(city, settings, actor=clerk, atena_no="1001").records[0]
    out = ledger.correct_record(city, settings, actor=clerk, correction=ledger.Correction(
        record_id=rec.id, expected_version=rec.version, reason="予診票の転記誤り",
        changes={"lot_no": "XY999", "vaccinated_on": date(2023, 6, 10)}))
    assert out.version == rec.version + 1 and out.lot_no == "XY999"
    history = ledger.record_history(city, actor=clerk, record_id=rec.id)
    assert history[0]["reason"] == "予診票の転記誤り"
    assert history[0]["old_values"] == {"lot_no": "", "vaccinated_on": "2023-06-09"}


def test_stale_version_is_refused(city, settings, clerk):
    rec = ledger.person_history(city, settings, actor=clerk, atena_no="1001").records[0]
    ledger.correct_record(city, settings, actor=clerk, correction=ledger.Correction(
        record_id=rec.id, expected_version=rec.version, reason="1回目", changes={"lot_no": "A"}))
    with pytest.raises(Conflict):
        ledger.correct_record(city, settings, actor=clerk, correction=ledger.Correction(
            record_id=rec.id, expected_version=rec.version, reason="古い画面から", changes={"lot_no": "B"}))


def test_correction_needs_reason_and_known_codes(city, settings, clerk):
    rec = ledger.person_history(city, settings, actor=clerk, atena_no="1001").records[0]
    with pytest.raises(InvalidInput, match="理由"):
        ledger.correct_record(city, settings, actor=clerk, correction=ledger.Correction(
            record_id=rec.id, expected_version=rec.version, reason=" ", changes={"lot_no": "A"}))
    with pytest.raises(InvalidInput, match="マスタ"):
        ledger.correct_record(city, settings, actor=clerk, correction=ledger.Correction(
            record_id=rec.id, expected_version=rec.version, reason="医療機関の誤り", changes={"institution_code": "ZZZ"}))


def test_void_keeps_the_record_but_takes_it_off_the_history(city, settings, clerk):
    rec = ledger.person_history(city, settings, actor=clerk, atena_no="1001").records[0]
    ledger.void_record(city, actor=clerk, record_id=rec.id, expected_version=rec.version, reason="二重登録")
    h = ledger.person_history(city, settings, actor=clerk, atena_no="1001")
    assert [r.id for r in h.records] == [h.records[0].id] and rec.id not in [r.id for r in h.records]
    with city.transaction() as s:
        assert [r.status for r in ledger.person_records(s, "1001", include_voided=True)].count("voided") == 1
    # The same vaccination may be registered again once the wrong one is voided.
    assert ledger.record_history(city, actor=clerk, record_id=rec.id)[0]["action"] == "void"
