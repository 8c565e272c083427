"""予診票 import and 接種券: a good ticket becomes used; reused, foreign, invalidated or wrong ones are rejected."""
from __future__ import annotations

import csv

from sqlalchemy import select

from sesshu.ledger import service as ledger
from sesshu.ledger.models import VaccinationRecord
from sesshu.tickets.models import Ticket
from sesshu.tickets.notices import run_notices
from sesshu.tickets.service import invalidate
from tests.helpers import RECORD_HEADER, write
from tests.integration.notices_city import AS_OF, OPERATOR, load_city


def _row(atena: str, ticket: str, vaccine: str = "MR", on: str = "2026-11-20") -> str:
    cols = [atena, vaccine, "1期", "1", "", on, "接種"] + [""] * 12 + [ticket, ""]
    return ",".join(cols)


def _ocr(db, atena: str) -> str:
    with db.transaction() as s:
        t = s.execute(select(Ticket).where(Ticket.atena_no == atena)).scalar_one()
        return f"{t.kind}{t.dose_no}112020{t.ticket_no}"


def _import(db, settings, tmp_path, *lines, name="r.csv"):
    path = write(tmp_path / name, RECORD_HEADER + "\r\n" + "\r\n".join(lines) + "\r\n", "cp932")
    rejects = tmp_path / (name + ".rejects.csv")
    summary = ledger.import_records(db, settings, path=path, actor=OPERATOR, rejects_path=rejects)
    got = {int(r[0]): r[2] for r in list(csv.reader(rejects.open(encoding="utf-8-sig")))[1:]} if rejects.exists() else {}
    return summary, got


def _state(db, atena: str) -> tuple[str, int | None]:
    with db.transaction() as s:
        t = s.execute(select(Ticket).where(Ticket.atena_no == atena)).scalar_one()
        return t.state, t.used_record_id


def test_good_reused_foreign_and_invalidated_tickets(db, settings, tmp_path):
    load_city(db, settings, tmp_path)
    run_notices(db, settings, actor=OPERATOR, vaccine="MR", as_of=AS_OF, within_days=30, out_dir=tmp_path / "n")
    invalidate(db, actor=OPERATOR, atena_no="2004", reason="紛失")
    a, b, c, d = (_ocr(db, x) for x in ("2001", "2002", "2003", "2004"))
    summary, reasons = _import(db, settings, tmp_path,
                               _row("2001", a),                          # 2: good (OCR line)
                               _row("2005", a, on="2026-11-21"),         # 3: 2001's ticket on someone else
                               _row("2002", b[8:]),                      # 4: good (10-digit number)
                               _row("2003", c, vaccine="VAR"),           # 5: MR ticket on a 水痘 form
                               _row("2004", d),                          # 6: invalidated
                               _row("2006", "121310160000000001"),       # 7: another city's ticket
                               _row("2007", "", on="2026-11-22"),        # 8: blank: allowed
                               _row("2008", "123456"))                   # 9: old paper ticket: stored, not linked
    assert (summary.accepted, summary.rejected) == (4, 4), reasons
    assert "別の方の接種券" in reasons[3]
    assert "麻しん風しん混合（MR）の接種券" in reasons[5]
    assert "無効になった接種券" in reasons[6] and "紛失" in reasons[6]
    assert "他の市町村" in reasons[7]
    with db.transaction() as s:
        rec = s.execute(select(VaccinationRecord.id).where(VaccinationRecord.atena_no == "2001")).scalar_one()
    assert _state(db, "2001") == ("used", rec)
    assert _state(db, "2002")[0] == "used"
    assert _state(db, "2003")[0] == "issued"

    # The same ticket on a second form (another day) is refused; the same file again is only duplicates.
    summary, reasons = _import(db, settings, tmp_path, _row("2001", a, on="2026-11-28"), name="again.csv")
    assert summary.rejected == 1 and "使用済み" in reasons[2] and "2026-11-20" in reasons[2]
    summary, reasons = _import(db, settings, tmp_path, _row("2001", a), name="same.csv")
    assert (summary.accepted, summary.duplicates, summary.rejected) == (0, 1, 0)


def test_one_ticket_twice_in_one_file_is_refused_the_second_time(db, settings, tmp_path):
    load_city(db, settings, tmp_path)
    run_notices(db, settings, actor=OPERATOR, vaccine="MR", as_of=AS_OF, within_days=30, out_dir=tmp_path / "n")
    a = _ocr(db, "2001")
    summary, reasons = _import(db, settings, tmp_path, _row("2001", a), _row("2001", a, vaccine="MEASLES"))
    assert (summary.accepted, summary.rejected) == (1, 1)
    assert "2行目でも使われています" in reasons[3]
