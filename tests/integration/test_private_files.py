"""Files with personal data written on the server are the server account's alone (0600), whatever the
umask: the SQLite database, notice PDFs and mailing list, billing files, rejects files. The registry
import's rejects file shows neither the full 個人番号 nor the 4情報; every CSV cell is spreadsheet-safe."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sesshu.exports.service import write_private
from sesshu.imports.csvfile import RejectWriter
from sesshu.registry.service import import_registry
from tests.helpers import REGISTRY_HEADER, my_number, write


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def loose_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_write_private_is_0600_even_over_a_looser_file(tmp_path, loose_umask):
    target = tmp_path / "returns.csv"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    write_private(target, b"new")
    assert _mode(target) == 0o600 and target.read_bytes() == b"new"


def test_the_embedded_sqlite_database_is_0600_even_when_it_was_looser(tmp_path, loose_umask):
    """The embedded database (a server database has its own access control, so this is SQLite only)."""
    from sesshu.config import load_settings
    from sesshu.db import make_database
    from sesshu.migrate import upgrade

    settings = load_settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'sesshu.db'}")
    upgrade(settings)
    path = tmp_path / "sesshu.db"
    os.chmod(path, 0o644)  # as a copy made by hand, or a file from before this rule, would be
    db = make_database(settings)
    with db.transaction() as s:
        s.connection()
    db.dispose()
    files = [p for p in tmp_path.glob("sesshu.db*") if p.is_file()]
    assert files and {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_registry_rejects_hide_the_number_and_the_four_items_and_are_0600(db, settings, operator, tmp_path,
                                                                        loose_umask):
    number = my_number("98765432101")
    body = (REGISTRY_HEADER + "\n"
            f"7001,{number},=HYPERLINK(\"x\"),テスト タロウ,男,2020-13-40,360-0001,熊谷市宮町1-1,048-000-0000,"
            "7001,世帯主,テスト 太郎,住民,,\n")
    rejects = tmp_path / "rejects.csv"
    summary = import_registry(db, settings, path=write(tmp_path / "reg.csv", body), actor=operator,
                              rejects_path=rejects)
    assert summary.rejected == 1
    text = rejects.read_text(encoding="utf-8-sig")
    assert number not in text and "*" * 8 + number[-4:] in text
    assert "熊谷市宮町1-1" not in text and "テスト タロウ" not in text and "HYPERLINK" not in text
    assert "7001" in text and "生年月日" in text  # the row can still be found, and why it was refused
    assert _mode(rejects) == 0o600


def test_rejects_cells_are_spreadsheet_safe(tmp_path):
    w = RejectWriter(tmp_path / "r.csv")
    w.header = ["宛名番号", "備考"]
    w.write(2, "エラー", "理由", ["1001", "=cmd|' /C calc'!A0"])
    w.close()
    assert "'=cmd" in (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
