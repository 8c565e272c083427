"""個別通知: a notice letter + pre-filled 予診票 with a 接種券 for every person a target selection lists.

Runs as a `sesshu.jobs` job keyed by the selection (vaccine, as-of date, window), so it survives a kill
and a re-run never issues a second ticket:

- plan (once, with the job): the selection is made — limited to the persons of the starting staff
  member's 事務 (`access.scoped`, NoTask without a vaccination 事務) and without the persons under
  利用停止 (each skip on record as `suspension.refused`) — and each person's eligibility line — why they are
  on the list — is stored with the job (notice_item) and written to the audit log, one entry per person
  (`notice.select`). Persons who already hold a ticket for that dose (an earlier batch, an individual
  issue) are left out and counted.
- each chunk (= one PDF file, `per_file` persons): tickets are issued (or the live one reused), the
  printed data is snapshotted, one `ticket.issue` audit entry per person — all in the chunk's transaction.
- after the commit, the chunk's PDF is written from the snapshot (atomically; a rewrite after a kill gives
  the same bytes) and logged as a print with its SHA-256.
- at the end, `mailing.csv` (UTF-8 with BOM, the PDFs' order) is written and logged the same way.

The CLI runs it to the end (`run_notices`); the web plans it in the request (`open_notices`) and runs the
rest in a background thread (`continue_notices`), taken up again when the server restarts
(`interrupted_background_runs`).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.access.tasks import VACCINATION_TASKS
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.bulk import bulk_insert
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.disclosure.suspension import drop_suspended, suspended_among
from sesshu.domain.errors import InvalidInput
from sesshu.exports.service import CsvWriter, log_print, open_private, private_dir
from sesshu.jobs import JobContext, JobOutcome, continue_job, open_job, run_job
from sesshu.jobs.models import BatchJob
from sesshu.ledger.targets import collect_target_batches, collect_targets
from sesshu.printing import SplitPdfWriter
from sesshu.registry.models import Person
from sesshu.tickets.catalog import line_info
from sesshu.tickets.models import NoticeItem, Ticket
from sesshu.tickets.render import NoticeData, draw_notice_letter, draw_questionnaire
from sesshu.tickets.service import TicketWish, issue, notice_data, rules_on, snapshot

KIND = "notices"
PURPOSE = "個別通知（予診票・接種券の送付）"
DOCUMENT = "個別通知・予診票（接種券）"
MAILING_CSV = "mailing.csv"
MAILING_HEADER = ["連番", "ファイル", "ページ", "宛名番号", "氏名", "郵便番号", "住所", "接種種別", "回数", "券番号（OCR）"]


def job_key(vaccine: str, as_of: date, within_days: int) -> str:
    return f"{KIND}:{vaccine}:{as_of.isoformat()}:{within_days}"


def job_params(vaccine: str, as_of: date, within_days: int, out_dir: Path) -> dict:
    return {"vaccine": vaccine, "as_of": as_of.isoformat(), "within_days": within_days,
            "out_dir": str(Path(out_dir).resolve())}


def file_stem(params: dict) -> str:
    stem = f"notices_{params['vaccine']}_{params['as_of'].replace('-', '')}"
    return f"{stem}_wave{params['wave']:03d}" if params.get("wave") else stem  # waves: sesshu.tickets.waves


def mailing_name(params: dict) -> str:
    return f"mailing_wave{params['wave']:03d}.csv" if params.get("wave") else MAILING_CSV


@dataclass
class _Line:
    earliest: date | None
    legal_until: date | None
    standard_from: date | None
    standard_until: date | None


@dataclass(frozen=True)
class Mailable:
    line: str
    rows: list  # TargetRow
    outside_scope: int  # targets outside the actor's 事務
    suspended: int  # targets skipped for 利用停止


def mailable_targets(s: Session, actor: Actor, *, vaccine: str, as_of: date, within_days: int) -> Mailable:
    """The line's targets that may be sent a notice or ticket by this actor: within the actor's 事務, and
    without the persons who asked for 利用停止 (each skip on record). Notices and ticket waves both plan
    from here."""
    line, found = collect_targets(s, vaccine=vaccine, as_of=as_of, within_days=within_days)
    in_scope = access.scoped(s, actor, tasks=VACCINATION_TASKS).keep(found)
    rows = drop_suspended(s, actor, in_scope, use="notices.select", detail={"vaccine": line})
    return Mailable(line, rows, len(found) - len(in_scope), len(in_scope) - len(rows))


@dataclass(frozen=True)
class MailableBatch:
    rows: list  # TargetRow, by (birth date, 宛名番号)
    outside_scope: int
    suspended: frozenset[str]  # skipped for 利用停止: the caller puts them on record (log_refusals)


def mailable_batches(s: Session, actor: Actor, *, vaccine: str, as_of: date, within_days: int,
                     persons_per_batch: int = 2000) -> tuple[str, Iterator[MailableBatch]]:
    """mailable_targets a few birth dates (about `persons_per_batch` residents) at a time, oldest first, for a plan that must not hold a whole
    city's list (ticket waves). The same scope and 利用停止 rules; the skipped persons come back with each
    batch so the caller logs them once, at the end (the audit chain's head is not held while it evaluates)."""
    line, batches = collect_target_batches(s, vaccine=vaccine, as_of=as_of, within_days=within_days,
                                           persons_per_batch=persons_per_batch)
    scoped = access.scoped(s, actor, tasks=VACCINATION_TASKS)

    def mailable() -> Iterator[MailableBatch]:
        for found in batches:
            in_scope = scoped.keep(found)
            stopped = frozenset(suspended_among(s, (r.atena_no for r in in_scope)))
            yield MailableBatch([r for r in in_scope if r.atena_no not in stopped], len(found) - len(in_scope),
                                stopped)
    return line, mailable()


class NoticeJob:
    kind = KIND
    label = "個別通知の作成"

    def __init__(self, settings: Settings):
        self.settings = settings

    # --- plan: who, and why ----------------------------------------------------------------------------
    def plan(self, s: Session, ctx: JobContext) -> list[str]:
        p = ctx.params
        as_of = date.fromisoformat(p["as_of"])
        m = mailable_targets(s, ctx.actor, vaccine=p["vaccine"], as_of=as_of, within_days=p["within_days"])
        line, rows = m.line, m.rows
        holding = {(a, n) for a, n in s.execute(select(Ticket.atena_no, Ticket.dose_no).where(
            Ticket.vaccine == line, Ticket.state.in_(("issued", "used"))))}
        chosen = [r for r in rows if (r.atena_no, r.line.next_dose or 1) not in holding]
        # Post order: by postal code and address, so one household's letters come together.
        chosen.sort(key=lambda r: (r.postal_code, r.address, r.atena_no))
        items = [{"seq": i, "atena_no": r.atena_no, "vaccine": line, "next_dose": r.line.next_dose or 1,
                  "status": r.line.status, "earliest": r.line.earliest, "standard_from": r.line.standard_from,
                  "standard_until": r.line.standard_until, "legal_until": r.line.legal_until, "ticket_id": None,
                  "printed": ""} for i, r in enumerate(chosen)]
        bulk_insert(s, NoticeItem.__table__, items, tuple(k for k in items[0]) if items else ("seq",),
                    constants={"job_id": ctx.job_id})
        audit.record_many(s, ctx.actor, [audit.AuditEvent(
            "notice.select", atena_no=it["atena_no"], purpose=PURPOSE,
            detail={"job_id": ctx.job_id, "vaccine": line, "as_of": p["as_of"], "within_days": p["within_days"],
                    "next_dose": it["next_dose"], "status": it["status"], "earliest": it["earliest"],
                    "legal_until": it["legal_until"]}) for it in items])
        audit.record(s, ctx.actor, "notices.plan", purpose=PURPOSE,
                     detail={"job_id": ctx.job_id, "vaccine": line, "as_of": p["as_of"],
                             "within_days": p["within_days"], "selected": len(rows), "persons": len(items),
                             "outside_scope": m.outside_scope, "suspended_skipped": m.suspended,
                             "already_holding_ticket": len(rows) - len(chosen)})
        return [it["atena_no"] for it in items]

    # --- one chunk: tickets and the snapshot of what is printed ----------------------------------------
    def _items(self, s: Session, ctx: JobContext, chunk_no: int) -> list[NoticeItem]:
        lo = chunk_no * ctx.chunk_size
        return list(s.execute(select(NoticeItem).where(NoticeItem.job_id == ctx.job_id, NoticeItem.seq >= lo,
                                                       NoticeItem.seq < lo + ctx.chunk_size)
                              .order_by(NoticeItem.seq)).scalars())

    def process(self, s: Session, ctx: JobContext, chunk_no: int, units: list[str]) -> None:
        items = self._items(s, ctx, chunk_no)
        persons = {p.atena_no: p for p in s.execute(
            select(Person.atena_no, Person.name, Person.name_kana, Person.sex, Person.birth_date, Person.postal_code,
                   Person.address).where(Person.atena_no.in_([i.atena_no for i in items])))}
        as_of = date.fromisoformat(ctx.params["as_of"])
        issued = issue(s, ctx.actor, [TicketWish(i.atena_no, i.vaccine, i.next_dose, i.legal_until) for i in items],
                       reason="notice", job_id=ctx.job_id, as_of=as_of)
        rules = rules_on(s, as_of)
        events = []
        for item, (ticket, is_new) in zip(items, issued):
            line = _Line(item.earliest, item.legal_until, item.standard_from, item.standard_until)
            item.ticket_id = ticket.id
            item.printed = snapshot(notice_data(self.settings, persons[item.atena_no], ticket, line, issued_on=as_of,
                                                rules=rules))
            events.append(audit.AuditEvent("ticket.issue", atena_no=item.atena_no, purpose=PURPOSE, detail={
                "job_id": ctx.job_id, "ticket_no": ticket.ticket_no, "vaccine": ticket.vaccine,
                "dose_no": ticket.dose_no, "issue_reason": "notice", "new": is_new}))
        audit.record_many(s, ctx.actor, events)

    # --- after the commit: the chunk's PDF file --------------------------------------------------------
    def write_output(self, s: Session, ctx: JobContext, chunk_no: int, units: list[str]) -> None:
        items = self._items(s, ctx, chunk_no)
        writer = SplitPdfWriter(Path(ctx.params["out_dir"]), file_stem(ctx.params), title="予防接種のお知らせ",
                                author=self.settings.municipality_name, max_units=len(items) + 1,
                                first_index=chunk_no + 1)
        for item in items:
            data = NoticeData.from_json(json.loads(item.printed))
            writer.add(lambda doc, data=data: (draw_notice_letter(doc, data), draw_questionnaire(doc, data)))
        for f in writer.close():
            log_print(s, ctx.actor, document=DOCUMENT, purpose=PURPOSE, rows=f.units, sha256=f.sha256,
                      detail={"job_id": ctx.job_id, "file": f.path.name, "pages": f.pages, "chunk": chunk_no,
                              "vaccine": ctx.params["vaccine"]})

    # --- the end: mailing list -------------------------------------------------------------------------
    def finish(self, s: Session, ctx: JobContext) -> dict:
        """mailing.csv, streamed one chunk of persons at a time (a wave of 1,000,000 persons is never in
        memory at once), hashed as it is written."""
        out = Path(ctx.params["out_dir"])
        private_dir(out)
        stem = file_stem(ctx.params)
        name = mailing_name(ctx.params)
        tmp = out / (name + ".part")
        digest = hashlib.sha256()
        persons = 0
        with open_private(tmp) as f:
            def put(rows: list) -> None:
                buf = io.StringIO()
                w = CsvWriter(buf)  # spreadsheet-safe: a name such as "=HYPERLINK(…)" is text in Excel
                for row in rows:
                    w.writerow(row)
                data = buf.getvalue().encode("utf-8")
                digest.update(data)
                f.write(data)

            digest.update(b"\xef\xbb\xbf")  # UTF-8 BOM: the file opens in Excel as UTF-8
            f.write(b"\xef\xbb\xbf")
            put([MAILING_HEADER])
            last = -1
            while True:
                chunk_rows = s.execute(select(NoticeItem.seq, NoticeItem.printed).join(
                    Ticket, Ticket.id == NoticeItem.ticket_id).where(NoticeItem.job_id == ctx.job_id,
                                                                     NoticeItem.seq > last)
                    .order_by(NoticeItem.seq).limit(ctx.chunk_size)).all()
                if not chunk_rows:
                    break
                lines = []
                for seq, printed in chunk_rows:
                    d = json.loads(printed)
                    chunk, pos = divmod(seq, ctx.chunk_size)
                    lines.append([seq + 1, f"{stem}-{chunk + 1:03d}.pdf", pos * 2 + 1, d["atena_no"], d["name"],
                                  d["postal_code"], d["address"], f"{d['line_name']} {d['term']}".strip(),
                                  d["dose_no"], d["ocr_line"]])
                put(lines)
                persons += len(chunk_rows)
                last = chunk_rows[-1][0]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out / name)
        log_print(s, ctx.actor, document=f"個別通知の発送一覧（{name}）", purpose=PURPOSE, rows=persons,
                  sha256=digest.hexdigest(), detail={"job_id": ctx.job_id, "file": name})
        files = sorted(out.glob(f"{stem}-*.pdf"))
        new = s.execute(select(func.count()).select_from(Ticket).where(Ticket.job_id == ctx.job_id)).scalar_one()
        return {"persons": persons, "new_tickets": new, "out_dir": str(out),
                "files": [{"name": f.name, "sha256": _file_sha256(f)} for f in files],
                "mailing_csv": {"name": name, "sha256": digest.hexdigest()}}


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_notices(db: Database, settings: Settings, *, actor: Actor, vaccine: str, as_of: date, within_days: int,
                out_dir: Path, per_file: int = 1000, max_chunks: int | None = None) -> JobOutcome:
    """Run (or resume, or report) the notice batch of this selection."""
    if not 1 <= per_file <= 5000:
        raise InvalidInput("1ファイルあたりの人数は1〜5000で指定してください")
    info = _line(db, vaccine, as_of)
    return run_job(db, NoticeJob(settings), actor=actor, key=job_key(info.code, as_of, within_days),
                   params=job_params(info.code, as_of, within_days, out_dir), chunk_size=per_file,
                   max_chunks=max_chunks)


def open_notices(db: Database, settings: Settings, *, actor: Actor, vaccine: str, as_of: date, within_days: int,
                 out_dir: Path, per_file: int = 1000) -> JobOutcome:
    """Plan the batch of this selection (or find it) for a background run; nothing is printed yet."""
    if not 1 <= per_file <= 5000:
        raise InvalidInput("1ファイルあたりの人数は1〜5000で指定してください")
    info = _line(db, vaccine, as_of)
    params = job_params(info.code, as_of, within_days, out_dir) | {"background": True}
    return open_job(db, NoticeJob(settings), actor=actor, key=job_key(info.code, as_of, within_days), params=params,
                    chunk_size=per_file)


def _line(db: Database, vaccine: str, as_of: date):
    with db.transaction() as s:  # the campaigns in force on as_of have lines too
        return line_info(vaccine, rules_on(s, as_of))


def continue_notices(db: Database, settings: Settings, *, actor: Actor, job_id: int,
                     resumed: bool = False) -> JobOutcome:
    return continue_job(db, NoticeJob(settings), actor=actor, job_id=job_id, resumed=resumed)


def interrupted_background_runs(db: Database) -> list[int]:
    """Batches started from the web that have not finished (the server stopped while they ran)."""
    with db.transaction() as s:
        rows = s.execute(select(BatchJob.id, BatchJob.params).where(BatchJob.kind == KIND,
                                                                    BatchJob.status == "running")).all()
    return [job_id for job_id, params in rows if json.loads(params).get("background")]
