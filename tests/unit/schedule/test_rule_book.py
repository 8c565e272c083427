"""The rules in force over time (domain.schedule.book) and the check of an uploaded file
(domain.schedule.upload): pure, no database."""
from __future__ import annotations

from datetime import date

import pytest

from sesshu.domain.schedule import PANDEMIC_DIR, DoseFacts, PersonFacts, default_rules, evaluate
from sesshu.domain.schedule.book import Upload, compile_book
from sesshu.domain.schedule.contract import evaluate_json
from sesshu.domain.schedule.upload import UploadInvalid, check_upload, line_of, sha256_of

V1 = (PANDEMIC_DIR / "covid-2021.yaml").read_text(encoding="utf-8")
V2 = (PANDEMIC_DIR / "covid-2021-v2.yaml").read_text(encoding="utf-8")


def _up(text: str, id_: int) -> Upload:
    return check_upload(text, [], upload_id=id_).upload


def test_no_uploads_is_the_shipped_rules_shared():
    book = compile_book(())
    assert book.single and book.at(date(2026, 1, 1)) is default_rules()


def test_each_day_is_judged_by_the_version_in_force():
    book = compile_book([_up(V1, 1), _up(V2, 2)])
    assert "C19_PFIZER" not in book.at(date(2021, 2, 16)).vaccines
    assert set(book.at(date(2021, 3, 1)).vaccines) >= {"C19_PFIZER"} and "C19_MODERNA" not in book.at(
        date(2021, 5, 31)).vaccines
    assert "C19_MODERNA" in book.at(date(2021, 6, 1)).vaccines
    assert "第1版" in book.at(date(2021, 3, 1)).version_of("C19_PFIZER")
    assert "第2版" in book.at(date(2021, 6, 1)).version_of("C19_PFIZER")
    assert book.at(date(2021, 6, 1)).version_of("MR") == "同梱 mr.yaml"


def test_pfizer_for_a_13_year_old_opens_only_with_version_2():
    book = compile_book([_up(V1, 1), _up(V2, 2)])
    teen = PersonFacts(date(2008, 1, 10), "F")
    out = evaluate_json({"birth_date": "2008-01-10", "sex": "F", "as_of": "2021-07-20",
                         "doses": [{"vaccine": "C19_PFIZER", "date": "2021-05-20"},
                                   {"vaccine": "C19_PFIZER", "date": "2021-07-10"}]}, book=book)
    first, second = out["doses"]
    assert first["status"] != "valid" and "第1版" in first["rules"]  # 13, before 12+ (v1: 16+)
    assert second["status"] == "valid" and "第2版" in second["rules"]
    assert evaluate(teen, [DoseFacts("C19_PFIZER", date(2021, 7, 10))], date(2021, 7, 20),
                    book.at(date(2021, 7, 10))).doses[0].status == "valid"


def test_product_intervals_pfizer_18_days_moderna_27():
    rules = compile_book([_up(V1, 1), _up(V2, 2)]).at(date(2021, 8, 1))
    old = PersonFacts(date(1950, 1, 1), "M")

    def second(code, gap):
        d1 = date(2021, 7, 1)
        ev = evaluate(old, [DoseFacts(code, d1), DoseFacts(code, date.fromordinal(d1.toordinal() + gap))],
                      date(2021, 9, 1), rules)
        return ev.doses[1].status

    assert second("C19_PFIZER", 19) == "valid" and second("C19_PFIZER", 18) == "invalid"
    assert second("C19_MODERNA", 28) == "valid" and second("C19_MODERNA", 27) == "invalid"


def test_line_of_points_at_the_key_in_the_yaml():
    assert line_of(V1, "release.version") == next(i for i, x in enumerate(V1.splitlines(), 1) if "version: 1" in x)
    line = line_of(V1, "series[0](COVID19_2021).paths[0].doses[1].intervals")
    assert "intervals" in V1.splitlines()[line - 1]


@pytest.mark.parametrize(("old", "new", "field", "words"), [
    ("days: 18}", "dayz: 18}", "intervals[0]", "使えない項目"),
    ("condition: underlying_condition}", "condition: kiso}", "when.condition", "定義されていない条件"),
    ("effective_from: 2021-02-17", "effective_from: 2021-02-30", "", "暦にない日付"),
    ("kind: campaign", "kind: pandemic", "release.kind", "いずれか"),
    ("live: none", "live: maybe", "live", "次のいずれか"),
])
def test_a_bad_file_names_line_and_field_in_japanese(old, new, field, words):
    bad = V1.replace(old, new, 1)
    assert bad != V1
    with pytest.raises(UploadInvalid) as e:
        check_upload(bad, [])
    p = e.value.problems[0]
    assert field in p.field and words in p.message
    assert p.line is not None and new.split(":")[0].strip("{ ") in bad.splitlines()[p.line - 1]


def test_an_amendment_replaces_the_shipped_file_and_settings_change_the_season():
    from sesshu.domain.schedule.rules import RULES_DIR

    mr = (RULES_DIR / "flu_elder.yaml").read_text(encoding="utf-8")
    amended = mr.replace("schema: sesshu.schedule/1", "schema: sesshu.schedule/1\nrelease: {kind: amendment, "
                         "id: flu_elder.yaml, version: 1, effective_from: 2026-10-01, source: test}", 1)
    amended = amended.replace('season: {start: "10-01", end: "01-31"', 'season: {start: "10-01", end: "02-28"')
    up = check_upload(amended, [], upload_id=7).upload
    assert up.sha256 == sha256_of(amended)
    book = compile_book([up])
    person = PersonFacts(date(1950, 1, 1), "F")
    feb = [DoseFacts("FLU_ELDER", date(2027, 2, 15))]
    assert evaluate(person, feb, date(2027, 3, 1), book.at(date(2026, 9, 1))).doses[0].status == "voluntary"
    assert evaluate(person, feb, date(2027, 3, 1), book.at(date(2027, 2, 15))).doses[0].status == "valid"
    assert "同梱ルールの改正" in book.at(date(2027, 1, 1)).version_of("FLU_ELDER")


def test_a_version_not_above_the_active_one_is_refused():
    with pytest.raises(UploadInvalid) as e:
        check_upload(V1, [_up(V1, 1)])
    assert "より大きい版番号" in str(e.value)


def test_a_routine_dose_before_a_campaign_is_judged_once_with_the_current_set():
    """A campaign adds a file; doses of vaccines it does not judge need no second evaluation."""
    from types import SimpleNamespace

    from sesshu.ledger.evaluation import _judging_keys

    book = compile_book([_up(V1, 1), _up(V2, 2)])
    rows = [SimpleNamespace(id=1, vaccine_code="MR", vaccinated_on=date(2020, 5, 1)),
            SimpleNamespace(id=2, vaccine_code="C19_PFIZER", vaccinated_on=date(2021, 3, 1)),
            SimpleNamespace(id=3, vaccine_code="C19_PFIZER", vaccinated_on=date(2021, 1, 10))]
    (now, _), keys = _judging_keys(rows, date(2026, 12, 1), (), book)
    assert keys[0][0] is now  # same mr.yaml in both
    assert keys[1][0] is book.at(date(2021, 3, 1)) and keys[1][0] is not now  # version 1 judged it
    assert keys[2][0] is book.at(date(2021, 1, 10))  # before the campaign: unknown vaccine
