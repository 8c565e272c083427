"""Rule files: every code defined, validated on load, sources present, pandemic loadable."""

from datetime import date
from pathlib import Path

import pytest
import yaml

from sesshu.domain.schedule import (
    PANDEMIC_DIR,
    RULES_DIR,
    SCHEDULE_VACCINE_CODES,
    DoseFacts,
    PersonFacts,
    RuleError,
    default_rules,
    evaluate,
    load_rules,
)


def test_default_rules_define_every_contract_vaccine_code():
    assert set(default_rules().vaccines) == set(SCHEDULE_VACCINE_CODES)
    assert len(SCHEDULE_VACCINE_CODES) == 26  # FY2026: + PCV20_ELDER, RSV_MATERNAL


def test_one_data_file_per_vaccine_and_every_rule_cites_its_source():
    files = sorted(RULES_DIR.glob("*.yaml"))
    assert len(files) >= 15
    for f in files:
        doc = yaml.safe_load(f.read_text(encoding="utf-8"))
        assert doc["source"]
        for s in doc["series"]:
            assert s["source"]
            for t in s.get("terms", []):
                assert t["source"] and all(w["source"] for w in t["windows"])
            for p in s.get("paths", []):
                assert all(d["source"] for d in p["doses"])
            assert all(d["source"] for d in s.get("doses", []))


def test_check_marked_choices_name_the_source_followed():
    for name in ("hepb.yaml", "hpv.yaml", "ppsv23.yaml", "zoster.yaml", "je.yaml", "dtp.yaml"):
        assert "[check]" in (RULES_DIR / name).read_text(encoding="utf-8")


def test_pandemic_example_is_not_loaded_by_default_but_loads_on_request():
    assert "PANDEMIC_EXAMPLE" not in default_rules().vaccines
    rules = load_rules([PANDEMIC_DIR / "example.yaml"])
    assert "PANDEMIC_EXAMPLE" in rules.vaccines
    high_risk = PersonFacts(date(1990, 1, 1), "F", frozenset({"medical_high_risk"}))
    other = PersonFacts(date(1990, 1, 1), "F")
    dose = [DoseFacts("PANDEMIC_EXAMPLE", date(2027, 11, 5))]
    assert evaluate(high_risk, dose, date(2027, 11, 20), rules).doses[0].status == "valid"
    assert evaluate(other, dose, date(2027, 11, 20), rules).doses[0].status == "voluntary"
    line = evaluate(other, [], date(2027, 11, 20), rules).eligibility[-1]
    assert (line.vaccine, line.earliest) == ("PANDEMIC_EXAMPLE", date(2028, 2, 1))


def _write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "bad.yaml"
    f.write_text(text, encoding="utf-8")
    return f


MINIMAL = """
schema: sesshu.schedule/1
name: test
category: A類
source: test
vaccines:
  TESTV: {name: t, live: none, source: s}
series:
  - id: T
    name: t
    kind: series
    category: A類
    vaccines: [TESTV]
    source: s
    terms:
      - id: "1"
        name: t
        source: s
        windows:
          - {from: {months: 2}, to: {months: 60}, source: s}
    doses:
      - {name: d1, source: s}
      - {name: d2, intervals: [{after: previous, days: 27}], source: s}
entries:
  - {code: TESTV, series: T}
"""


def test_a_minimal_file_loads(tmp_path):
    rules = load_rules([_write(tmp_path, MINIMAL)], include_default=False)
    assert list(rules.vaccines) == ["TESTV"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("schema: sesshu.schedule/1", "schema: other/9", "schema"),
        ("days: 27}", "dayz: 27}", "unknown key"),
        ("vaccines: [TESTV]", "vaccines: [NOPE]", "NOPE"),
        ("{months: 2}", "{months: -2}", "integer"),
        ("{name: d1, source: s}", "{name: d1}", "source"),
        ("live: none", "live: maybe", "live"),
        ("kind: series", "kind: weird", "kind"),
        ("series: T}", "series: X}", "unknown series"),
        ("after: previous", "after: yesterday", "after"),
        ("{from: {months: 2}, to: {months: 60}, source: s}", "{from: {months: 2}, source: s}", "to"),
    ],
)
def test_bad_rule_files_raise_a_clear_error(tmp_path, old, new, message):
    assert old in MINIMAL
    f = _write(tmp_path, MINIMAL.replace(old, new))
    with pytest.raises(RuleError) as e:
        load_rules([f], include_default=False)
    assert "bad.yaml" in str(e.value) and message in str(e.value)


def test_invalid_yaml_raises_rule_error(tmp_path):
    with pytest.raises(RuleError, match="not valid YAML"):
        load_rules([_write(tmp_path, "a: [")], include_default=False)


def test_a_vaccine_defined_twice_is_rejected(tmp_path):
    with pytest.raises(RuleError, match="already defined"):
        load_rules([_write(tmp_path, MINIMAL.replace("TESTV", "HIB"))])


def test_unknown_override_is_rejected():
    with pytest.raises(RuleError):
        load_rules(overrides={"NOPE": {"season": ["10-01", "01-31"]}})
