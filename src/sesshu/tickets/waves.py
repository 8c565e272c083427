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

from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.bulk import bulk_insert
from sesshu.conditions.facts import conditions_on, load_spans
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.domain.errors import InvalidInput
from sesshu.domain.jdates import reach_age
from sesshu.jobs import JobContext, JobOutcome, run_job
from sesshu.tickets.catalog import line_info
from sesshu.tickets.models import NoticeItem, Ticket
from sesshu.tickets.notices import PURPOSE, NoticeJob, mailable_targets

KIND = "ticket_waves"
MAX_WAVE_SIZE = 5_000_000


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

    def plan(self, s: Session, ctx: JobContext) -> list[str]:
        p = ctx.params
        as_of = date.fromisoformat(p["as_of"])
        m = mailable_targets(s, ctx.actor, vaccine=p["vaccine"], as_of=as_of, within_days=0)
        line, rows = m.line, m.rows
        lo, hi = p["age_from"], p["age_to"]
        rows = [r for r in rows if in_band(r.birth_date, as_of, lo, hi)]
        if p["group"]:
            held = set()
            ids = [r.atena_no for r in rows]
            for i in range(0, len(ids), 5000):
                spans = load_spans(s, ids[i:i + 5000])
                held |= {a for a, sp in spans.items() if p["group"] in conditions_on(sp, as_of)}
            rows = [r for r in rows if r.atena_no in held]
        holding = {(a, n) for a, n in s.execute(select(Ticket.atena_no, Ticket.dose_no).where(
            Ticket.vaccine == line, Ticket.state.in_(("issued", "used"))))}
        waiting = [r for r in rows if (r.atena_no, r.line.next_dose or 1) not in holding]
        waiting.sort(key=lambda r: (r.birth_date, r.atena_no))  # oldest first
        chosen = waiting[:p["size"]]
        # Within the wave, post order (postal code, address) as for any notice batch.
        chosen.sort(key=lambda r: (r.postal_code, r.address, r.atena_no))
        items = [{"seq": i, "atena_no": r.atena_no, "vaccine": line, "next_dose": r.line.next_dose or 1,
                  "status": r.line.status, "earliest": r.line.earliest, "standard_from": r.line.standard_from,
                  "standard_until": r.line.standard_until, "legal_until": r.line.legal_until, "ticket_id": None,
                  "printed": ""} for i, r in enumerate(chosen)]
        if items:
            bulk_insert(s, NoticeItem.__table__, items, tuple(items[0]), constants={"job_id": ctx.job_id})
        selection = {"job_id": ctx.job_id, "vaccine": line, "as_of": p["as_of"], "wave": p["wave"],
                     "age_from": lo, "age_to": hi, "group": p["group"]}
        audit.record_many(s, ctx.actor, [audit.AuditEvent(
            "notice.select", atena_no=it["atena_no"], purpose=PURPOSE,
            detail={**selection, "next_dose": it["next_dose"], "status": it["status"]}) for it in items])
        audit.record(s, ctx.actor, "ticket_waves.plan", purpose=PURPOSE,
                     detail={**selection, "size": p["size"], "in_selection": len(rows),
                             "already_holding_ticket": len(rows) - len(waiting), "persons": len(items),
                             "outside_scope": m.outside_scope, "suspended_skipped": m.suspended,
                             "left_for_later_waves": len(waiting) - len(items)})
        return [it["atena_no"] for it in items]


def run_wave(db: Database, settings: Settings, *, actor: Actor, wave: Wave, out_dir: Path,
             per_file: int = 1000, max_chunks: int | None = None) -> JobOutcome:
    """Run (or resume, or report) one wave."""
    if not 1 <= per_file <= 5000:
        raise InvalidInput("1ファイルあたりの人数は1〜5000で指定してください")
    wave = Wave(**{**wave.__dict__, "vaccine": line_info(wave.vaccine).code})
    wave.check()
    return run_job(db, WaveJob(settings), actor=actor, key=wave.key(), params=wave.params(out_dir),
                   chunk_size=per_file, max_chunks=max_chunks)
