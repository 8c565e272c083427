"""`sesshu tokutei import|groups|counts`: 特定接種 (特措法第28条) of the city's own staff.

The groups and job categories (職種区分) come from the active campaign files (`tokutei` section); targets are
`sesshu targets --vaccine CODE` of the 特定接種 line (its own vaccine code), records carry 接種区分 特定接種."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

tokutei_app = typer.Typer(help="特定接種（特措法第28条）: 対象職員の名簿・群・接種実績", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(tokutei_app, name="tokutei")


def _db():
    from sesshu.config import load_settings
    from sesshu.db import make_database

    return make_database(load_settings())


@tokutei_app.command("groups")
def groups_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """適用中の実施計画の特定接種の群と職種区分（根拠付き）を表示します。"""
    from sesshu.tokutei.service import tokutei_groups

    db = _db()
    try:
        groups = tokutei_groups(db)
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(groups, ensure_ascii=False, indent=2))
        return
    if not groups:
        typer.echo("適用中の実施計画に特定接種の群はありません")
    for code, g in groups.items():
        typer.echo(f"{code}\t{g['name']}（実施計画 {g['campaign']}）\n    根拠: {g['source']}")
        for jc, j in g["job_categories"].items():
            typer.echo(f"    職種区分 {jc}: {j['name']} — {j['source']}")


@tokutei_app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="対象職員の名簿（CSV: 宛名番号 または 氏名カナ・生年月日・性別、所属、職種区分）"),
    group: str = typer.Option(..., "--group", help="特定接種の群（sesshu tokutei groups で確認）"),
    reason: str = typer.Option(..., "--reason", help="取込の理由（名簿の作成部署・受付日など）"),
    confirmed_on: Optional[str] = typer.Option(None, "--confirmed-on", help="名簿を確認した日（省略時は今日）"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """特定接種の対象職員の名簿を取り込みます。1行でも誤りがあれば誰も登録しません（行番号付きで理由を表示）。
    市外に住む職員は、先に住登外者の登録（二人確認）をしてください。"""
    from sesshu.actor import os_actor
    from sesshu.domain.wareki import parse_optional_date
    from sesshu.tokutei.service import import_staff_list

    db = _db()
    try:
        out = import_staff_list(db, actor=os_actor(), path=file, group=group.strip(), reason=reason,
                                confirmed_on=parse_optional_date(confirmed_on, "名簿を確認した日"))
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(out.__dict__, ensure_ascii=False, indent=2, default=str))
    elif out.rejected:
        typer.echo(f"名簿 {out.read} 行: 誤りのある行が {len(out.rejected)} 行あるため、誰も登録していません")
    else:
        by_job = "、".join(f"職種区分 {c}: {n} 人" for c, n in sorted(out.by_job_category.items()))
        typer.echo(f"名簿 {out.read} 行: 登録 {out.recorded} 人（{by_job or 'なし'}）、登録済み {out.already} 人")
    for line, why in out.rejected:
        typer.echo(f"  {line}行目: {why}")
    if out.rejected:
        raise typer.Exit(1)


@tokutei_app.command("counts")
def counts_cmd(
    date_from: Optional[str] = typer.Option(None, "--from", help="集計期間の開始日（和暦可）"),
    date_to: Optional[str] = typer.Option(None, "--to", help="集計期間の終了日（和暦可）"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """特定接種と住民接種の接種実績を分けて集計します（接種種別・回数ごとの接種回数と人数）。"""
    from sesshu.actor import os_actor
    from sesshu.domain.wareki import parse_optional_date
    from sesshu.tokutei.service import count_doses

    db = _db()
    try:
        rows = count_doses(db, actor=os_actor(), date_from=parse_optional_date(date_from, "集計期間の開始日"),
                           date_to=parse_optional_date(date_to, "集計期間の終了日"))
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("特定接種・住民接種の接種記録はありません")
    for r in rows:
        dose = f"{r.dose_no}回目" if r.dose_no else "回数なし"
        typer.echo(f"{r.category_label}\t{r.vaccine}\t{dose}\t接種 {r.doses} 回（{r.persons} 人）\t判定エラー {r.invalid} 回")
        for job, n in (r.by_job or {}).items():
            typer.echo(f"\t職種区分 {job}: {n} 回")
