"""Export control: permission, purpose, row count and file hash on record, AES-256 ZIP, nothing plain on disk."""
from __future__ import annotations

import builtins
import csv
import hashlib
import io
import json
import os
from datetime import date

import pytest
import pyzipper
from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.domain.errors import Forbidden, InvalidInput
from sesshu.exports import service as exports
from sesshu.ledger.service import import_records
from sesshu.ledger.targets import export_targets
from sesshu.registry.service import import_registry
from sesshu.search.service import SearchCriteria, export_persons
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, my_number, write
from tests.integration.test_cli import run

PASSWORD = "correct-horse-42"
NUMBER = my_number("11112222333")


@pytest.fixture
def city(db, settings, operator, tmp_path):
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          f"2001,{NUMBER},山田　一郎,ヤマダ　イチロウ,男,2024-03-01,,熊谷市本町1-1,,,,,住民,,\n"
          "2002,,山田　二郎,ヤマダ　ジロウ,男,2012-04-01,,熊谷市本町1-2,,,,,住民,,\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=operator)
    write(tmp_path / "rec.csv", RECORD_HEADER + "\n")
    import_records(db, settings, path=tmp_path / "rec.csv", actor=operator)
    return db


def _open(content: bytes, password: str | None) -> str:
    with pyzipper.AESZipFile(io.BytesIO(content)) as z:
        [name] = z.namelist()
        if password is not None:
            z.setpassword(password.encode())
        return z.read(name).decode("utf-8-sig")


def _entry(db, action: str) -> AuditEntry:
    with db.transaction() as s:
        return s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalar_one()


def test_search_export_is_an_aes_zip_that_opens_only_with_the_password(city, operator):
    out = export_persons(city, actor=operator, criteria=SearchCriteria(kana="ヤマダ"), purpose="勧奨通知の発送",
                         password=PASSWORD, password_confirmation=PASSWORD)
    assert out.content[:2] == b"PK" and "山田".encode() not in out.content
    rows = list(csv.reader(io.StringIO(_open(out.content, PASSWORD))))
    assert rows[0][:2] == ["宛名番号", "氏名"] and sorted(r[0] for r in rows[1:]) == ["2001", "2002"]
    assert not any(NUMBER in cell for r in rows for cell in r)  # exports never carry the 個人番号
    with pytest.raises(RuntimeError):
        _open(out.content, None)
    with pytest.raises(RuntimeError):
        _open(out.content, "wrong-password-1")
    with pyzipper.AESZipFile(io.BytesIO(out.content)) as z:
        assert z.infolist()[0].flag_bits & 0x1  # encrypted member


def test_export_audit_entry_has_rows_purpose_and_file_hash_but_not_the_password(city, operator):
    out = export_persons(city, actor=operator, criteria=SearchCriteria(kana="ヤマダ"), purpose="勧奨通知の発送",
                         password=PASSWORD)
    entry = _entry(city, "person.export")
    detail = json.loads(entry.detail)
    assert entry.purpose == "勧奨通知の発送" and entry.actor == "os:ops" and entry.seq == out.audit_seq
    assert detail["rows"] == 2 and detail["format"] == "zip-aes256"
    assert detail["sha256"] == hashlib.sha256(out.content).hexdigest() == out.sha256
    with city.transaction() as s:
        assert all(PASSWORD not in (e.detail + e.purpose) for e in s.execute(select(AuditEntry)).scalars())


def test_staff_without_export_permission_cannot_export(city, clerk):
    with pytest.raises(Forbidden):
        export_persons(city, actor=clerk, criteria=SearchCriteria(kana="ヤマダ"), purpose="確認", password=PASSWORD)
    with pytest.raises(Forbidden):
        export_targets(city, actor=clerk, vaccine="MR", as_of=date(2025, 6, 1), purpose="確認", password=PASSWORD)
    with city.transaction() as s:
        assert s.execute(select(AuditEntry).where(AuditEntry.action.like("%.export"))).first() is None


@pytest.mark.parametrize("password,confirmation,message", [
    ("", None, "パスワードを入力"),
    ("short-pass1", None, "12文字以上"),
    ("パスワードパスワードパスワード", None, "半角"),
    (PASSWORD, "correct-horse-43", "一致しません"),
])
def test_password_rules(city, operator, password, confirmation, message):
    with pytest.raises(InvalidInput) as e:
        export_persons(city, actor=operator, criteria=SearchCriteria(kana="ヤマダ"), purpose="確認", password=password,
                       password_confirmation=confirmation)
    assert message in e.value.message


def test_purpose_is_required(city, operator):
    with pytest.raises(InvalidInput) as e:
        export_targets(city, actor=operator, vaccine="MR", as_of=date(2025, 6, 1), purpose="　", password=PASSWORD)
    assert "出力の目的" in e.value.message


def test_no_plaintext_file_is_written_during_an_export(city, operator, monkeypatch):
    written = []
    real_open, real_os_open = builtins.open, os.open

    def watch_open(file, mode="r", *a, **k):
        if any(c in mode for c in "wax+"):
            written.append(str(file))
        return real_open(file, mode, *a, **k)

    def watch_os_open(path, flags, *a, **k):
        if flags & (os.O_WRONLY | os.O_RDWR):
            written.append(str(path))
        return real_os_open(path, flags, *a, **k)

    monkeypatch.setattr(builtins, "open", watch_open)
    monkeypatch.setattr(os, "open", watch_os_open)
    out = export_targets(city, actor=operator, vaccine="MR", as_of=date(2025, 6, 1), purpose="MR1期 勧奨通知",
                         password=PASSWORD)
    assert written == [] and out.rows == 1
    assert "2001" in _open(out.content, PASSWORD)


def test_targets_export_is_logged(city, operator):
    out = export_targets(city, actor=operator, vaccine="MR", as_of=date(2025, 6, 1), purpose="MR1期 勧奨通知",
                         password=PASSWORD)
    detail = json.loads(_entry(city, "targets.export").detail)
    assert detail["rows"] == 1 and detail["vaccine"] == "MR" and detail["sha256"] == out.sha256
    assert out.filename == "targets_MR_20250601.zip"


def test_log_print_records_what_why_and_the_hash(city, clerk):
    digest = hashlib.sha256(b"%PDF-1.7").hexdigest()
    with city.transaction() as s:
        seq = exports.log_print(s, clerk, document="予診票", purpose="予診票の再発行", rows=1, sha256=digest,
                                atena_no="2001")
    entry = _entry(city, "print")
    assert entry.seq == seq and entry.atena_no == "2001" and entry.purpose == "予診票の再発行"
    assert json.loads(entry.detail) == {"document": "予診票", "rows": 1, "sha256": digest}


def test_cli_targets_csv_writes_only_an_encrypted_zip(city, settings, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    target = out_dir / "mr.zip"
    r = run(settings, "targets", "--vaccine", "MR", "--as-of", "2025-06-01", "--format", "csv", "--output",
            str(target), "--password-file", str(pw), "--purpose", "MR1期 勧奨通知")
    assert r.returncode == 0, r.stderr
    assert "1 件をパスワード付きZIPに出力しました" in r.stdout and PASSWORD not in r.stdout + r.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["mr.zip"]
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert _open(target.read_bytes(), PASSWORD).splitlines()[1].startswith("2001,山田　一郎")
    entry = _entry(city, "targets.export")
    assert entry.actor.startswith("os:") and entry.purpose == "MR1期 勧奨通知"
    assert json.loads(entry.detail)["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()


def test_cli_csv_without_an_output_zip_is_refused(city, settings, tmp_path):
    r = run(settings, "targets", "--vaccine", "MR", "--format", "csv")
    assert r.returncode == 2 and "--output" in r.stderr and "宛名番号" not in r.stdout
    r = run(settings, "search", "--kana", "ヤマダ", "--format", "csv", "--output", str(tmp_path / "x.csv"))
    assert r.returncode == 2 and ".zip" in r.stderr and not (tmp_path / "x.csv").exists()


def test_cli_prompts_for_the_password_twice(city, settings, tmp_path):
    target = tmp_path / "persons.zip"
    r = run(settings, "search", "--kana", "ヤマダ", "--format", "csv", "--output", str(target), "--purpose", "名簿作成",
            input_text=f"{PASSWORD}\n{PASSWORD}\n")
    assert r.returncode == 0, r.stderr
    assert "2 件" in r.stdout and "山田　二郎" in _open(target.read_bytes(), PASSWORD)
