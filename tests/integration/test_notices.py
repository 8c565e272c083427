"""個別通知 batch: PDFs a city can mail, mailing.csv in the same order, tickets issued once, kill-safe."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sesshu.audit.models import AuditEntry
from sesshu.audit.service import walk_chain
from sesshu.tickets.models import Ticket
from sesshu.tickets.notices import run_notices
from tests.integration.notices_city import AS_OF, OPERATOR, load_city

ROOT = Path(__file__).resolve().parents[2]


def _text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def _tickets(db) -> list[tuple]:
    with db.transaction() as s:
        return s.execute(select(Ticket.atena_no, Ticket.ticket_no, Ticket.state).order_by(Ticket.ticket_no)).all()


def _mailing(out: Path) -> list[list[str]]:
    return list(csv.reader((out / "mailing.csv").open(encoding="utf-8-sig")))


def test_batch_writes_letters_questionnaires_and_the_mailing_list(db, settings, tmp_path):
    children = load_city(db, settings, tmp_path)
    out = tmp_path / "out"
    outcome = run_notices(db, settings, actor=OPERATOR, vaccine="MR", as_of=AS_OF, within_days=30, out_dir=out,
                          per_file=3)
    assert outcome.status == "done" and outcome.result["persons"] == len(children) == 8
    assert [f.name for f in sorted(out.glob("*.pdf"))] == [f"notices_MR_20261201-00{i}.pdf" for i in (1, 2, 3)]
    mailing = _mailing(out)
    assert mailing[0][:4] == ["連番", "ファイル", "ページ", "宛名番号"]
    assert sorted(r[3] for r in mailing[1:]) == sorted(children)  # the adult and the moved-out child are not listed
    # Same order as the PDFs: the person on row k is on the named file and page.
    for row in mailing[1:]:
        page = subprocess.run(["pdftotext", "-f", row[2], "-l", str(int(row[2]) + 1), str(out / row[1]), "-"],
                              capture_output=True, text=True, check=True).stdout
        assert row[4].replace("　", "") in page.replace("　", "").replace(" ", "").replace("\n", "")
        assert row[9] in page.replace(" ", "")  # the OCR line, on the 予診票
    text = _text(out / "notices_MR_20261201-001.pdf")
    assert "麻しん風しん混合（MR） 予防接種のお知らせ" in text and "予診票" in text and "熊谷市" in text
    assert len(_tickets(db)) == 8 and all(t[2] == "issued" for t in _tickets(db))
    assert all(len(r[9]) == 18 and r[9].startswith("11112020") for r in mailing[1:])


def test_rerun_and_a_later_batch_issue_no_second_ticket(db, settings, tmp_path):
    load_city(db, settings, tmp_path)
    first = run_notices(db, settings, actor=OPERATOR, vaccine="MR", as_of=AS_OF, within_days=30, out_dir=tmp_path / "a")
    again = run_notices(db, settings, actor=OPERATOR, vaccine="MR", as_of=AS_OF, within_days=30, out_dir=tmp_path / "a")
    assert again.already_done and again.result == first.result
    later = run_notices(db, settings, actor=OPERATOR, vaccine="MR", as_of=AS_OF.replace(day=15), within_days=30,
                        out_dir=tmp_path / "b")
    assert later.result["persons"] == 0  # everyone listed already holds a ticket for the dose
    assert len(_tickets(db)) == 8


def test_who_and_why_is_on_the_audit_log(db, settings, tmp_path):
    load_city(db, settings, tmp_path)
    outcome = run_notices(db, settings, actor=OPERATOR, vaccine="MR", as_of=AS_OF, within_days=30,
                          out_dir=tmp_path / "o", per_file=5)
    with db.transaction() as s:
        rows = s.execute(select(AuditEntry.action, AuditEntry.atena_no, AuditEntry.detail)
                         .order_by(AuditEntry.seq)).all()
    selected = {a: json.loads(d) for act, a, d in rows if act == "notice.select"}
    assert len(selected) == 8 and all(v["status"] in ("eligible", "not_yet") and v["next_dose"] == 1
                                      for v in selected.values())
    assert selected["2001"]["earliest"] == "2026-11-01"  # reach(生後12月) of a child born 2025-11-02
    issued = [json.loads(d) for act, _a, d in rows if act == "ticket.issue"]
    assert sorted(i["ticket_no"] for i in issued) == sorted(t[1] for t in _tickets(db))
    prints = [json.loads(d) for act, _a, d in rows if act == "print"]
    assert sorted(p["file"] for p in prints) == ["mailing.csv", "notices_MR_20261201-001.pdf",
                                                 "notices_MR_20261201-002.pdf"]
    by_file = {f["name"]: f["sha256"] for f in outcome.result["files"]}
    assert all(p["sha256"] == by_file[p["file"]] for p in prints if p["file"].endswith(".pdf"))


def _run_script(settings, out: Path, kill_at: str = "") -> int:
    env = {**os.environ, "SESSHU_DATABASE_URL": settings.resolved_database_url, "SESSHU_VAR_DIR": str(settings.var_dir)}
    return subprocess.run([sys.executable, "-m", "tests.integration.notices_city", str(out),
                           *([kill_at] if kill_at else [])], cwd=ROOT, env=env, timeout=120).returncode


@pytest.mark.parametrize("kill_at", ["process:1", "output:1"])
def test_kill_9_mid_run_then_rerun_gives_the_whole_batch_once(settings, db, tmp_path, kill_at):
    load_city(db, settings, tmp_path)
    out = tmp_path / "killed"
    assert _run_script(settings, out, kill_at) == -9
    assert not (out / "mailing.csv").exists()
    with db.transaction() as s:
        issued_before = s.execute(select(func.count()).select_from(Ticket)).scalar()
    assert issued_before == (3 if kill_at == "process:1" else 6)  # whole chunks only
    assert _run_script(settings, out) == 0
    tickets = _tickets(db)
    assert len(tickets) == 8 and len({t[1] for t in tickets}) == 8
    mailing = _mailing(out)
    assert sorted(r[9][8:] for r in mailing[1:]) == sorted(t[1] for t in tickets)
    assert [f.name for f in sorted(out.glob("*"))] == ["mailing.csv", "notices_MR_20261201-001.pdf",
                                                        "notices_MR_20261201-002.pdf", "notices_MR_20261201-003.pdf"]
    with db.transaction() as s:
        prints = [json.loads(d) for d in s.execute(select(AuditEntry.detail).where(AuditEntry.action == "print"))
                  .scalars()]
        assert walk_chain(s)[1] == []
    assert len(prints) == 4  # one print entry per file, never two
