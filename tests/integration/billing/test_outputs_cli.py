"""`sesshu billing run --out DIR`: statements, 返戻 list, accounting summary and the 全銀 file, checked as files."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import date

from sqlalchemy import select

from sesshu.audit.models import AuditEntry
from sesshu.payments.zengin import parse_zengin
from tests.integration.billing.city import C1, C2, NOV
from tests.integration.billing.test_monthly_run import prepare_november


def sesshu(settings, *args):
    env = dict(os.environ, SESSHU_DATABASE_URL=settings.resolved_database_url, SESSHU_VAR_DIR=str(settings.var_dir))
    return subprocess.run([sys.executable, "-m", "sesshu", *args], env=env, capture_output=True, text=True, timeout=120)


def _run_november(db, settings, tmp_path):
    prepare_november(db, settings, tmp_path)
    out = tmp_path / "out"
    r = sesshu(settings, "billing", "run", "--month", NOV, "--transfer-date", "2026-12-25", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)


def _pdftext(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_zengin_file_matches_the_fixture_field_by_field_and_parses_back(db, settings, tmp_path):
    out, _ = _run_november(db, settings, tmp_path)
    content = (out / "zengin.txt").read_bytes()
    records = [r.decode("cp932") for r in content.split(b"\r\n")[:-1]]
    assert [len(r.encode("cp932")) for r in records] == [120] * 5
    h, d1, d2, t, e = records
    # Header: the city's paying account (billing/data/fees.yaml, payer).
    assert (h[0], h[1:3], h[3], h[4:14]) == ("1", "21", "0", "1120200001")
    assert h[14:54] == "ｸﾏｶﾞﾔｼ ｶｲｹｲｶﾝﾘｼﾔ".ljust(40)
    assert h[54:58] == "1225"
    assert (h[58:62], h[62:77], h[77:80], h[80:95]) == ("0017", "ｻｲﾀﾏﾘｿﾅ".ljust(15), "574", "ｸﾏｶﾞﾔ".ljust(15))
    assert (h[95], h[96:103], h[103:]) == ("1", "1234567", " " * 17)
    # Data 1: clinic 1 (imported from full-width kana; 医療法人社団 → ｲ)).
    assert (d1[0], d1[1:5], d1[5:20], d1[20:23], d1[23:38]) == ("2", "0009", "ﾐﾂｲｽﾐﾄﾓ".ljust(15), "038",
                                                                 "ｸﾏｶﾞﾔ".ljust(15))
    assert (d1[38:42], d1[42], d1[43:50]) == ("0000", "1", "1234567")
    assert d1[50:80] == "ｲ)ﾔﾏﾀﾞｺﾄﾞﾓｸﾘﾆﾂｸ".ljust(30)
    assert (d1[80:90], d1[90], d1[91:101], d1[101:111]) == ("0000013420", "0", C1, "0000202611")
    assert (d1[111], d1[112], d1[113:]) == ("7", " ", " " * 7)
    # Data 2: clinic 2 (全角 digits in the import, 当座, account number padded to 7 digits).
    assert (d2[1:5], d2[5:20], d2[20:23], d2[42], d2[43:50]) == ("2167", "ｻｲﾀﾏｼﾝｸﾐ".ljust(15), "001", "2", "0076543")
    assert (d2[50:80], d2[80:90], d2[91:101]) == ("ｽｽﾞｷ ﾅｲｶ".ljust(30), "0000008960", C2)
    assert (t[0], t[1:7], t[7:19], t[19:]) == ("8", "000002", "000000022380", " " * 101)
    assert e == "9" + " " * 119
    # And the shared reader gives the transfers back.
    parsed = parse_zengin((out / "zengin.txt").read_bytes(), year=2026)
    assert parsed.header.transfer_date == date(2026, 12, 25)
    assert [(t.customer_code1, t.amount) for t in parsed.transfers] == [(C1, 13420), (C2, 8960)]
    assert (parsed.count, parsed.total) == (2, 22380)


def test_returns_summary_and_statements_hold_the_hand_computed_figures(db, settings, tmp_path):
    out, _ = _run_november(db, settings, tmp_path)
    rows = list(csv.DictReader(io.StringIO((out / "returns.csv").read_text(encoding="utf-8-sig"))))
    assert [(r["宛名番号"], r["エラーコード"]) for r in rows] == [
        ("2006", "R_NO_INSTITUTION"), ("2002", "E_INTERVAL_TOO_SHORT"), ("2008", "R_ALREADY_PAID"),
        ("2005", "W_OUTSIDE_LEGAL_WINDOW")]  # by clinic, then 接種年月日
    assert rows[1]["氏名"] == "佐藤　花子" and rows[1]["医療機関名"] == "やまだこどもクリニック"
    assert "接種間隔が不足" in rows[1]["返戻理由"]
    # The accounting summary, by budget category.
    rows = list(csv.reader(io.StringIO((out / "summary.csv").read_text(encoding="utf-8-sig"))))
    by = {r[0]: r[2:] for r in rows[1:]}
    #              件数  単価計                      自己負担  支払額  調整件数 調整額   合計
    assert by["定期接種（A類疾病）"] == ["3", str(12100 + 10560 + 3740), "0", "26400", "1", "-12980", "13420"]
    assert by["定期接種（B類疾病）"] == ["2", "10560", "1600", "8960", "0", "0", "8960"]
    assert by["臨時接種・特措法"] == ["0", "0", "0", "0", "0", "0", "0"]
    assert by["合計"] == ["5", str(26400 + 10560), "1600", "35360", "1", "-12980", "22380"]
    # The statements and the returns list, as text extracted from the PDFs.
    text = _pdftext(out / f"statement-{C1}.pdf")
    for expected in ("予防接種委託料 支払明細書", "やまだこどもクリニック", "御中", "令和8年11月分", "麻しん風しん混合",
                     "12,100", "予診のみ", "3,740", "過誤調整", "-12,980", "13,420 円", "返戻: 3 件", "ﾐﾂｲｽﾐﾄﾓ"):
        assert expected in text, expected
    text2 = _pdftext(out / f"statement-{C2}.pdf")
    assert "接種（免除）" in text2 and "1,600" in text2 and "8,960 円" in text2
    returns = _pdftext(out / "returns.pdf")
    assert "返戻一覧" in returns and "佐藤" in returns and "医療機関不明" in returns


def test_run_writes_every_file_into_the_folder_and_logs_each_with_its_hash(db, settings, tmp_path):
    out, result = _run_november(db, settings, tmp_path)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"statement-{C1}.pdf", f"statement-{C2}.pdf", "returns.pdf", "returns.csv", "summary.csv", "zengin.txt"])
    assert result["total"] == 22380 and result["returns"] == 4
    with db.transaction() as s:
        entries = [(e.action, json.loads(e.detail)) for e in s.execute(
            select(AuditEntry).where(AuditEntry.action.in_(("print", "export", "billing.files")))).scalars()]
    prints = {d["document"]: d for a, d in entries if a == "print" and d.get("month") == NOV}
    assert set(prints) == {"委託料支払明細書", "返戻一覧"}
    export = next(d for a, d in entries if a == "export")
    assert export["file"] == "returns.csv" and export["rows"] == 4
    assert export["sha256"] == hashlib.sha256((out / "returns.csv").read_bytes()).hexdigest()
    files = next(d for a, d in entries if a == "billing.files")["files"]
    assert files["zengin.txt"] == hashlib.sha256((out / "zengin.txt").read_bytes()).hexdigest()


def test_close_then_run_again_only_writes_the_locked_figures(db, settings, tmp_path):
    out, _ = _run_november(db, settings, tmp_path)
    first = (out / "zengin.txt").read_bytes()
    r = sesshu(settings, "billing", "close", "--month", NOV)
    assert r.returncode == 0 and "締めました" in r.stdout, r.stderr
    r = sesshu(settings, "billing", "run", "--month", NOV, "--transfer-date", "2026-12-25", "--out", str(out))
    assert r.returncode == 0 and "締め済みのため再計算せず" in r.stdout, r.stderr
    assert (out / "zengin.txt").read_bytes() == first
    r = sesshu(settings, "billing", "close", "--month", NOV)
    assert r.returncode == 2 and "既に締め済み" in r.stderr


def test_killed_while_writing_the_files_the_same_command_writes_them_from_the_same_run(db, settings, tmp_path):
    prepare_november(db, settings, tmp_path)
    out = tmp_path / "out"
    args = ("billing", "run", "--month", NOV, "--transfer-date", "2026-12-25", "--out", str(out))
    env_kill = dict(os.environ, SESSHU_KILL_AT="files")
    killed = subprocess.run([sys.executable, "-m", "sesshu", *args], capture_output=True, text=True, timeout=120,
                            env=dict(env_kill, SESSHU_DATABASE_URL=settings.resolved_database_url,
                                     SESSHU_VAR_DIR=str(settings.var_dir)))
    assert killed.returncode == -9, killed.stderr
    r = sesshu(settings, *args)
    assert r.returncode == 0, r.stderr
    assert "第1回" in r.stdout and "再計算せず、その計算結果を出力しました" in r.stdout, r.stdout
    with db.transaction() as s:
        from sesshu.billing.models import BillingRun

        runs = [(run.run_no, run.files_at is not None) for run in s.execute(
            select(BillingRun).where(BillingRun.month == NOV)).scalars()]
        logged = s.execute(select(AuditEntry).where(AuditEntry.action == "billing.files")).scalars().all()
    assert runs == [(1, True)]
    assert len([e for e in logged if json.loads(e.detail)["month"] == NOV]) == 1
    parsed = parse_zengin((out / "zengin.txt").read_bytes(), year=2026)  # the whole file, written again
    assert (parsed.count, parsed.total) == (2, 22380)
    # Once the files are out, the same command computes the month anew (a new run), as before.
    r = sesshu(settings, *args)
    assert r.returncode == 0 and "第2回" in r.stdout, r.stdout
