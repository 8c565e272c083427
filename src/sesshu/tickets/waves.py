"""接種券 in waves (段階的な発送): the 接種券 and 予診票 of one eligibility line for the next N persons of
a group or an age band, oldest first — as in 2021, when cities mailed tickets in stages so that
reservations were not swamped.

A wave is a notice batch (`sesshu.tickets.notices.NoticeJob`: the same kill-safe job, one chunk = one PDF
file, the tickets issued and audited per chunk, the PDFs and mailing.csv written after each commit) whose
plan is different: of the persons the schedule engine lists for the line on the day, those in the age band
(age on the day, whole years) and — when a group is named — holding that person condition on the day
(`sesshu.conditions`: how any priority group recorded for a person is kept), who do not hold a ticket for
the dose yet, ordered by birth date (oldest first), the first `size`. Wave k is planned once, under its own
key: re-running it after a kill resumes it; wave k+1 takes the next persons.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.bulk import bulk_insert
from sesshu.conditions.facts import conditions_on, load_spans
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.disclosure.suspension import log_refusals
from sesshu.domain.errors import InvalidInput
from sesshu.domain.jdates import reach_age
from sesshu.jobs import JobContext, JobOutcome, run_job
from sesshu.jobs.crash import crash_point
from sesshu.jobs.models import BatchJobUnit
from sesshu.registry.models import Person
from sesshu.tickets.catalog import line_info
from sesshu.tickets.models import NoticeItem, Ticket
from sesshu.tickets.notices import PURPOSE, NoticeJob, mailable_batches

KIND = "ticket_waves"
MAX_WAVE_SIZE = 5_000_000
# Residents per step of the plan (whole birth dates): a step holds about this many persons, whatever the
# size of the wave or of the city.
PERSONS_PER_BATCH = 2000


@dataclass(frozen=True)
class Wave:
    vaccine: str  # eligibility line (any line the engine knows)
    as_of: date
    number: int  # 1, 2, … (the operator's count of waves for this selection)
    size: int  # persons in this wave
    age_from: int | None = None  # age on as_of, whole years, inclusive
    age_to: int | None = None
    group: str = ""  # a person condition code the person must hold on as_of ("" = anyone)

    def check(self) -> None:
        if self.number < 1:
            raise InvalidInput("発送回（--wave）は1以上で指定してください")
        if not 1 <= self.size <= MAX_WAVE_SIZE:
            raise InvalidInput(f"1回の発送人数（--size）は1〜{MAX_WAVE_SIZE:,}で指定してください")
        for v in (self.age_from, self.age_to):
            if v is not None and not 0 <= v <= 130:
                raise InvalidInput("年齢は0〜130で指定してください")
        if self.age_from is not None and self.age_to is not None and self.age_from > self.age_to:
            raise InvalidInput("年齢の範囲が逆です（--age-from ≤ --age-to）")

    def key(self) -> str:
        band = f"{'' if self.age_from is None else self.age_from}-{'' if self.age_to is None else self.age_to}"
        return f"{KIND}:{self.vaccine}:{self.as_of.isoformat()}:{band}:{self.group}:{self.size}:{self.number}"

    def params(self, out_dir: Path) -> dict:
        return {"vaccine": self.vaccine, "as_of": self.as_of.isoformat(), "within_days": 0, "wave": self.number,
                "size": self.size, "age_from": self.age_from, "age_to": self.age_to, "group": self.group,
                "out_dir": str(Path(out_dir).resolve())}


def in_band(birth: date, day: date, age_from: int | None, age_to: int | None) -> bool:
    """Aged age_from..age_to on `day`, in whole years as the law counts them (reach(N歳), domain.jdates)."""
    return ((age_from is None or reach_age(birth, age_from) <= day)
            and (age_to is None or reach_age(birth, age_to + 1) > day))


class WaveJob(NoticeJob):
    kind = KIND
    label = "接種券の段階発送"

    def plan(self, s: Session, ctx: JobContext) -> int:
        """The wave's persons, streamed: the line's targets a few birth dates at a time, oldest first, each
        batch filtered (age band, group, ticket already held) and its chosen persons written at once; then, in
        SQL, the wave put in post order and its units and `notice.select` entries written chunk by chunk.
        Memory stays flat whatever the wave's size (no list of the wave or of the city is held); the plan is
        one transaction, so a kill leaves nothing and the same command plans it again."""
        p = ctx.params
        as_of = date.fromisoformat(p["as_of"])
        lo, hi, size = p["age_from"], p["age_to"], p["size"]
        line, batches = mailable_batches(s, ctx.actor, vaccine=p["vaccine"], as_of=as_of, within_days=0,
                                         persons_per_batch=PERSONS_PER_BATCH)
        n = {"in_selection": 0, "holding": 0, "chosen": 0, "outside_scope": 0}
        suspended: set[str] = set()
        for batch in batches:  # oldest first
            n["outside_scope"] += batch.outside_scope
            suspended |= batch.suspended
            rows = [r for r in batch.rows if in_band(r.birth_date, as_of, lo, hi)]
            if p["group"] and rows:
                spans = load_spans(s, [r.atena_no for r in rows])
                rows = [r for r in rows if p["group"] in conditions_on(spans.get(r.atena_no, ()), as_of)]
            if not rows:
                continue
            ids = [r.atena_no for r in rows]
            holding = {(a, d) for i in range(0, len(ids), 5000) for a, d in s.execute(
                select(Ticket.atena_no, Ticket.dose_no).where(Ticket.vaccine == line, Ticket.atena_no.in_(ids[i:i + 5000]),
                                                              Ticket.state.in_(("issued", "used"))))}
            waiting = [r for r in rows if (r.atena_no, r.line.next_dose or 1) not in holding]
            n["in_selection"] += len(rows)
            n["holding"] += len(rows) - len(waiting)
            take = waiting[:max(0, size - n["chosen"])]
            if take:  # staged under negative numbers in the order chosen; renumbered below
                bulk_insert(s, NoticeItem.__table__, [_item(-1 - n["chosen"] - i, line, r) for i, r in enumerate(take)],
                            _ITEM_COLUMNS, constants={"job_id": ctx.job_id})
                n["chosen"] += len(take)
                crash_point("plan", s)  # a kill here: the plan's transaction is lost whole, the next run plans anew
        _post_order(s, ctx.job_id)
        selection = {"job_id": ctx.job_id, "vaccine": line, "as_of": p["as_of"], "wave": p["wave"],
                     "age_from": lo, "age_to": hi, "group": p["group"]}
        # On record last (same transaction): the audit chain's head is not held while the line is evaluated.
        last = -1
        while True:
            chunk = s.execute(select(NoticeItem.seq, NoticeItem.atena_no, NoticeItem.next_dose, NoticeItem.status)
                              .where(NoticeItem.job_id == ctx.job_id, NoticeItem.seq > last)
                              .order_by(NoticeItem.seq).limit(5000)).all()
            if not chunk:
                break
            audit.record_many(s, ctx.actor, [audit.AuditEvent(
                "notice.select", atena_no=atena_no, purpose=PURPOSE,
                detail={**selection, "next_dose": next_dose, "status": status})
                for _seq, atena_no, next_dose, status in chunk])
            last = chunk[-1][0]
        if suspended:  # 利用停止: each skip on record, as for any notice batch
            log_refusals(s, ctx.actor, sorted(suspended), use="notices.select", detail={"vaccine": line})
        waiting = n["in_selection"] - n["holding"]
        audit.record(s, ctx.actor, "ticket_waves.plan", purpose=PURPOSE,
                     detail={**selection, "size": size, "in_selection": n["in_selection"],
                             "already_holding_ticket": n["holding"], "persons": n["chosen"],
                             "outside_scope": n["outside_scope"], "suspended_skipped": len(suspended),
                             "left_for_later_waves": waiting - n["chosen"]})
        return n["chosen"]


_ITEM_COLUMNS = ("seq", "atena_no", "vaccine", "next_dose", "status", "earliest", "standard_from", "standard_until",
                 "legal_until", "ticket_id", "printed")


def _item(seq: int, line: str, r) -> dict:
    return {"seq": seq, "atena_no": r.atena_no, "vaccine": line, "next_dose": r.line.next_dose or 1,
            "status": r.line.status, "earliest": r.line.earliest, "standard_from": r.line.standard_from,
            "standard_until": r.line.standard_until, "legal_until": r.line.legal_until, "ticket_id": None,
            "printed": ""}


def _post_order(s: Session, job_id: int) -> None:
    """The staged persons (negative numbers) renumbered 0… in post order (postal code, address, 宛名番号),
    as for any notice batch, and the job's units written from them — in the database, not in memory."""
    n, p = NoticeItem.__table__, Person.__table__
    staged = n.c.job_id == job_id
    on_sqlite = s.get_bind().dialect.name == "sqlite"
    if on_sqlite:  # sesshu keeps SQLite's temporary storage in memory: the sort of a 1,000,000-person wave
        s.execute(text("PRAGMA temp_store=FILE"))  # goes to a deleted-on-open file instead (PostgreSQL: work_mem)
    try:
        _renumber(s, n, p, staged)
    finally:
        if on_sqlite:
            s.execute(text("PRAGMA temp_store=MEMORY"))


def _renumber(s: Session, n, p, staged) -> None:
    order = func.row_number().over(order_by=(p.c.postal_code, p.c.address, n.c.atena_no)) - 1
    copy = ("atena_no", "vaccine", "next_dose", "status", "earliest", "standard_from", "standard_until",
            "legal_until", "printed")
    s.execute(n.insert().from_select(
        ("job_id", "seq", *copy),
        select(n.c.job_id, order, *(n.c[c] for c in copy)).join(p, p.c.atena_no == n.c.atena_no)
        .where(staged, n.c.seq < 0)))
    s.execute(delete(n).where(staged, n.c.seq < 0))
    u = BatchJobUnit.__table__
    s.execute(u.insert().from_select(("job_id", "seq", "unit_key"),
                                     select(n.c.job_id, n.c.seq, n.c.atena_no).where(staged)))


def run_wave(db: Database, settings: Settings, *, actor: Actor, wave: Wave, out_dir: Path,
             per_file: int = 1000, max_chunks: int | None = None) -> JobOutcome:
    """Run (or resume, or report) one wave."""
    if not 1 <= per_file <= 5000:
        raise InvalidInput("1ファイルあたりの人数は1〜5000で指定してください")
    wave = Wave(**{**wave.__dict__, "vaccine": line_info(wave.vaccine).code})
    wave.check()
    return run_job(db, WaveJob(settings), actor=actor, key=wave.key(), params=wave.params(out_dir),
                   chunk_size=per_file, max_chunks=max_chunks)
