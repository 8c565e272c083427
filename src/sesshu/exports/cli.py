"""Command-line side of exports: the ZIP password (file or prompt, never an argument) and the output file."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sesshu.domain.errors import InvalidInput

if TYPE_CHECKING:  # the service (and pyzipper) load only when a command exports
    from sesshu.exports.service import ExportedFile

OUTPUT_HELP = "出力先（.zip）。個人情報を含むため、パスワード付きZIPでのみ出力します"
PASSWORD_FILE_HELP = "ZIPのパスワードを1行目に書いたファイル（省略時は入力を求めます）"


def check_output(output: Path | None) -> Path:
    """Refuse before any data is read: no path, not a .zip, or a file that is already there."""
    if output is None:
        raise InvalidInput("CSVは個人情報を含むため画面には出力しません。--output で出力先（.zip）を指定してください")
    if output.suffix.lower() != ".zip":
        raise InvalidInput("出力先はパスワード付きZIP（拡張子 .zip）で指定してください")
    if output.exists():
        raise InvalidInput(f"出力先のファイルが既にあります（上書きはしません）: {output}")
    if not output.parent.is_dir():
        raise InvalidInput(f"出力先のフォルダがありません: {output.parent}")
    return output


def read_password(password_file: Path | None) -> str:
    """A command-line argument would show in `ps` and the shell history, so only a file or a prompt."""
    from sesshu.exports.service import check_password

    if password_file is not None:
        lines = password_file.read_text(encoding="utf-8").splitlines()
        password = lines[0] if lines else ""
        return check_password(password)
    password = typer.prompt("ZIPのパスワード（半角12文字以上）", hide_input=True, confirmation_prompt=True)
    return check_password(password)


def write_output(output: Path, exported: "ExportedFile") -> None:
    """Only the encrypted ZIP is written, readable by the operator alone."""
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(exported.content)
    typer.echo(f"{exported.rows} 件をパスワード付きZIPに出力しました: {output}（SHA-256 {exported.sha256}）")
