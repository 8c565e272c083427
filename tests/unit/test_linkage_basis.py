"""情報連携 runs under the basis the city's 特定個人情報保護評価書 names: 番号法 別表第二 115の2の項
(新型インフルエンザ等対策特別措置法による予防接種の実施に関する事務・情報), the 事務 tokuso_sesshu."""
from __future__ import annotations

from sesshu.access.tasks import TASKS
from sesshu.demo.linkage_world import PERMITS
from sesshu.linkage.rules import load_rules


def test_linkage_asks_and_provides_under_115_no_2_of_the_second_table():
    rules = load_rules()
    assert rules.task == "tokuso_sesshu" and "93の2" in TASKS[rules.task].legal_basis
    basis = rules.info["vaccination_history"]["legal_basis"]
    assert "別表第二 115の2の項" in basis and "第59条の2" in basis


def test_the_demo_hubs_permit_table_matches_the_rules():
    rules = load_rules()
    assert {(p["task"], p["info"]) for p in PERMITS} == {(rules.task, "vaccination_history")}
    assert all("115の2" in p["legal_basis"] for p in PERMITS)
