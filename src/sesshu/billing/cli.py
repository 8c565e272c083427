"""`sesshu billing …`: the monthly run, closing, imports, reconciliation and copay-exemption matching."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

billing_app = typer.Typer(help="委託料の支払い（月次処理・締め・口座・税情報・請求書の取込）", no_args_is_help=True)
accounts_app = typer.Typer(help="医療機関の振込先口座", no_args_is_help=True)
tax_app = typer.Typer(help="地方税関係情報（費用助成の判定用）", no_args_is_help=True)
claims_app = typer.Typer(help="医療機関の請求書（件数・金額）", no_args_is_help=True)
subsidy_app = typer.Typer(help="費用助成（自己負担の免除）", no_args_is_help=True)
kokuho_app = typer.Typer(help="国保連経由の請求（市外の医療機関での接種）", no_args_is_help=True)
billing_app.add_typer(accounts_app, name="accounts")
billing_app.add_typer(tax_app, name="tax")
billing_app.add_typer(claims_app, name="claims")
billing_app.add_typer(subsidy_app, name="subsidy")
billing_app.add_typer(kokuho_app, name="kokuho")


def register(app: typer.Typer) -> None:
    app.add_typer(billing_app, name="billing")


def _db():
    from sesshu.config import load_settings
    from sesshu.db import make_database

    settings = load_settings()
    return make_database(settings), settings


def _summary(summary, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
        return
    typer.echo(f"{summary.file}（{summary.encoding}）: 読込 {summary.read} 件、登録・更新 {summary.accepted} 件、"
               f"エラー {summary.rejected} 件、変更なし {summary.unchanged} 件")


@billing_app.command("run")
def run_cmd(month: str = typer.Option(..., "--month", help="請求月 YYYY-MM"),
            transfer_date: str = typer.Option(..., "--transfer-date", help="振込指定日 YYYY-MM-DD"),
            out: Path = typer.Option(..., "--out", help="支払明細書・返戻一覧・集計・全銀ファイルの出力先フォルダ"),
            chunk_size: int = typer.Option(10, "--chunk-size", min=1, help="一度にコミットする医療機関数"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """請求月の委託料を計算し（中断した場合は続きから）、出力先に statement-*.pdf, returns.pdf, returns.csv,
    summary.csv, zengin.txt を書きます。締め済みの月は再計算せず、確定した内容を出力します。前回の実行が
    計算の後、出力の前に止まった場合は、その後に変更がなければ再計算せずにその計算結果を出力します。"""
    from sesshu.actor import os_actor
    from sesshu.billing.outputs import write_month_files
    from sesshu.billing.service import check_month, month_status, run_month
    from sesshu.domain.wareki import parse_optional_date

    db, settings = _db()
    actor = os_actor()
    month = check_month(month)
    day = parse_optional_date(transfer_date, "振込指定日")
    note = ""
    if month_status(db, month) == "closed":
        note = "締め済みのため再計算せず、確定した内容を出力しました"
        result = None
    else:
        result = run_month(db, actor=actor, month=month, transfer_date=day, chunk_size=chunk_size, keep_unwritten=True)
        if result.files_pending:
            note = (f"前回の実行（第{result.run_no}回）は計算の後、出力の前に止まっていました。"
                    "再計算せず、その計算結果を出力しました")
    files = write_month_files(db, actor=actor, month=month, out_dir=out, municipality=settings.municipality_name)
    data = {"month": month, "note": note, **files}
    if result is not None:
        data |= {"run_no": result.run_no, "resumed": result.outcome.resumed or result.files_pending,
                 **result.outcome.result}
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if note:
        typer.echo(note)
    if result is not None:
        r = result.outcome.result
        typer.echo(f"{month}（第{result.run_no}回{'・再開' if result.outcome.resumed else ''}）: 支払 {r['paid_records']} 件 "
                   f"{r['fee_amount']:,} 円、過誤調整 {r['adjustments']} 件 {r['adjustment_amount']:,} 円、"
                   f"返戻 {r['returns']} 件、支払額合計 {r['total']:,} 円（{r['institutions']} 医療機関）")
    for s in files["not_transferred"]:
        typer.echo(f"振込なし: {s['institution_code']} {s['reason']}（{s['total']:,} 円）")
    typer.echo(f"出力: {out}（{len(files['files'])} ファイル）")


@billing_app.command("close")
def close_cmd(month: str = typer.Option(..., "--month", help="請求月 YYYY-MM")) -> None:
    """請求月を締めます（支払済みとして確定し、以後の再計算を止めます）。解除には承認が必要です。"""
    from sesshu.actor import os_actor
    from sesshu.billing.service import close_month

    db, _ = _db()
    totals = close_month(db, actor=os_actor(), month=month)
    typer.echo(f"{month} を締めました: 支払 {totals['paid_records']} 件、支払額合計 {totals['total']:,} 円")


@billing_app.command("status")
def status_cmd(month: Optional[str] = typer.Option(None, "--month"), as_json: bool = typer.Option(False, "--json")) -> None:
    """請求月ごとの状況（月を指定すると医療機関別の合計）。"""
    from sesshu.actor import os_actor
    from sesshu.billing.service import list_months, month_overview

    db, _ = _db()
    if month:
        o = month_overview(db, actor=os_actor(), month=month)
        rows = [{"code": t.code, "name": t.name, "fee_count": t.fee_count, "fee_amount": t.fee_amount,
                 "adjustment_amount": t.adjustment_amount, "returns": t.returns, "total": t.total,
                 "has_account": t.has_account} for t in o.institutions]
        if as_json:
            typer.echo(json.dumps({"month": o.month, "status": o.status, "run_no": o.run_no, "totals": o.totals,
                                   "institutions": rows}, ensure_ascii=False, indent=2, default=str))
            return
        typer.echo(f"{o.month} {o.status} 第{o.run_no}回 {o.totals}")
        for r in rows:
            typer.echo(f"{r['code']}\t{r['name']}\t{r['fee_count']}件\t{r['total']:,}円\t返戻{r['returns']}件")
        return
    rows = list_months(db, actor=os_actor())
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    for r in rows:
        typer.echo(f"{r['month']}\t{r['status']}\t第{r['run_no']}回\t支払 {r['paid_records']} 件\t{r['total']:,} 円\t"
                   f"返戻 {r['returns']} 件")


@billing_app.command("reconcile")
def reconcile_cmd(month: str = typer.Option(..., "--month"), all_rows: bool = typer.Option(False, "--all"),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """医療機関の請求書と市の計算の差異（医療機関・接種種別ごとの件数・金額）。"""
    from sesshu.actor import os_actor
    from sesshu.billing.claims import reconcile

    db, _ = _db()
    rows = reconcile(db, actor=os_actor(), month=month, only_differences=not all_rows)
    data = [{"institution_code": d.institution_code, "vaccine_code": d.vaccine_code, "claimed_count": d.claimed_count,
             "claimed_amount": d.claimed_amount, "paid_count": d.paid_count, "paid_amount": d.paid_amount,
             "count_difference": d.count_difference, "amount_difference": d.amount_difference,
             "returned": d.returned} for d in rows]
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    typer.echo(f"差異 {len(rows)} 件")
    for d in rows:
        claimed = "請求なし" if d.claimed_count is None else f"請求 {d.claimed_count}件 {d.claimed_amount:,}円"
        typer.echo(f"{d.institution_code}\t{d.vaccine_code}\t{claimed}\t市の計算 {d.paid_count}件 {d.paid_amount:,}円\t"
                   f"差 {d.count_difference:+}件 {d.amount_difference:+,}円\t返戻 {d.returned}件")


def _import(kind: str, file: Path, rejects: Optional[Path], as_json: bool) -> None:
    from sesshu.actor import os_actor
    from sesshu.billing import imports

    db, _ = _db()
    fn = {"accounts": imports.import_bank_accounts, "tax": imports.import_tax_status, "claims": imports.import_claims}[kind]
    _summary(fn(db, actor=os_actor(), path=file, rejects_path=rejects), as_json)


REJECTS_HELP = "不備のある行の出力先（行番号と理由）"


@accounts_app.command("import")
def accounts_import(file: Path, rejects: Optional[Path] = typer.Option(None, help=REJECTS_HELP),
                    as_json: bool = typer.Option(False, "--json")) -> None:
    """振込先口座のCSV（医療機関コード, 銀行コード, 銀行名, 支店コード, 支店名, 預金種目, 口座番号, 口座名義カナ）。"""
    _import("accounts", file, rejects, as_json)


@tax_app.command("import")
def tax_import(file: Path, rejects: Optional[Path] = typer.Option(None, help=REJECTS_HELP),
               as_json: bool = typer.Option(False, "--json")) -> None:
    """地方税関係情報のCSV（年度, 宛名番号, 世帯番号, 課税区分, 生活保護）。"""
    _import("tax", file, rejects, as_json)


@claims_app.command("import")
def claims_import(file: Path, rejects: Optional[Path] = typer.Option(None, help=REJECTS_HELP),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """医療機関の請求書のCSV（請求月, 医療機関コード, 接種種別, 件数, 金額）。"""
    _import("claims", file, rejects, as_json)


@subsidy_app.command("decide")
def subsidy_decide(atena_no: str, fiscal_year: int = typer.Option(..., "--fiscal-year", help="年度（西暦）"),
                   as_json: bool = typer.Option(False, "--json")) -> None:
    """費用助成の申請を地方税関係情報と突合して判定し、記録します（手動の判定はWeb画面で承認を得て行います）。"""
    from sesshu.actor import os_actor
    from sesshu.billing.subsidy import decide_by_matching

    db, _ = _db()
    d = decide_by_matching(db, actor=os_actor(), atena_no=atena_no, fiscal_year=fiscal_year)
    if as_json:
        typer.echo(json.dumps({"id": d.id, "atena_no": d.atena_no, "fiscal_year": d.fiscal_year, "outcome": d.outcome,
                               "reason": d.reason, "basis": d.basis}, ensure_ascii=False, indent=2))
        return
    typer.echo(f"{d.atena_no} {d.fiscal_year}年度: {d.outcome_label}（{d.reason}）")


@kokuho_app.command("import")
def kokuho_import(file: Path, as_json: bool = typer.Option(False, "--json")) -> None:
    """国保連の請求明細（1接種1行）を台帳と突合して取り込みます（支払／返戻と理由）。読めない行があれば何も取り込みません。"""
    from sesshu.actor import os_actor
    from sesshu.billing.kokuho import import_kokuho_claims

    db, _ = _db()
    out = import_kokuho_claims(db, actor=os_actor(), path=file)
    if as_json:
        typer.echo(json.dumps({"month": out.month, "read": out.read, "paid": out.paid, "amount": out.paid_amount,
                               "returned": out.returned, "refused": out.refused,
                               "problems": [{"line": n, "reason": r} for n, r in out.problems]}, ensure_ascii=False))
    elif out.refused:
        for n, reason in out.problems:
            typer.echo(f"{n}行目: {reason}" if n else reason)
        typer.echo("読めない行があるため、何も取り込んでいません。修正して再送してください。")
    else:
        typer.echo(f"{out.month} 国保連請求: {out.read}件 支払 {out.paid}件 {out.paid_amount:,}円 返戻 {out.returned}件")
    if out.refused:
        raise typer.Exit(1)


@kokuho_app.command("list")
def kokuho_list(month: str = typer.Option(..., "--month"), as_json: bool = typer.Option(False, "--json")) -> None:
    """国保連経由の請求の突合結果（行ごとの支払／返戻と理由）。"""
    from sesshu.actor import os_actor
    from sesshu.billing.kokuho import OUTCOMES, reconcile_kokuho

    db, _ = _db()
    rows = reconcile_kokuho(db, actor=os_actor(), month=month)
    if as_json:
        typer.echo(json.dumps([{"line": r.line_no, "institution_code": r.institution_code, "atena_no": r.atena_no,
                                "vaccine": r.vaccine_code, "category": r.category,
                                "vaccinated_on": r.vaccinated_on.isoformat(), "claimed": r.claimed_amount,
                                "computed": r.computed_amount, "outcome": r.outcome, "codes": r.codes,
                                "reasons": r.reasons.split("\n") if r.reasons else []} for r in rows],
                              ensure_ascii=False, indent=2))
        return
    for r in rows:
        typer.echo(f"{r.line_no}行目 {r.institution_code} {r.atena_no or '（該当なし）'} {r.vaccine_code} "
                   f"{r.vaccinated_on} {r.claimed_amount:,}円 {OUTCOMES[r.outcome]}"
                   + (f" — {r.reasons.replace(chr(10), '／')}" if r.reasons else ""))
