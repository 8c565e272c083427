"""The approval kind `retention_purge`: one supervisor asks, another approves, then the purge may run.

The payload names no person: the category, the reference date (the day of the request), how many
persons and a SHA-256 of their sorted 宛名番号. The purge recomputes the list and refuses if it differs.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from sesshu.domain.errors import Conflict, InvalidInput
from sesshu.domain.retention import retention_rules


def validate(s: Session, raw: dict, ctx) -> dict:
    from sesshu.retention.service import due_in_session, units_hash

    category = str(raw.get("category", ""))
    rule = retention_rules().get(category)
    if rule is None:
        raise InvalidInput("消去する区分を選択してください")
    if not rule.enabled:
        raise InvalidInput(f"「{rule.label}」は保存期間による消去の対象に設定されていません")
    current = due_in_session(s, category, ctx.today)
    if not current.units:
        raise InvalidInput(f"「{rule.label}」に保存期間を過ぎたデータはありません")
    return {"category": category, "as_of": ctx.today.isoformat(), "count": len(current.units),
            "units_sha256": units_hash(current.units)}


def summary(p: dict) -> str:
    label = retention_rules()[p["category"]].label
    from datetime import date

    from sesshu.domain.wareki import to_wareki

    return f"保存期間経過データの消去: {label} {p['count']}人（基準日 {to_wareki(date.fromisoformat(p['as_of']))}）"


def details(p: dict) -> list[tuple[str, str]]:
    rule = retention_rules()[p["category"]]
    from datetime import date

    from sesshu.domain.wareki import to_wareki

    return [("区分", rule.label), ("保存期間", f"{rule.years}年"), ("根拠", rule.source),
            ("基準日", to_wareki(date.fromisoformat(p["as_of"]))),
            ("対象人数", f"{p['count']}人"), ("対象一覧の照合値（SHA-256 先頭16桁）", p["units_sha256"][:16]),
            ("実行方法", "承認後、運用担当が消去を実行します（消去したデータは復元できません）")]


SUBJECTS_SHOWN = 200


def subjects(s: Session, p: dict, actor) -> tuple[list[str], list[list[str]], int]:
    """Who would be erased, read live for the approver: 4情報 (氏名・性別・生年月日・住所) and why each is due
    (the anchor date and the last day of the period). The payload names no one; this view is audited."""
    from datetime import date

    from sesshu.audit import service as audit
    from sesshu.domain.retention import keep_until
    from sesshu.domain.wareki import to_wareki
    from sesshu.registry.models import SEXES, Person
    from sesshu.retention.service import PURPOSE, due_in_session

    rule = retention_rules()[p["category"]]
    current = due_in_session(s, p["category"], date.fromisoformat(p["as_of"]))
    anchor_label = {"died_on": "死亡日", "moved_out_on": "転出日"}.get(rule.anchor, "起算日")
    rows = []
    for atena_no, anchor in current.due[:SUBJECTS_SHOWN]:
        person = s.get(Person, atena_no)
        rows.append([atena_no, person.name, person.name_kana, SEXES.get(person.sex, ""), to_wareki(person.birth_date),
                     person.address, f"{anchor_label} {to_wareki(anchor)} から{rule.years}年（保存期限 "
                                      f"{to_wareki(keep_until(anchor, rule))}）を経過"])
    audit.record(s, actor, "retention.subjects_view", purpose=PURPOSE,
                 detail={"category": p["category"], "as_of": p["as_of"], "shown": [r[0] for r in rows],
                         "count": len(current.due)})
    header = ["宛名番号", "氏名", "氏名カナ", "性別", "生年月日", "住所", "消去の理由"]
    return header, rows, max(0, len(current.due) - len(rows))


def apply(s: Session, p: dict, ctx) -> str:
    from datetime import date

    from sesshu.retention.service import due_in_session, units_hash

    current = due_in_session(s, p["category"], date.fromisoformat(p["as_of"]))
    if len(current.units) != p["count"] or units_hash(current.units) != p["units_sha256"]:
        raise Conflict("申請後に消去の対象が変わりました。一覧を確認して申請し直してください")
    return str(p["count"])
