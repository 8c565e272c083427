"""Batch constants go into the INSERT text only when they cannot change its meaning."""
from __future__ import annotations

from datetime import datetime

from sesshu.bulk import _literal


def test_plain_values_are_inlined():
    assert _literal(None) == "NULL" and _literal(42) == "42" and _literal("os:ops") == "'os:ops'"
    assert _literal(datetime(2026, 11, 26, 6, 0)) == "'2026-11-26 06:00:00.000000'"


def test_anything_else_is_left_to_a_bound_parameter():
    for hostile in ["o'brien", "a\\b", "x'); DROP TABLE person; --", "山田", "line\nbreak"]:
        assert _literal(hostile) is None
