"""Golden outputs: the engine reproduces, byte for byte, what the reference engine produced.

The fixture (golden_schedule.json.xz, written by golden_gen.py from the engine before the
performance work) holds 3,200 randomised but realistic persons — every vaccine code, invalid and
voluntary doses, edge birth dates, several as_of dates, the pandemic rules — with their
``evaluate_json`` output and each dose's ``series``.  Each case is evaluated with cold caches,
then again with warm (shared) caches and in another order, since the engine caches per birth date.
"""

from __future__ import annotations

import json
import lzma
from functools import lru_cache

import pytest

from sesshu.domain.schedule import evaluate, evaluate_json
from sesshu.domain.schedule.contract import parse_payload

from .golden_gen import FIXTURE, rulesets


@lru_cache(maxsize=1)
def _cases() -> list[dict]:
    return json.loads(lzma.decompress(FIXTURE.read_bytes()))


def _check(cases, rs, label):
    bad = []
    for i, c in cases:
        out = evaluate_json(c["payload"], rs[c["rules"]])
        if out != c["output"]:
            bad.append(i)
    assert not bad, f"{label}: {len(bad)} cases differ, first {bad[:10]}"


def test_fixture_is_complete():
    cases = _cases()
    assert len(cases) == 3200
    codes = {d["vaccine"] for c in cases for d in c["payload"]["doses"]}
    assert {"HIB", "PCV", "HEPB", "ROTA1", "ROTA5", "DPTIPVHIB", "DPTIPV", "DPT", "IPV", "BCG",
            "MR", "MEASLES", "RUBELLA", "VAR", "JE", "DT", "HPV2", "HPV4", "HPV9", "FLU_ELDER",
            "PPSV23", "COVID", "ZOSTER_LIVE", "ZOSTER_RZV", "PANDEMIC_EXAMPLE"} <= codes


def test_golden_cold_then_warm_caches():
    cases = list(enumerate(_cases()))
    rs = rulesets()  # fresh rules: empty caches
    _check(cases, rs, "cold")
    _check(cases, rs, "warm")
    _check(cases[::-1], rs, "warm, reversed")


@pytest.mark.parametrize("part", range(4))
def test_golden_interleaved_and_series(part):
    """Interleave the cases (another cache history) and check DoseResult.series too."""
    cases = _cases()
    rs = rulesets()
    bad = []
    for i in range(part, len(cases), 4):
        c = cases[i]
        ev = evaluate(*parse_payload(c["payload"]), rs[c["rules"]])
        if [list(r.series) for r in ev.doses] != c["series"]:
            bad.append(i)
        if evaluate_json(c["payload"], rs[c["rules"]]) != c["output"]:
            bad.append(i)
    assert not bad, f"{len(bad)} cases differ, first {bad[:10]}"
