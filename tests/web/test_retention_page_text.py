"""The 保存期間 page speaks to staff: legal sources only — no developer notes, no [check] markers, no
command lines (issue 20: retention from June 2026)."""
from __future__ import annotations

from sesshu.domain.retention import retention_rules
from tests.web.conftest import login


def test_retention_page_shows_sources_without_notes_checks_or_commands(client, make_staff):
    login(client, make_staff("supervisor"))
    page = client.get("/retention").text
    assert "死亡した日の翌日から5年を経過する日まで保存" in page
    for forbidden in ("[check", "sesshu ", "--approval", "notes", "Settled", "search tool"):
        assert forbidden not in page, forbidden


def test_every_source_is_plain_japanese_law_text():
    for rule in retention_rules().values():
        assert "[check" not in rule.source and "sesshu" not in rule.source, rule.code
