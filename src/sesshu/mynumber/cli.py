"""Commands of the My Number layer: `sesshu keys …` (rotation) and `sesshu mynumber verify`."""
from __future__ import annotations

import typer

from sesshu.actor import os_actor
from sesshu.config import load_settings
from sesshu.db import make_database

keys_app = typer.Typer(help="暗号鍵（個人番号・TOTP秘密鍵の暗号化）", no_args_is_help=True)
mynumber_app = typer.Typer(help="個人番号", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(mynumber_app, name="mynumber")


@keys_app.command("status")
def keys_status() -> None:
    """暗号化された項目ごとに、どの鍵（鍵番号）で暗号化された行が何件あるかを表示します。"""
    from sesshu.keys import load_keyring
    from sesshu.mynumber.rotation import key_status

    settings = load_settings()
    db = make_database(settings)
    current = load_keyring(settings).current_id
    typer.echo(f"現在の暗号鍵: 鍵番号 {current}")
    for label, counts in key_status(db).items():
        parts = "、".join(f"鍵{k}: {n}件" for k, n in counts.items()) or "0件"
        old = sum(n for k, n in counts.items() if k != current)
        typer.echo(f"  {label}: {parts}" + (f"（古い鍵のまま {old}件）" if old else ""))


@keys_app.command("rotate")
def keys_rotate(batch: int = typer.Option(200, help="1回のトランザクションで再暗号化する行数")) -> None:
    """新しい暗号鍵を作り、全ての暗号化項目を少しずつ再暗号化します（稼働中に実行でき、中断しても再実行で続きから）。"""
    from sesshu.mynumber.rotation import rotate

    settings = load_settings()
    db = make_database(settings)
    report = rotate(db, settings, actor=os_actor(), batch=batch,
                    progress=lambda label, n: typer.echo(f"  {label}: {n}件 再暗号化", err=True))
    head = "新しい暗号鍵を作成しました" if report.created else "前回の鍵の更新が途中だったため、続きから再暗号化しました"
    typer.echo(f"{head}（鍵番号 {report.key_id}）")
    for label, n in report.reencrypted.items():
        typer.echo(f"  {label}: {n}件 再暗号化、古い鍵のまま {report.remaining.get(label, 0)}件")
    if not report.done:
        typer.echo("古い鍵のままの行が残っています。もう一度 `sesshu keys rotate` を実行してください。", err=True)
        raise typer.Exit(1)


@mynumber_app.command("verify")
def mynumber_verify(
    atena_no: str,
    document: str = typer.Option(..., help="mynumber_card（個人番号カード） / notification_card（通知カード） / "
                                           "resident_record（個人番号付き住民票の写し）"),
    identity_document: str = typer.Option("", "--identity-document", help="身元確認書類の名称（カード以外のとき必須）"),
    name: str = typer.Option("", help="書類に記載の氏名"),
    name_confirmed: bool = typer.Option(False, "--name-confirmed", help="氏名が登録内容と一致することを確認した"),
    birth_date: str = typer.Option("", "--birth-date", help="書類に記載の生年月日（西暦・和暦）"),
    birth_date_confirmed: bool = typer.Option(False, "--birth-date-confirmed"),
    sex: str = typer.Option("", help="書類に記載の性別（男・女）"),
    sex_confirmed: bool = typer.Option(False, "--sex-confirmed"),
    address: str = typer.Option("", help="書類に記載の住所"),
    address_confirmed: bool = typer.Option(False, "--address-confirmed"),
) -> None:
    """個人番号確認: 提示された個人番号と4情報を登録内容と照合し、結果を記録します。

    番号はコマンドライン（履歴・プロセス一覧に残る）ではなく、入力を求めて受け取ります。
    """
    from sesshu.mynumber.service import Presented, verify_my_number

    number = typer.prompt("提示された個人番号", hide_input=True)
    settings = load_settings()
    db = make_database(settings)
    out = verify_my_number(db, settings, actor=os_actor(), atena_no=atena_no, presented=Presented(
        number=number, document=document, identity_document=identity_document, name=name,
        name_confirmed=name_confirmed, birth_date=birth_date, birth_date_confirmed=birth_date_confirmed,
        sex=sex, sex_confirmed=sex_confirmed, address=address, address_confirmed=address_confirmed))
    detail = f"（不一致: {'・'.join(out.mismatched)}）" if out.mismatched else ""
    typer.echo(f"確認結果: {out.result_label}{detail}  記録番号 {out.id}")
    if out.result != "match":
        raise typer.Exit(1)
