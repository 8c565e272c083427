"""Command line: `sesshu fhir export|import` and `sesshu shc issue|verify|rotate-key|keys`."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer

from sesshu.actor import os_actor
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.domain.errors import InvalidInput
from sesshu.exports import cli as exports_cli

fhir_app = typer.Typer(help="FHIR R4（JP Core）形式の入出力", no_args_is_help=True)
shc_app = typer.Typer(help="SMART Health Card（電子署名付きの接種証明書）", no_args_is_help=True)


def _db():
    settings = load_settings()
    return make_database(settings), settings


def _write_new(path: Path, content: bytes) -> None:
    if path.exists():
        raise InvalidInput(f"出力先のファイルが既にあります（上書きはしません）: {path}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)


@fhir_app.command("export")
def fhir_export(atena_no: str,
                out: Optional[Path] = typer.Option(None, "--out", help=exports_cli.OUTPUT_HELP + "（省略時は画面に表示）"),
                password_file: Optional[Path] = typer.Option(None, "--password-file",
                                                             help=exports_cli.PASSWORD_FILE_HELP),
                purpose: str = typer.Option("FHIR形式での接種記録の提供", help="利用目的（記録されます）")) -> None:
    """個人の接種記録を FHIR R4 の Bundle（Patient + Immunization）で出力します。"""
    from sesshu.fhir.service import export_person, export_person_file

    if out is None:
        db, settings = _db()
        exported = export_person(db, settings, actor=os_actor(), atena_no=atena_no, purpose=purpose, channel="cli")
        typer.echo(exported.content.decode("utf-8"))
        return
    out = exports_cli.check_output(out)
    password = exports_cli.read_password(password_file)
    db, settings = _db()
    exported = export_person_file(db, settings, actor=os_actor(), atena_no=atena_no, purpose=purpose,
                                  password=password)
    _write_new(out, exported.content)
    typer.echo(f"Immunization {exported.immunizations} 件をパスワード付きZIPに出力しました: {out}"
               f"（SHA-256 {exported.sha256}）")


@fhir_app.command("import")
def fhir_import(file: Path,
                password_file: Optional[Path] = typer.Option(None, "--password-file",
                                                             help="ZIPの場合: パスワードを1行目に書いたファイル（省略時は入力を求めます）"),
                as_json: bool = typer.Option(False, "--json"),
                evaluate: bool = typer.Option(True, "--evaluate/--no-evaluate",
                                              help="取込後にスケジュール判定（エラーコード）を行う")) -> None:
    """FHIR の Bundle（JSON、または fhir export のZIP）を予診票の取込と同じ検査で取り込みます。"""
    from sesshu.fhir.service import import_bundle
    from sesshu.ledger.service import evaluate_pending

    password = None
    if file.exists() and file.read_bytes()[:4] == b"PK\x03\x04":
        if password_file is not None:
            lines = password_file.read_text(encoding="utf-8").splitlines()
            password = lines[0] if lines else ""
        else:
            password = typer.prompt("ZIPのパスワード", hide_input=True)
    db, settings = _db()
    actor = os_actor()
    result = import_bundle(db, settings, path=file, actor=actor, password=password)
    extra = {}
    if evaluate:
        ev = evaluate_pending(db, actor=actor)
        extra = {"evaluated_persons": ev.persons, "error_codes_changed": ev.records_changed}
    if as_json:
        typer.echo(json.dumps(result.as_dict() | extra, ensure_ascii=False, indent=2))
        return
    s = result.summary
    created = "（新規登録）" if result.person_created else ""
    typer.echo(f"{s.file}: 宛名番号 {result.atena_no}{created} Immunization 読込 {s.read} 件、登録 {s.accepted} 件、"
               f"エラー {s.rejected} 件、重複 {s.duplicates} 件")
    for kind, n in result.masters_added.items():
        typer.echo(f"  マスタ追加: {kind} {n} 件")
    for r in result.rejects:
        typer.echo(f"  {r['entry']}\t{r['kind']}\t{r['reason']}")


def _vaccines(values: list[str]) -> tuple[str, ...]:
    return tuple(v.strip().upper() for v in values if v.strip())


@shc_app.command("issue")
def shc_issue(atena_no: str,
              out: Optional[Path] = typer.Option(None, "--out", help="カードの出力先（.smart-health-card）"),
              pdf: Optional[Path] = typer.Option(None, "--pdf", help="QRと接種記録を載せた証明書PDFの出力先"),
              vaccine: list[str] = typer.Option([], "--vaccine", help="載せる接種種別（複数指定可、省略時はすべて）"),
              purpose: str = typer.Option("接種証明書の発行（本人の請求）", help="利用目的（記録されます）")) -> None:
    """SMART Health Card を発行します（--out でカードファイル、--pdf で証明書PDF、どちらもなければQR文字列を表示）。

    1つのQRに収まらないときは接種種別ごとのカードに分けます。"""
    from sesshu.fhir.shc import FILE_MEDIA_TYPE, card_file, issue_card_pdf, issue_cards, issuer_warning

    db, settings = _db()
    actor = os_actor()
    if issuer_warning(settings):
        typer.echo(f"注意: {issuer_warning(settings)}", err=True)
    if pdf is not None:
        if pdf.exists():
            raise InvalidInput(f"出力先のファイルが既にあります（上書きはしません）: {pdf}")
        cards, printed = issue_card_pdf(db, settings, actor=actor, atena_no=atena_no, purpose=purpose,
                                        vaccines=_vaccines(vaccine))
        _write_new(pdf, printed.content)
        typer.echo(f"証明書PDFを出力しました: {pdf}（カード {len(cards)} 枚、{printed.pages} ページ、"
                   f"SHA-256 {printed.sha256}）")
    if out is not None or pdf is None:
        cards = issue_cards(db, settings, actor=actor, atena_no=atena_no, purpose=purpose,
                            channel="file" if out else "cli", vaccines=_vaccines(vaccine))
        if out is not None:
            _write_new(out, card_file(cards))
            typer.echo(f"カードを出力しました: {out}（{FILE_MEDIA_TYPE}、カード {len(cards)} 枚、"
                       f"接種 {sum(len(c.doses) for c in cards)} 件、鍵ID {cards[0].kid}）")
        else:
            for c in cards:
                typer.echo(c.qr_text)


@shc_app.command("verify")
def shc_verify(source: str = typer.Argument(..., help="カードファイル、QRの文字列（shc:/…）、またはJWS"),
               jwks: Optional[Path] = typer.Option(None, "--jwks", help="他の発行者の公開鍵（jwks.json）。省略時は当市の鍵"),
               issuer: list[str] = typer.Option([], "--issuer", help="受け入れる発行者（iss）。--jwks には必須"),
               crl: list[Path] = typer.Option([], "--crl", help="発行者の失効リスト（/.well-known/crl/<kid>.json）。"
                                                          "公開鍵に crlVersion があるときは必須"),
               as_json: bool = typer.Option(False, "--json")) -> None:
    """SMART Health Card の署名・発行者・内容を検証します（不正なら終了コード1）。"""
    from sesshu.domain.shc import CardError
    from sesshu.fhir.shc import describe, verify_input

    settings = load_settings()
    keys = json.loads(jwks.read_text(encoding="utf-8")) if jwks else None
    lists = [json.loads(p.read_text(encoding="utf-8")) for p in crl]
    try:
        cards = verify_input(settings, source, jwks=keys, issuers=tuple(issuer) or None,
                             crls={c.get("kid"): c for c in lists if isinstance(c, dict)})
    except CardError as e:
        typer.echo(f"検証できません: {e}", err=True)
        raise typer.Exit(1)
    infos = [describe(c) for c in cards]
    if as_json:
        typer.echo(json.dumps(infos[0] if len(infos) == 1 else infos, ensure_ascii=False, indent=2))
        return
    for info in infos:
        typer.echo(f"署名は有効です。発行者 {info['issuer']}（鍵ID {info['kid']}）、発行 {info['issued_at']}")
        typer.echo(f"  {info['name']}  生年月日 {info['birth_date']}")
        for imm in info["immunizations"]:
            typer.echo(f"  {imm['date']}  {', '.join(imm['codes'])}  {imm['lot'] or ''}  {imm['performer'] or ''}")


@shc_app.command("rotate-key")
def shc_rotate_key() -> None:
    """署名鍵を新しくします。古い秘密鍵は破棄し、公開鍵は jwks.json に残します（発行済みのカードは検証できます）。"""
    from sesshu.fhir.shc import rotate_key

    db, settings = _db()
    kid, retired = rotate_key(db, settings, actor=os_actor())
    typer.echo(f"新しい署名鍵: {kid}" + (f"（破棄した秘密鍵: {', '.join(retired)}）" if retired else ""))


@shc_app.command("keys")
def shc_keys_cmd() -> None:
    """公開している鍵の一覧（署名中の鍵と、検証用に残している鍵）。"""
    from sesshu.fhir.shc_keys import list_keys

    for k in list_keys(load_settings()):
        typer.echo(f"{k.kid}\t{k.created}\t{'署名中' if k.signing else '検証用（秘密鍵は破棄済み）'}")


def register(app: typer.Typer) -> None:
    app.add_typer(fhir_app, name="fhir")
    app.add_typer(shc_app, name="shc")
