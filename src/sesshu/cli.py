"""Command line: thin commands over the same services the web uses. Every action is audited,
with the operating-system user as the actor."""
from __future__ import annotations

import json
from collections import Counter
import sys
from datetime import date
from pathlib import Path
from typing import Optional

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError

from sesshu.access import cli as access_cli
from sesshu.approvals import cli as approvals_cli
from sesshu.away import cli as away_cli
from sesshu.counts import cli as counts_cli
from sesshu.billing import cli as billing_cli
from sesshu.actor import os_actor
from sesshu.auth.cli import register as register_account_commands
from sesshu.backup import cli as backup_cli
from sesshu.conditions import cli as conditions_cli
from sesshu.pregnancy import cli as pregnancy_cli
from sesshu.audit.cli import register as register_audit_commands
from sesshu.config import load_settings
from sesshu.db import Database, make_database
from sesshu.domain.errors import DomainError
from sesshu.domain.wareki import parse_optional_date
from sesshu.exports import cli as exports_cli
from sesshu.hub import cli as hub_cli
from sesshu.fhir import cli as fhir_cli
from sesshu.jobs import cli as jobs_cli
from sesshu.linkage import cli as linkage_cli
from sesshu.mynumber import cli as mynumber_cli
from sesshu.tickets import cli as tickets_cli
from sesshu.certificates import cli as certificates_cli
from sesshu.retention import cli as retention_cli
from sesshu.disclosure import cli as disclosure_cli
from sesshu.relief import cli as relief_cli
from sesshu.rulesets import cli as rulesets_cli
from sesshu.eligibility import cli as eligibility_cli
from sesshu.tokutei import cli as tokutei_cli

app = typer.Typer(help="sesshu（接種）予防接種台帳システム", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="データベース", no_args_is_help=True)
import_app = typer.Typer(help="ファイルの取込", no_args_is_help=True)
person_app = typer.Typer(help="個人", no_args_is_help=True)
record_app = typer.Typer(help="接種記録", no_args_is_help=True)
audit_app = typer.Typer(help="操作記録（監査ログ）", no_args_is_help=True)
user_app = typer.Typer(help="職員アカウント", no_args_is_help=True)
demo_app = typer.Typer(help="デモ用データ", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(person_app, name="person")
app.add_typer(record_app, name="record")
app.add_typer(audit_app, name="audit")
app.add_typer(user_app, name="user")
register_account_commands(user_app)
app.add_typer(demo_app, name="demo")
approvals_cli.register(app)
billing_cli.register(app)
jobs_cli.register(app)
backup_cli.register(app)
mynumber_cli.register(app)
tickets_cli.register(app)
away_cli.register(app)
counts_cli.register(app)
certificates_cli.register(app)
linkage_cli.register(app)
hub_cli.register(app)
tokutei_cli.register(app)
retention_cli.register(app)
disclosure_cli.register(app)
relief_cli.register(app)
rulesets_cli.register(app)  # campaign check|propose|list|show
eligibility_cli.register(app)  # eligibility rebuild
conditions_cli.register(person_app)  # person condition
pregnancy_cli.register(person_app, import_app)  # person pregnancy, import pregnancies
fhir_cli.register(app)  # fhir export|import, shc issue|verify|rotate-key|keys


def _db() -> tuple[Database, object]:
    settings = load_settings()
    return make_database(settings), settings


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"エラー: {message}", err=True)
    raise typer.Exit(code)


def _date(value: Optional[str], label: str) -> Optional[date]:
    return parse_optional_date(value, label)  # a wrong date ends the command with exit code 2 (see main)


def _iso(d: Optional[date]) -> Optional[str]:
    return d.isoformat() if d else None


def _line_json(e) -> dict:
    """One 接種可能範囲 line in the schedule contract's shape."""
    return {"vaccine": e.vaccine, "next_dose": e.next_dose, "status": e.status, "earliest": _iso(e.earliest),
            "standard_from": _iso(e.standard_from), "standard_until": _iso(e.standard_until),
            "legal_until": _iso(e.legal_until)}


def _echo_json(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """スキーマを最新にし、同梱の基準データ（接種種別）を反映します。"""
    from sesshu.ledger.reference import sync_reference_data
    from sesshu.migrate import upgrade

    db, settings = _db()
    upgrade(settings)
    changed = sync_reference_data(db)
    typer.echo(f"データベースを更新しました（基準データ {changed} 件を反映）")


@import_app.command("registry")
def import_registry_cmd(file: Path, rejects: Optional[Path] = typer.Option(None, help="不備のある行の出力先"),
                        as_json: bool = typer.Option(False, "--json")) -> None:
    """住民基本台帳のCSVを取り込みます（同じファイルの再取込では何も変わりません）。
    住登外者の新しい行は登録せず、承認待ちの申請にします（承認者がWeb画面で承認すると登録されます）。"""
    from sesshu.approvals.service import non_resident_from_registry
    from sesshu.registry.service import import_registry

    db, settings = _db()
    summary = import_registry(db, settings, path=file, actor=os_actor(), rejects_path=rejects,
                              non_resident=non_resident_from_registry)
    _print_summary(summary, as_json)


@import_app.command("records")
def import_records_cmd(file: Path, rejects: Optional[Path] = typer.Option(None, help="不備のある行の出力先"),
                       as_json: bool = typer.Option(False, "--json"),
                       evaluate: bool = typer.Option(True, "--evaluate/--no-evaluate",
                                                     help="取り込んだ方のスケジュール判定（エラーコード）を取込と同じトランザクションで行う")) -> None:
    """医療機関から返送された予診票のCSVを取り込み、接種スケジュールを判定します。"""
    from sesshu.ledger.service import import_records

    db, settings = _db()
    actor = os_actor()
    # With --evaluate the file's persons are judged inside the import's transaction. Persons queued by
    # other writes wait for `sesshu record evaluate` (the nightly run): a month's file need not pay for them.
    summary = import_records(db, settings, path=file, actor=actor, rejects_path=rejects, evaluate=evaluate)
    extra = {}
    if evaluate:
        from sqlalchemy import func, select

        from sesshu.ledger.listing import batch_verdicts
        from sesshu.ledger.models import EvaluationQueue

        with db.transaction() as s:  # counts only, as on the web's job page
            verdicts = batch_verdicts(s, summary.batch_id)
            queued = s.execute(select(func.count()).select_from(EvaluationQueue)).scalar_one()
        extra = {"evaluated_persons": summary.evaluated, "error_codes_changed": summary.error_codes_changed,
                 "verdicts": verdicts.as_dict(), "queued_others": queued}
    if as_json:
        _echo_json(summary.as_dict() | extra)
        return
    _print_summary(summary, False)
    if extra:
        typer.echo(f"スケジュール判定: {extra['evaluated_persons']} 人、エラーコードの変更 {extra['error_codes_changed']} 件")
        typer.echo(f"登録した記録の判定: 有効 {verdicts.valid} 件、無効 {verdicts.invalid} 件、任意 {verdicts.voluntary} 件、"
                   f"委託料の対象外の接種区分 {verdicts.not_billable} 件")
        for c in verdicts.codes:
            typer.echo(f"  {c['code']} {c['count']} 件: {c['reason']}")
        if queued:
            typer.echo(f"ほかの変更で判定待ちの方が {queued} 人います（sesshu record evaluate で判定します）")


@import_app.command("masters")
def import_masters_cmd(kind: str = typer.Argument(..., help="institutions / doctors / venues / manufacturers"),
                       file: Path = typer.Argument(...), rejects: Optional[Path] = typer.Option(None),
                       as_json: bool = typer.Option(False, "--json")) -> None:
    """マスタ（医療機関・医師・実施場所・ワクチン会社）のCSVを取り込みます。"""
    from sesshu.ledger.masters import import_masters

    db, _ = _db()
    summary = import_masters(db, kind=kind, path=file, actor=os_actor(), rejects_path=rejects)
    _print_summary(summary, as_json)


def _print_summary(summary, as_json: bool) -> None:
    if as_json:
        _echo_json(summary.as_dict())
        return
    typer.echo(f"{summary.file}（{summary.encoding}）: 読込 {summary.read} 件、登録 {summary.accepted} 件、"
               f"エラー {summary.rejected} 件、重複 {summary.duplicates} 件、変更なし {summary.unchanged} 件"
               + (f"、承認待ち（住登外） {summary.pending_approval} 件" if summary.pending_approval else ""))


@app.command("search")
def search_cmd(
    atena_no: str = typer.Option("", "--atena-no"), kana: str = typer.Option(""), name: str = typer.Option(""),
    birth_date: Optional[str] = typer.Option(None, "--birth-date"),
    birth_from: Optional[str] = typer.Option(None, "--birth-from"),
    birth_to: Optional[str] = typer.Option(None, "--birth-to"), address: str = typer.Option(""),
    vaccine: str = typer.Option(""), vaccinated_from: Optional[str] = typer.Option(None, "--from"),
    vaccinated_to: Optional[str] = typer.Option(None, "--to"), institution: str = typer.Option(""),
    status: str = typer.Option("", help="resident / moved_out / deceased / non_resident"),
    page: int = typer.Option(1), per_page: int = typer.Option(50, "--per-page"),
    fmt: str = typer.Option("table", "--format", help="table / json / csv（csvは全件をパスワード付きZIPに出力）"),
    purpose: str = typer.Option("対象者の検索", help="利用目的（記録されます）"),
    output: Optional[Path] = typer.Option(None, "--output", help=exports_cli.OUTPUT_HELP),
    password_file: Optional[Path] = typer.Option(None, "--password-file", help=exports_cli.PASSWORD_FILE_HELP),
) -> None:
    """条件を指定して対象者を検索します。"""
    from sesshu.search.service import SearchCriteria, export_persons, search_persons

    criteria = SearchCriteria(
        atena_no=atena_no, kana=kana, name=name, birth_date=_date(birth_date, "生年月日"),
        birth_from=_date(birth_from, "生年月日（から）"), birth_to=_date(birth_to, "生年月日（まで）"),
        address=address, vaccine=vaccine, vaccinated_from=_date(vaccinated_from, "接種日（から）"),
        vaccinated_to=_date(vaccinated_to, "接種日（まで）"), institution=institution, registry_status=status)
    if fmt == "csv":
        output = exports_cli.check_output(output)
        password = exports_cli.read_password(password_file)
        db, _ = _db()
        exports_cli.write_output(output, export_persons(db, actor=os_actor(), criteria=criteria, purpose=purpose,
                                                        password=password))
        return
    db, _ = _db()
    result = search_persons(db, actor=os_actor(), criteria=criteria, page=page, per_page=per_page, purpose=purpose)
    if fmt == "json":
        _echo_json({"total": result.total, "total_capped": result.total_capped, "page": result.page,
                    "per_page": result.per_page,
                    "rows": [{"atena_no": r.atena_no, "name": r.name, "name_kana": r.name_kana, "sex": r.sex,
                              "birth_date": r.birth_date, "address": r.address,
                              "registry_status": r.registry_status} for r in result.rows]})
        return
    more = "以上" if result.total_capped else ""
    typer.echo(f"{result.total}件{more}（{result.page}/{result.pages}ページ）")
    for r in result.rows:
        typer.echo(f"{r.atena_no}\t{r.name}\t{r.name_kana}\t{r.sex_label}\t{r.birth_date}\t{r.address}\t"
                   f"{r.registry_status_label}")


@person_app.command("show")
def person_show(atena_no: str, as_json: bool = typer.Option(False, "--json"),
                purpose: str = typer.Option("接種履歴の確認", help="利用目的（記録されます）")) -> None:
    """個人の情報と接種履歴を表示します（個人番号は下4桁のみ）。"""
    from sesshu.ledger.service import person_history

    db, settings = _db()
    h = person_history(db, settings, actor=os_actor(), atena_no=atena_no, purpose=purpose)
    records = []
    for r in h.records:
        v = h.verdicts.get(r.id)
        records.append(r.model_dump(mode="json") | {"status": v.status if v else None,
                                                    "dose_number": v.dose_number if v else None,
                                                    "reasons": list(v.reasons) if v else [],
                                                    "rules": v.rules if v else None})
    data = h.person.model_dump(mode="json") | {
        "records": records,
        "eligibility_as_of": h.as_of.isoformat(),
        "eligibility": [_line_json(e) for e in h.eligibility],
        # What applies and when; the 手帳 details stay on `sesshu person condition` (要配慮個人情報).
        "conditions": [{"condition_code": c.condition_code, "label": c.label, "state": c.state,
                        "valid_from": _iso(c.valid_from), "valid_until": _iso(c.valid_until)} for c in h.conditions],
    }
    if as_json:
        _echo_json(data)
        return
    p = h.person
    typer.echo(f"{p.atena_no}  {p.name}（{p.name_kana}） {p.sex_label} {p.birth_date}  {p.registry_status_label}")
    typer.echo(f"  住所: {p.address}  個人番号: {p.my_number_masked or '未登録'}")
    for c in h.conditions:
        typer.echo(f"  接種対象の要件: {c.label}（{c.state_label}）")
    for r in h.records:
        typer.echo(f"  {r.vaccinated_on}  {r.vaccine_code:<10} {r.term} {r.dose_no or ''}  {r.institution_code or ''}"
                   f"  {r.error_code}")


@record_app.command("correct")
def record_correct(record_id: int, version: int = typer.Option(..., help="画面で確認した版数"),
                   reason: str = typer.Option(..., help="修正理由"),
                   set_: list[str] = typer.Option(..., "--set", help="項目=値（例: lot_no=AB123）")) -> None:
    """職権修正: 接種記録の項目を修正します（旧値と理由は履歴に残ります）。"""
    from sesshu.ledger.service import Correction, correct_record
    from sesshu.ledger.values import parse_field

    changes = {}
    for item in set_:
        if "=" not in item:
            _fail(f"--set は 項目=値 の形で指定してください: {item}")
        k, v = item.split("=", 1)
        changes[k.strip()] = parse_field(k.strip(), v)
    db, settings = _db()
    out = correct_record(db, settings, actor=os_actor(),
                         correction=Correction(record_id=record_id, expected_version=version, reason=reason,
                                               changes=changes))
    typer.echo(f"記録 {out.id} を修正しました（版数 {out.version}）")


@record_app.command("void")
def record_void(record_id: int, version: int = typer.Option(...), reason: str = typer.Option(...)) -> None:
    """誤った接種記録を取り消します（削除はせず、履歴に残ります）。"""
    from sesshu.ledger.service import void_record

    db, _ = _db()
    void_record(db, actor=os_actor(), record_id=record_id, expected_version=version, reason=reason)
    typer.echo(f"記録 {record_id} を取り消しました")


@record_app.command("evaluate")
def record_evaluate(as_of: Optional[str] = typer.Option(None, "--as-of", help="基準日（省略時は今日）"),
                    batch: int = typer.Option(2000, "--batch", min=1, max=100000,
                                              help="1回のトランザクションで判定する人数")) -> None:
    """判定待ちの方の接種記録をスケジュールエンジンで判定し、エラーコードを更新します（中断しても再実行で続きから）。"""
    from sesshu.ledger.service import evaluate_pending

    db, _ = _db()
    ev = evaluate_pending(db, actor=os_actor(), as_of=_date(as_of, "基準日"), batch=batch)
    typer.echo(f"スケジュール判定: {ev.persons} 人、エラーコードの変更 {ev.records_changed} 件")


@record_app.command("history")
def record_history_cmd(record_id: int) -> None:
    """接種記録の修正履歴を表示します。"""
    from sesshu.ledger.service import record_history

    db, _ = _db()
    _echo_json(record_history(db, actor=os_actor(), record_id=record_id))


register_audit_commands(audit_app)  # verify, checkpoint, pubkey, search, anomalies


@demo_app.command("load")
def demo_load(residents: int = typer.Option(3000, help="住民数"), seed: int = typer.Option(1, help="乱数の種（同じ値なら同じ町）"),
              as_of: Optional[str] = typer.Option(None, "--as-of", help="基準日（省略時は今日）"),
              campaign: Optional[str] = typer.Option(None, "--campaign",
                                                     help="同梱の実施計画（covid-2021 など）をデモ上長2人の申請・承認で適用")
              ) -> None:
    """架空の町（住民・世帯・医療機関・接種履歴）とデモ用職員アカウントを作成します。"""
    from sesshu.clock import today_jst
    from sesshu.demo.service import load_demo

    db, settings = _db()
    summary = load_demo(db, settings, actor=os_actor(), residents=residents, seed=seed,
                        as_of=_date(as_of, "基準日") or today_jst())
    c = summary.counts()
    typer.echo(f"デモの町を作成しました: 世帯 {c['households']}、住民 {c['persons']}、接種記録 {c['records']}、"
               f"医療機関 {c['institutions']}（{summary.seconds:.1f}秒）")
    for login in summary.logins:
        secret = f"  TOTP秘密鍵 {login.totp_secret}" if login.totp_secret else ""
        typer.echo(f"  {login.display_name}（{login.role}）: ID {login.login_id} / パスワード {login.password}{secret}")
    if campaign:
        from sesshu.demo.campaign import load_campaign

        for r in load_campaign(db, settings, name=campaign, operator=os_actor()):
            typer.echo(f"  実施計画 {r.name} 第{r.version}版（{r.effective_from}から）: {r.status_label}"
                       f"（申請 {r.proposed_by}・承認 {r.approved_by}）")


@demo_app.command("totp")
def demo_totp(login_id: str = typer.Argument("demo")) -> None:
    """デモ用アカウントの現在の確認コード（6桁）を表示します。デモ用アカウント以外には使えません。"""
    from sesshu.auth.service import demo_totp_code

    db, settings = _db()
    typer.echo(demo_totp_code(db, settings, login_id=login_id))


@user_app.command("add")
def user_add(login_id: str, name: str = typer.Option(..., help="氏名"),
             role: str = typer.Option(..., help="clerk / supervisor / security_officer / auditor"),
             valid_until: Optional[str] = typer.Option(None, "--valid-until", help="有効期限（この日まで）"),
             task: list[str] = typer.Option([], "--task", help="担当する個人番号利用事務（複数指定可）"),
             department: str = typer.Option("健康づくり課", help="取扱部署")) -> None:
    """職員アカウントを登録します。パスワードは入力を求め、TOTPの秘密鍵を一度だけ表示します。"""
    from sesshu.auth.accounts import check_valid_until
    from sesshu.auth.service import create_user
    from sesshu.clock import today_jst

    until = _date(valid_until, "有効期限")
    check_valid_until(until, today_jst())  # before the password is asked for
    password = typer.prompt("パスワード", hide_input=True, confirmation_prompt=True)
    db, settings = _db()
    new = create_user(db, settings, actor=os_actor(), login_id=login_id, display_name=name, role=role,
                      password=password, valid_until=until,
                      tasks=tuple((code, department) for code in task))
    typer.echo(f"{new.login_id} を登録しました。認証アプリに次の秘密鍵を登録してください: {new.totp_secret}")
    if not task:
        typer.echo("注意: 担当事務が指定されていないため、このアカウントは住民の情報を扱えません"
                   "（`sesshu user assign` で指定できます）")


@app.command("serve")
def serve_cmd(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8000),
              workers: int = typer.Option(1, min=1, max=64, help="ワーカープロセス数（CPUコア数程度）")) -> None:
    """Web画面とAPIを起動します。"""
    from sesshu.web.server import serve

    serve(host, port, workers)


schedule_app = typer.Typer(help="接種スケジュールの判定", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")


@schedule_app.command("evaluate")
def schedule_evaluate() -> None:
    """標準入力のJSON（生年月日・性別・基準日・接種歴）を判定し、結果をJSONで出力します。"""
    from sesshu.domain.schedule.contract import ContractError, evaluate_json

    try:
        payload = json.load(sys.stdin)
    except json.JSONDecodeError as e:
        _fail(f"入力がJSONとして読めません: {e}")
    from sesshu.rulesets.active import rule_book

    db, _ = _db()
    with db.transaction() as s:
        book = rule_book(s)
    try:
        result = evaluate_json(payload, book=book)
    except ContractError as e:
        _fail(str(e))
    typer.echo(json.dumps(result, ensure_ascii=False))


@app.command("targets")
def targets_cmd(vaccine: str = typer.Option(..., help="接種種別コード（MR, HPV, FLU_ELDER など）"),
                as_of: Optional[str] = typer.Option(None, "--as-of", help="基準日（省略時は今日）"),
                within: int = typer.Option(0, help="基準日から何日以内に対象となる方を含めるか"),
                fmt: str = typer.Option("table", "--format", help="table / csv（パスワード付きZIP） / json"),
                purpose: str = typer.Option("対象者選定（接種勧奨の通知）", help="利用目的（記録されます）"),
                output: Optional[Path] = typer.Option(None, "--output", help=exports_cli.OUTPUT_HELP),
                password_file: Optional[Path] = typer.Option(None, "--password-file",
                                                             help=exports_cli.PASSWORD_FILE_HELP)) -> None:
    """対象者選定: 住民のうち、接種できる方・期間内に対象となる方の一覧を出力します（特定接種の接種種別では、名簿の職員を住登外者も含めて）。"""
    from sesshu.clock import today_jst
    from sesshu.ledger.targets import export_targets, select_targets

    day = _date(as_of, "基準日") or today_jst()
    if fmt == "csv":
        output = exports_cli.check_output(output)
        password = exports_cli.read_password(password_file)
        db, _ = _db()
        exports_cli.write_output(output, export_targets(db, actor=os_actor(), vaccine=vaccine, as_of=day,
                                                        within_days=within, purpose=purpose, password=password))
        return
    db, _ = _db()
    rows = select_targets(db, actor=os_actor(), vaccine=vaccine, as_of=day, within_days=within, purpose=purpose)
    if fmt == "json":
        _echo_json([{"atena_no": r.atena_no, "name": r.name, "name_kana": r.name_kana, "sex": r.sex,
                     "birth_date": _iso(r.birth_date), "postal_code": r.postal_code, "address": r.address,
                     "household_no": r.household_no, **_line_json(r.line), "group": r.group} for r in rows])
    else:
        typer.echo(f"{len(rows)} 人")
        groups = Counter(r.group for r in rows if r.group)
        for name, n in groups.items():  # a campaign's 接種順位 (routine lines have none)
            typer.echo(f"  {name}: {n} 人")
        for r in sorted(rows, key=lambda r: list(groups).index(r.group) if r.group else 0):
            e = r.line
            typer.echo(f"{r.atena_no}\t{r.name}\t{r.birth_date}\t{e.vaccine} {e.next_dose or ''}回目\t"
                       f"{e.status}\t{_iso(e.earliest)}〜{_iso(e.legal_until)}" + (f"\t{r.group}" if r.group else ""))


access_cli.register(user_app)


def _echo_current(current: dict | None) -> None:
    """After a conflict: the record as it is now (the newer values), so nothing is decided blind."""
    if not current:
        return
    typer.echo(f"現在の記録 {current['record_id']}（版 {current['version']}、{current['changed_by']} "
               f"{current['changed_at']} 更新{'、理由: ' + current['reason'] if current.get('reason') else ''}）:", err=True)
    for name, value in current["values"].items():
        if value:
            typer.echo(f"  {name} = {value}", err=True)
    typer.echo(f"修正し直すには --version {current['version']} を指定してください", err=True)


def main() -> None:
    try:
        app()
    except DomainError as e:
        typer.echo(f"エラー: {e.message}", err=True)
        _echo_current(getattr(e, "current", None))
        sys.exit(2)
    except (OperationalError, ProgrammingError) as e:
        text = str(e.orig) if getattr(e, "orig", None) else str(e)
        if "no such table" in text or "does not exist" in text:
            typer.echo("エラー: データベースが初期化されていません。先に `sesshu db upgrade` を実行してください。", err=True)
            sys.exit(2)
        raise
    except FileNotFoundError as e:
        typer.echo(f"エラー: ファイルが見つかりません: {e.filename}", err=True)
        sys.exit(2)
