"""予診票 batch import: messy files in, good rows stored, bad rows back with line and reason."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from sesshu.audit.models import AuditEntry
from sesshu.ledger import service as ledger
from sesshu.ledger.models import EvaluationQueue, Institution, VaccinationRecord
from sesshu.registry.service import import_registry
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, write


@pytest.fixture
def city(db, settings, operator, tmp_path):
    """Two children and one older person, plus one clinic."""
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          "1001,,山田 太郎,ヤマダ タロウ,男,2023-04-10,,熊谷市本町,,,,,,,\n"
          "1002,,鈴木 花子,スズキ ハナコ,女,2012-04-01,,熊谷市宮町,,,,,,,\n"
          "1003,,佐藤 一郎,サトウ イチロウ,男,1950-01-01,,熊谷市筑波,,,,,,,\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=operator)
    with db.transaction() as s:
        s.add(Institution(code="C001", name="熊谷こどもクリニック"))
    return db


def _count(db) -> int:
    with db.transaction() as s:
        return s.execute(select(func.count()).select_from(VaccinationRecord)).scalar()


def _rec(*lines: str) -> str:
    return RECORD_HEADER + "\r\n" + "\r\n".join(lines) + "\r\n"


def _line(atena="1001", vaccine="HIB", date="2023-06-09", inst="", extra=""):
    cols = [atena, vaccine, "", "", "", date, "", inst] + [""] * 13
    if extra:
        cols[-1] = extra
    return ",".join(cols)


@pytest.mark.parametrize("encoding", ["cp932", "utf-8", "utf-8-sig"])
def test_detects_encoding_and_reads_japanese(city, settings, operator, tmp_path, encoding):
    # 備考 is stored exactly as written (issue 22: 「①」 became 「1」, full-width brackets ASCII).
    path = write(tmp_path / "r.csv", _rec(_line(extra="備考：発熱なし（①保護者同意）")), encoding)
    summary = ledger.import_records(city, settings, path=path, actor=operator)
    assert summary.encoding == encoding and summary.accepted == 1
    with city.transaction() as s:
        assert s.execute(select(VaccinationRecord.remarks)).scalar() == "備考：発熱なし（①保護者同意）"


@pytest.mark.parametrize("written", ["2023-06-09", "2023/6/9", "令和5年6月9日", "R5.6.9", "R050609", "５０５０６０９",
                                     "２０２３／６／９", " 2023-06-09 ", "R5．6．9"])
def test_accepts_western_and_wareki_dates(city, settings, operator, tmp_path, written):
    path = write(tmp_path / "r.csv", _rec(_line(date=written)), "cp932")
    summary = ledger.import_records(city, settings, path=path, actor=operator)
    assert summary.accepted == 1, written
    with city.transaction() as s:
        assert str(s.execute(select(VaccinationRecord.vaccinated_on)).scalar()) == "2023-06-09"


def test_full_record_fields_are_normalised(city, settings, operator, tmp_path):
    line = "１００１,hib,初回,２,定期A類,R5.6.9,接種,Ｃ００１,,,,,,ＡＢ１２３,０．５ml,R5.7,ActHIB,,旧妻沼町,０１２３４５６７８９,メモ"
    ledger.import_records(city, settings, path=write(tmp_path / "r.csv", _rec(line), "cp932"), actor=operator)
    with city.transaction() as s:
        r = s.execute(select(VaccinationRecord)).scalar_one()
    assert (r.atena_no, r.vaccine_code, r.dose_no, r.category, r.institution_code) == ("1001", "HIB", 2, "routine_a", "C001")
    assert (r.lot_no, str(r.dose_volume_ml), r.billing_month, r.ticket_no) == ("AB123", "0.50", "2023-07", "0123456789")
    assert (r.screening_result, r.first_product, r.former_municipality, r.remarks) == ("vaccinated", "ActHIB", "旧妻沼町", "メモ")


def test_bad_rows_come_back_with_line_number_and_japanese_reason(city, settings, operator, tmp_path):
    body = _rec(
        _line(),                                  # line 2: good
        _line(atena="9999"),                      # 3: unknown person
        "",                                       # 4: blank line, skipped
        _line(vaccine="XYZ"),                     # 5: unknown vaccine
        _line(date="2099-01-01"),                 # 6: future
        _line(date="2023-04-09"),                 # 7: before birth
        _line(date="平成31年5月1日"),              # 8: outside era
        _line(inst="C999", date="2023-08-01"),   # 9: unknown clinic
        "1001,MR",                                # 10: broken row
        _line(vaccine="", date="2023-09-01"),     # 11: missing vaccine
        _line(atena="1002", vaccine="HPV9", date="2024-05-01"),  # 12: good
    )
    rejects = tmp_path / "rejects.csv"
    summary = ledger.import_records(city, settings, path=write(tmp_path / "r.csv", body, "cp932"), actor=operator,
                                    rejects_path=rejects)
    assert (summary.read, summary.accepted, summary.rejected, summary.duplicates) == (10, 2, 8, 0)
    rows = list(csv.reader(rejects.open(encoding="utf-8-sig")))
    assert rows[0][:4] == ["行番号", "区分", "理由", "宛名番号"]
    got = {int(r[0]): r[2] for r in rows[1:]}
    assert sorted(got) == [3, 5, 6, 7, 8, 9, 10, 11]
    assert "住民記録にありません" in got[3]
    assert "接種種別「XYZ」" in got[5]
    assert "未来" in got[6]
    assert "生年月日" in got[7] and "より前" in got[7]
    assert "平成の期間外" in got[8]
    assert "C999" in got[9] and "マスタ" in got[9]
    assert "列の数" in got[10]
    assert "接種種別が空" in got[11]
    assert _count(city) == 2


def test_importing_the_same_file_twice_stores_nothing_new(city, settings, operator, tmp_path):
    path = write(tmp_path / "r.csv", _rec(_line(), _line(date="2023-07-10"), _line(vaccine="PCV")))
    first = ledger.import_records(city, settings, path=path, actor=operator)
    second = ledger.import_records(city, settings, path=path, actor=operator)
    assert (first.accepted, first.duplicates) == (3, 0)
    assert (second.accepted, second.duplicates, second.rejected) == (0, 3, 0)
    assert _count(city) == 3


def test_duplicate_within_one_file_is_counted_once(city, settings, operator, tmp_path):
    small = replace(settings, import_chunk_rows=2)
    path = write(tmp_path / "r.csv", _rec(_line(), _line(), _line(date="2023-07-10"), _line()))
    summary = ledger.import_records(city, small, path=path, actor=operator)
    assert (summary.accepted, summary.duplicates) == (2, 2)


def test_a_failure_part_way_leaves_no_half_batch(city, settings, operator, tmp_path, monkeypatch):
    small = replace(settings, import_chunk_rows=2)
    calls = {"n": 0}
    real = ledger._store_chunk

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(ledger, "_store_chunk", failing)
    lines = [_line(date=f"2023-{m:02d}-01") for m in range(6, 12)]
    with pytest.raises(RuntimeError):
        ledger.import_records(city, small, path=write(tmp_path / "r.csv", _rec(*lines)), actor=operator)
    assert _count(city) == 0
    with city.transaction() as s:
        assert s.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "records.import")).scalar() == 0
    monkeypatch.setattr(ledger, "_store_chunk", real)
    summary = ledger.import_records(city, small, path=tmp_path / "r.csv", actor=operator)
    assert summary.accepted == 6 and _count(city) == 6


@pytest.mark.parametrize("evaluate", ["--no-evaluate", "--evaluate"])
def test_killed_import_process_leaves_database_as_it_was(city, settings, operator, tmp_path, evaluate):
    path = tmp_path / "big.csv"
    with path.open("w", encoding="cp932", newline="") as f:
        f.write(RECORD_HEADER + "\r\n")
        f.write(_line(atena="9999") + "\r\n")  # rejected in the first chunk: its reject line shows progress
        for i in range(60000):
            f.write(_line(vaccine=["HIB", "PCV", "DPTIPV"][i % 3], date=f"2023-{6 + (i // 3) % 6:02d}-{1 + (i // 18) % 28:02d}") + "\r\n")
    rejects = tmp_path / "rejects.csv"
    env = dict(os.environ, SESSHU_DATABASE_URL=settings.resolved_database_url, SESSHU_VAR_DIR=str(settings.var_dir),
               SESSHU_IMPORT_CHUNK_ROWS="500")
    proc = subprocess.Popen([sys.executable, "-m", "sesshu", "import", "records", str(path), evaluate,
                             "--rejects", str(rejects)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Kill it once it is inside the transaction: the first chunk has been stored (uncommitted).
    deadline = time.time() + 60
    while proc.poll() is None and time.time() < deadline:
        if rejects.exists() and len(rejects.read_text(encoding="utf-8-sig").splitlines()) >= 2:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    city.dispose()
    assert _count(city) == 0
    with city.transaction() as s:
        assert s.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "records.import")).scalar() == 0
    with city.transaction() as s:
        assert s.execute(select(func.count()).select_from(EvaluationQueue)).scalar() == 0
        assert s.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "records.evaluate")).scalar() == 0
    summary = ledger.import_records(city, settings, path=path, actor=operator, evaluate=evaluate == "--evaluate")
    assert summary.rejected == 1 and summary.accepted == 504 and summary.accepted + summary.duplicates == 60000


def test_import_is_audited_with_counts(city, settings, operator, tmp_path):
    ledger.import_records(city, settings, path=write(tmp_path / "r.csv", _rec(_line(), _line(atena="9"))), actor=operator)
    with city.transaction() as s:
        e = s.execute(select(AuditEntry).where(AuditEntry.action == "records.import",
                                               AuditEntry.atena_no.is_(None))).scalar_one()
        persons = s.execute(select(AuditEntry.atena_no).where(AuditEntry.action == "records.import",
                                                              AuditEntry.atena_no.is_not(None))).scalars().all()
    assert e.actor == "os:ops" and '"accepted": 1' in e.detail and '"rejected": 1' in e.detail
    assert persons == ["1001"]  # the person written has the import in their own log; the unknown one not


def test_file_without_required_headers_is_refused(city, settings, operator, tmp_path):
    from sesshu.domain.errors import InvalidInput

    with pytest.raises(InvalidInput, match="接種年月日"):
        ledger.import_records(city, settings, path=write(tmp_path / "r.csv", "宛名番号,接種種別\n1001,HIB\n"), actor=operator)


def test_headers_match_in_any_width_spacing_or_case_and_trailing_empty_cells_are_fine(city, settings, operator, tmp_path):
    header = RECORD_HEADER.replace("LotNo", "ＬＯＴ　ｎｏ").replace("宛名番号", " 宛名番号 ") + ",メモ欄"
    cells = ["1001", "HIB", "", "", "", "2023-06-09"] + [""] * 15 + ["memo"]
    cells[13] = "AB123"  # LotNo
    body = header + "\r\n" + ",".join(cells) + ",,\r\n"  # two trailing empty cells
    summary = ledger.import_records(city, settings, path=write(tmp_path / "r.csv", body, "cp932"), actor=operator)
    assert (summary.accepted, summary.rejected) == (1, 0)
    with city.transaction() as s:
        assert s.execute(select(VaccinationRecord.lot_no)).scalar() == "AB123"


def test_unterminated_quote_refuses_the_file_with_a_line_number(city, settings, operator, tmp_path):
    from sesshu.domain.errors import InvalidInput

    body = _rec(_line(), '1001,HIB,,,,2023-07-10,,,,,,,,,,,,,,,"unterminated', _line(date="2023-08-10"))
    with pytest.raises(InvalidInput, match="行目付近"):
        ledger.import_records(city, settings, path=write(tmp_path / "r.csv", body.replace("\r\n", "\n") + "x" * 140000),
                              actor=operator)
    assert _count(city) == 0


def test_actor_names_with_quotes_are_stored_as_they_are(city, settings, tmp_path):
    from sesshu.actor import Actor

    odd = Actor(login_id="o'brien\\x", kind="os", role="operator")
    summary = ledger.import_records(city, settings, path=write(tmp_path / "r.csv", _rec(_line())), actor=odd)
    assert summary.accepted == 1
    with city.transaction() as s:
        assert s.execute(select(VaccinationRecord.created_by)).scalar() == "os:o'brien\\x"


def test_blank_category_is_the_vaccines_usual_one_as_in_hand_entry(city, settings, operator, tmp_path):
    """Issue 22 item 1: a blank 接種区分 was stored blank and the dose never paid (R_NOT_ROUTINE)."""
    body = _rec(_line(), _line(atena="1003", vaccine="FLU_ELDER", date="2024-11-01"),
                "1001,PCV,,,定期,2023-06-09," + "," * 14, "1001,MR,,,任意,2024-05-01," + "," * 14)
    summary = ledger.import_records(city, settings, path=write(tmp_path / "r.csv", body), actor=operator)
    assert summary.accepted == 4
    with city.transaction() as s:
        got = dict(s.execute(select(VaccinationRecord.vaccine_code, VaccinationRecord.category)).all())
    assert got == {"HIB": "routine_a", "FLU_ELDER": "routine_b", "PCV": "routine_a", "MR": "voluntary"}


def test_blank_category_without_a_usual_one_is_refused_with_a_reason(city, settings, operator, tmp_path):
    from sesshu.ledger.models import Vaccine
    with city.transaction() as s:
        s.add(Vaccine(code="ZZTEST", name="試験ワクチン", default_category="", injected_live=False))
    rejects = tmp_path / "rejects.csv"
    body = _rec(_line(vaccine="ZZTEST"), "1001,ZZTEST,,,任意,2023-06-10," + "," * 14)
    summary = ledger.import_records(city, settings, path=write(tmp_path / "r.csv", body), actor=operator,
                                    rejects_path=rejects)
    assert (summary.accepted, summary.rejected) == (1, 1)
    rows = list(csv.reader(rejects.open(encoding="utf-8-sig")))
    assert rows[1][0] == "2" and "接種区分が空です" in rows[1][2] and "ZZTEST" in rows[1][2]
    with city.transaction() as s:
        assert s.execute(select(VaccinationRecord.category)).scalars().all() == ["voluntary"]
    assert "" not in _categories(city)


def _categories(db) -> set[str]:
    with db.transaction() as s:
        return set(s.execute(select(VaccinationRecord.category)).scalars())
