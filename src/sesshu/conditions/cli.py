"""`sesshu person condition`: show, record or end a person's condition (the B類 60–64 criterion)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from sesshu.actor import os_actor
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.domain.errors import InvalidInput
from sesshu.domain.wareki import parse_optional_date


def _show(c) -> str:
    period = f"{c.valid_from or '（定めなし）'}〜{c.ended_on or c.valid_until or '（定めなし）'}"
    grade = f" {c.evidence_grade}級" if c.evidence_grade else ""
    number = f" 番号 {c.evidence_no}" if c.evidence_no else ""
    return (f"[{c.id}] {c.label} — {c.state_label}（{c.status_label}） {c.impairment_label}\n"
            f"    書類: {c.evidence_label}{grade}{number} 確認日 {c.confirmed_on}  有効期間 {period}\n"
            f"    登録: {c.recorded_at:%Y-%m-%d %H:%M} {c.recorded_by} 理由「{c.record_reason}」"
            + (f"\n    終了: {c.ended_at:%Y-%m-%d %H:%M} {c.ended_by} 理由「{c.end_reason}」" if c.ended_at else ""))


def condition_cmd(
    atena_no: str = typer.Argument(..., help="宛名番号"),
    set_: Optional[str] = typer.Option(None, "--set", help="登録する要件（designated_disability、適用中の実施計画の接種順位の群 underlying_condition など）"),
    end: Optional[str] = typer.Option(None, "--end", help="終了する要件（designated_disability）"),
    condition_id: Optional[int] = typer.Option(None, "--id", help="終了する登録の番号（同じ要件の登録が複数あるとき）"),
    impairment: str = typer.Option("", help="障害の種類: heart / kidney / respiratory / hiv_immune"),
    evidence: str = typer.Option("", help="確認した書類: handbook（身体障害者手帳） / medical_certificate（医師の診断書）"),
    grade: Optional[int] = typer.Option(None, help="手帳の等級（1級相当が対象）"),
    evidence_no: str = typer.Option("", "--evidence-no", help="手帳の番号"),
    issued_on: Optional[str] = typer.Option(None, "--issued-on", help="書類の交付日"),
    note: str = typer.Option("", help="診断書の作成医療機関・医師と記載された障害の程度"),
    confirmed_on: Optional[str] = typer.Option(None, "--confirmed-on", help="書類を確認した日（省略時は今日）"),
    valid_from: Optional[str] = typer.Option(None, "--valid-from", help="有効期間の開始日（省略時は定めなし）"),
    valid_until: Optional[str] = typer.Option(None, "--valid-until", help="有効期間の終了日（この日まで）"),
    ended_on: Optional[str] = typer.Option(None, "--on", help="--end: 要件を満たした最後の日（省略時は今日）"),
    withdraw: bool = typer.Option(False, "--withdraw", help="--end: 誤登録の取消（初めから要件がなかったものとする）"),
    reason: str = typer.Option("", help="登録・終了の理由（必須）"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """接種対象の要件（60〜64歳の障害）を表示・登録・終了します。登録・終了すると接種記録を再判定します。"""
    from sesshu.clock import today_jst
    from sesshu.conditions import service
    from sesshu.conditions.schemas import ConditionEntry

    if set_ and end:
        raise InvalidInput("--set と --end は同時に指定できません")
    db = make_database(load_settings())
    actor = os_actor()
    try:
        if set_:
            out = [service.record_condition(db, actor=actor, atena_no=atena_no, entry=ConditionEntry(
                condition_code=set_.strip(), impairment=impairment.strip(), evidence_kind=evidence.strip(),
                evidence_grade=grade, evidence_no=evidence_no, evidence_issued_on=parse_optional_date(issued_on, "書類の交付日"),
                evidence_note=note, confirmed_on=parse_optional_date(confirmed_on, "書類を確認した日") or today_jst(),
                valid_from=parse_optional_date(valid_from, "有効期間の開始日"), valid_until=parse_optional_date(valid_until, "有効期間の終了日"),
                reason=reason))]
            head = "要件を登録し、接種記録を再判定しました"
        elif end:
            cid = condition_id or service.find_active(db, actor=actor, atena_no=atena_no, condition_code=end.strip())
            out = [service.end_condition(db, actor=actor, atena_no=atena_no, condition_id=cid, reason=reason,
                                         ended_on=parse_optional_date(ended_on, "終了日"), withdraw=withdraw)]
            head = ("誤登録として取り消し" if withdraw else "要件を終了し") + "、接種記録を再判定しました"
        else:
            out = service.list_conditions(db, actor=actor, atena_no=atena_no)
            head = f"接種対象の要件: {len(out)}件"
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps([c.__dict__ for c in out], ensure_ascii=False, indent=2, default=str))
        return
    typer.echo(head)
    for c in out:
        typer.echo(_show(c))


def condition_import_cmd(
    file: Path = typer.Argument(..., help="名簿（CSV: 宛名番号 または 氏名カナ・生年月日・性別、所属）"),
    group: str = typer.Option(..., "--group", help="接種順位の群（healthcare_worker など、適用中の実施計画の群）"),
    reason: str = typer.Option(..., "--reason", help="取込の理由（名簿の提出元・受付日など）"),
    confirmed_on: Optional[str] = typer.Option(None, "--confirmed-on", help="名簿を確認した日（省略時は今日）"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """医療機関・施設から届いた接種順位の名簿を取り込み、一致した方に要件を登録します（一致しない行は理由付きで返します）。"""
    from sesshu.conditions.group_list import import_group_list

    db = make_database(load_settings())
    try:
        out = import_group_list(db, actor=os_actor(), path=file, group=group.strip(), reason=reason,
                                confirmed_on=parse_optional_date(confirmed_on, "名簿を確認した日"))
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(out.__dict__, ensure_ascii=False, indent=2, default=str))
        return
    typer.echo(f"名簿 {out.read} 行: 登録 {out.recorded} 人、登録済み {out.already} 人、一致しない行 {len(out.rejected)}")
    for line, why in out.rejected:
        typer.echo(f"  {line}行目: {why}")


def register(person_app: typer.Typer) -> None:
    person_app.command("condition")(condition_cmd)
    person_app.command("condition-import")(condition_import_cmd)
