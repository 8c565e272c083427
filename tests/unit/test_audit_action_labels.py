"""Every audit action the code base writes has a Japanese name (issue 22 item 9): the audit viewer shows
「個人の情報の閲覧」, not `person.view`. The action codes are found in the source itself."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from sesshu.audit.lookup import ACTION_LABELS, DETAIL_LABELS, detail_items

SRC = Path(__file__).resolve().parents[2] / "src" / "sesshu"
CODE = re.compile(r"^[a-z_]{1,20}\.[a-z_]{1,40}$|^print$|^export$")
CALLS = {"record", "record_many", "AuditEvent", "_events", "log_refusals"}


def _strings(node) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.match(node.value):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return []


def used_actions() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            values = []
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if name in ("record", "record_many") and len(node.args) >= 3:
                    values += _strings(node.args[2])
                if name in ("AuditEvent", "_events") and node.args:
                    values += _strings(node.args[0])
                values += [v for kw in node.keywords if kw.arg in ("action", "why") for v in _strings(kw.value)]
            elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "action" for t in node.targets):
                values += _strings(node.value)
            for v in values:
                found.setdefault(v, str(path.relative_to(SRC)))
    return found


def test_every_action_written_has_a_japanese_label():
    used = used_actions()
    assert len(used) > 100  # the scan finds the code base's actions
    missing = {a: where for a, where in used.items() if a not in ACTION_LABELS}
    assert not missing, f"audit actions without a Japanese label in audit/lookup.py: {missing}"
    for code, label in ACTION_LABELS.items():
        assert label != code and re.search(r"[\u3040-\u9fff]", label), (code, label)


def test_detail_is_shown_with_japanese_labels_and_wareki_dates():
    items = dict(detail_items('{"record_id": 12, "vaccinated_on": "2023-06-09", "why": "record.enter", '
                              '"fields": ["lot_no", "dose_no"], "unknown_key": "x"}'))
    assert items["記録番号"] == "12"
    assert items["接種年月日"] == "令和5年6月9日"
    assert items["理由となった操作"] == "予診票の手入力（登録）"
    assert "unknown_key" in items  # a key without a label is still shown, not hidden
    assert all(k in DETAIL_LABELS.values() or k == "unknown_key" for k in items)
