"""Export control (seed III: 媒体への出力は特定の職員のみ、記録を残し、暗号化する).

Every file sesshu writes out of the database goes through here:
- only staff whose role grants `person.export` may export personal data; CLI commands run on the
  server by an OS operator and are recorded under the OS account;
- every export and print is an audit entry with its purpose (required), row count and the SHA-256
  of the delivered file, so a file found later can be matched to who made it and why;
- a file containing personal data is an AES-256 encrypted ZIP (WinZip AES, opens in 7-Zip and
  Explorer-compatible tools) with a password the user types at export time. The password is used
  once, in memory: it is never stored and never logged. The ZIP is built in memory, so no plain
  CSV ever touches the disk.

A plain (unencrypted) CSV is allowed only for an export without personal data: aggregate counts
with no 宛名番号, 氏名, 住所, 生年月日 or 個人番号 — none of today's exports is of that kind, so every
export today is an encrypted ZIP.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pyzipper
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.auth.permissions import has_permission
from sesshu.domain.errors import Forbidden, InvalidInput
from sesshu.domain.text import clean

EXPORT_PERMISSION = "person.export"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
MAX_PURPOSE_LENGTH = 100
ZIP_FORMAT = "zip-aes256"


@dataclass(frozen=True)
class ExportedFile:
    filename: str  # what the user saves (the .zip)
    content: bytes
    sha256: str
    rows: int
    audit_seq: int

    media_type = "application/zip"


def require_export_permission(actor: Actor) -> None:
    """Staff need `person.export`; an OS operator on the server may export and is logged as such."""
    if actor.kind == "user" and not has_permission(actor.role, EXPORT_PERMISSION):
        raise Forbidden("個人情報をファイルに出力する権限がありません")


def check_purpose(purpose: str) -> str:
    text = clean(purpose)
    if not text:
        raise InvalidInput("出力の目的を入力してください")
    if len(text) > MAX_PURPOSE_LENGTH:
        raise InvalidInput(f"出力の目的は{MAX_PURPOSE_LENGTH}文字以内で入力してください")
    return text


def check_password(password: str, confirmation: str | None = None) -> str:
    """The ZIP password rules; `confirmation` is the second field of a form (None: already confirmed)."""
    if not password:
        raise InvalidInput("ファイルのパスワードを入力してください")
    if not password.isascii() or not password.isprintable():
        raise InvalidInput("パスワードは半角の英数字・記号で入力してください（全角文字・空白以外の制御文字は使えません）")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"パスワードは{MIN_PASSWORD_LENGTH}文字以上にしてください")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"パスワードは{MAX_PASSWORD_LENGTH}文字以内にしてください")
    if confirmation is not None and confirmation != password:
        raise InvalidInput("パスワードと確認用のパスワードが一致しません")
    return password


def prepare(actor: Actor, *, purpose: str, password: str, confirmation: str | None = None) -> str:
    """Everything that can refuse an export, checked before any personal data is read. Returns the purpose."""
    require_export_permission(actor)
    purpose = check_purpose(purpose)
    check_password(password, confirmation)
    return purpose


# A cell starting with one of these is a formula to Excel (CSV injection): a name or address from the
# registry such as "=HYPERLINK(...)" would run when the clerk opens the file.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A text cell that Excel shows as text: a leading formula character gets an apostrophe before it."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class CsvWriter:
    """csv.writer for every CSV sesshu writes (CRLF lines), every cell passed through spreadsheet_safe."""

    def __init__(self, buf):
        self._writer = csv.writer(buf, lineterminator="\r\n")

    def writerow(self, row) -> None:
        self._writer.writerow([spreadsheet_safe(v) for v in row])


def private_dir(path: Path) -> Path:
    """A folder for files with personal data: made for the server's account alone (0700)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def open_private(path: Path, mode: str = "wb", **kwargs):
    """Open a file with personal data for writing, readable by the server's account alone (0600),
    whatever the umask — also when it replaces an older file of looser mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode, **kwargs)


def write_private(path: Path, content: bytes) -> Path:
    """Write a file with personal data on the server: 0600, atomically (a kill leaves the old or the new)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with open_private(tmp) as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def encrypted_zip(member: str, data: bytes, password: str) -> bytes:
    """One file inside an AES-256 ZIP, built in memory."""
    buf = io.BytesIO()
    with pyzipper.AESZipFile(buf, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as z:
        z.setpassword(password.encode("ascii"))
        z.setencryption(pyzipper.WZ_AES, nbits=256)
        z.writestr(member, data)
    return buf.getvalue()


def export_csv(session: Session, actor: Actor, *, action: str, csv_text: str, rows: int, purpose: str,
               password: str, stem: str, detail: dict | None = None) -> ExportedFile:
    """Encrypt a CSV of personal data and log the export, in the caller's transaction.

    The CSV is UTF-8 with a BOM: Excel in Japanese offices opens UTF-8 correctly only with one.
    """
    require_export_permission(actor)
    purpose = check_purpose(purpose)
    check_password(password)
    content = encrypted_zip(f"{stem}.csv", csv_text.encode("utf-8-sig"), password)
    filename = f"{stem}.zip"
    digest = hashlib.sha256(content).hexdigest()
    seq = audit.record(session, actor, action, purpose=purpose,
                       detail={**(detail or {}), "rows": rows, "format": ZIP_FORMAT, "file": filename,
                               "sha256": digest})
    return ExportedFile(filename=filename, content=content, sha256=digest, rows=rows, audit_seq=seq)


def log_print(session: Session, actor: Actor, *, document: str, purpose: str, rows: int, sha256: str,
              atena_no: str | None = None, detail: dict | None = None) -> int:
    """Put a print (PDF or paper) on record like an export: what, why, how many, and the file's hash.

    Who may print is the printing route's own permission (a clerk re-issues a 予診票); this only logs.
    """
    return audit.record_many(session, actor, [print_event(document=document, purpose=purpose, rows=rows, sha256=sha256,
                                                         atena_no=atena_no, detail=detail)])[-1]


def print_event(*, document: str, purpose: str, rows: int, sha256: str, atena_no: str | None = None,
                detail: dict | None = None) -> audit.AuditEvent:
    """The audit entry of log_print, for a run that logs many prints at once (audit.record_many)."""
    purpose = check_purpose(purpose)
    if len(sha256) != 64:
        raise ValueError("sha256 must be a hex digest")
    return audit.AuditEvent("print", atena_no=atena_no, purpose=purpose,
                            detail={**(detail or {}), "document": document, "rows": rows, "sha256": sha256})


def log_export(session: Session, actor: Actor, *, document: str, purpose: str, rows: int, sha256: str,
               file: str, detail: dict | None = None) -> int:
    """Put a file written on the server on record, for the few outputs an issue names as plain files
    (the 委託料 run's returns.csv for the clinics): who, why, how many rows, the file and its hash.
    The same export permission applies as for the encrypted exports."""
    require_export_permission(actor)
    purpose = check_purpose(purpose)
    if len(sha256) != 64:
        raise ValueError("sha256 must be a hex digest")
    return audit.record(session, actor, "export", purpose=purpose,
                        detail={**(detail or {}), "document": document, "rows": rows, "file": file,
                                "format": "csv", "sha256": sha256})
