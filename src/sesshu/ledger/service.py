"""Use cases of the vaccination ledger. Each function owns its transaction and its audit rows."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timezone
from itertools import count
from pathlib import Path
from typing import Callable

from sqlalchemy import bindparam, literal, null, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.access.tasks import VACCINATION_TASKS
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.bulk import bulk_copy_skipping_conflicts
from sesshu.clock import JST, today_jst, utcnow
from sesshu.conditions.facts import load_spans
from sesshu.conditions.service import person_conditions, record_self_declared, self_declared_group
from sesshu.config import Settings
from sesshu.db import Database, get_row
from sesshu.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from sesshu.domain.text import clean
from sesshu.imports.batch import ImportSummary, close_batch, open_batch
from sesshu.imports.csvfile import CsvSource, RejectWriter, inspect_file
from sesshu.jobs.crash import crash_point
from sesshu.ledger.counts import InsertCounts
from sesshu.ledger.evaluation import (
    PersonEvaluation,
    RecordVerdict,
    clear_queue,
    evaluate_rows,
    lot_products,
    queue_persons,
    reevaluate_persons,
    take_queue,
)
from sesshu.ledger.models import (
    Doctor,
    Institution,
    Manufacturer,
    VaccinationRecord,
    VaccinationRecordHistory,
    Vaccine,
    Venue,
)
from sesshu.ledger.rows import RECORD_HEADERS, RECORD_REQUIRED, Masters, parse_record_row, vaccine_name_key
from sesshu.ledger.schemas import RecordOut
from sesshu.keys import load_keyring
from sesshu.pregnancy.facts import load_pregnancies, person_pregnancies
from sesshu.registry.models import Person
from sesshu.registry.schemas import PersonOut
from sesshu.registry.service import reveal_last4
from sesshu.registry.rows import RowError
from sesshu.tickets import links as ticket_links
from sesshu.rulesets.active import rule_book

# The columns a 予診票 row fills; the rest are the batch's constants (see import_records).
_ROW_COLUMNS = (
    "atena_no", "vaccine_code", "vaccinated_on", "vaccination_time", "category", "screening_result", "dose_no", "institution_code",
    "doctor_code", "screening_institution_code", "screening_doctor_code", "venue_code", "manufacturer_code", "term",
    "lot_no", "first_product", "dt_kind", "former_municipality", "remarks", "dose_volume_ml", "billing_month",
    "ticket_no",
)
DUPLICATE_REASON = "重複: 同じ方・同じ接種種別・同じ接種年月日の記録が既にあります"


def load_masters(s: Session) -> Masters:
    """The codes a 予診票 may name, in one round trip (a venue station reads them with every dose)."""
    kinds = {"vaccine": Vaccine, "institution": Institution, "doctor": Doctor, "venue": Venue,
             "manufacturer": Manufacturer}
    parts = [select(literal("vaccine").label("kind"), Vaccine.code, Vaccine.default_category.label("category"),
                    Vaccine.name).where(Vaccine.active)]
    parts += [select(literal(kind), model.code, null(), null()) for kind, model in kinds.items() if kind != "vaccine"]
    codes: dict[str, set[str]] = {kind: set() for kind in kinds}
    vaccines, names = {}, {}
    for kind, code, category, name in s.execute(union_all(*parts)):
        if kind == "vaccine":
            vaccines[code] = category
            names[vaccine_name_key(name)] = code
        else:
            codes[kind].add(code)
    return Masters(vaccines=vaccines, institutions=frozenset(codes["institution"]),
                   doctors=frozenset(codes["doctor"]), venues=frozenset(codes["venue"]),
                   manufacturers=frozenset(codes["manufacturer"]), vaccine_names=names)


def import_records(db: Database, settings: Settings, *, path: Path, actor: Actor,
                   rejects_path: Path | None = None,
                   progress: Callable[[int], None] | None = None, evaluate: bool = False) -> ImportSummary:
    """Import a batch of 予診票 rows returned by clinics.

    Good rows are stored, bad rows go to the rejects file with their line number and a Japanese
    reason, rows already on the ledger are counted as duplicates. The file is one transaction: a
    crash or kill part-way leaves no half batch, and importing the same file again stores nothing.
    evaluate: the schedule engine judges every person the file wrote, once each, after the last chunk
    and in the same transaction (their records' エラーコード, a `records.evaluate` entry); otherwise
    they are queued for it (evaluate_pending), as the other imports queue theirs.
    progress, if given, is called with the rows read so far after each chunk (the web's progress bar).
    """
    facts = inspect_file(path)
    source = CsvSource(path, facts=facts, required=RECORD_REQUIRED, known=RECORD_HEADERS)
    rejects = RejectWriter(rejects_path)
    today = today_jst()
    try:
        with db.transaction() as s:
            # Only for the persons of the uploader's vaccination 事務; a row for anyone else is refused
            # exactly like a row for a person who does not exist, so the rejects file reveals nothing.
            scoped = access.scoped(s, actor, tasks=VACCINATION_TASKS)
            masters = load_masters(s)
            batch = open_batch(s, kind="records", path=path, facts=facts, actor=actor)
            summary = ImportSummary(batch_id=batch.id, file=path.name, encoding=facts.encoding)
            stamp = {"status": "active", "version": 1, "import_batch_id": batch.id, "created_by": actor.label,
                     "error_code": "", "tuberculin_result": "", "tuberculin_state": "",
                     "tuberculin_size_v": None, "tuberculin_size_h": None}  # + created_at/updated_at per chunk

            counts = InsertCounts(s)
            chunk: list = []
            queued: set[str] = set()
            written: set[str] = set()
            declared: list[str] = []  # persons whose 基礎疾患 (self-declared) this import recorded
            for row in source.rows():
                summary.read += 1
                rejects.header = source.header
                if row.problem:
                    summary.rejected += 1
                    rejects.write(row.line_no, "エラー", row.problem, row.raw)
                    continue
                try:
                    chunk.append((row, parse_record_row(row.values, masters=masters, today=today)))
                except RowError as e:
                    summary.rejected += 1
                    rejects.write(row.line_no, "エラー", str(e), row.raw)
                if len(chunk) >= settings.import_chunk_rows:
                    _store_chunk(s, chunk, stamp, summary, rejects, queued, settings.municipality_code, scoped, written,
                                 actor=actor, source=path.name, declared_recorded=declared, counts=counts,
                                 queue=not evaluate)
                    rejects.flush()
                    chunk = []
                    if progress is not None:
                        progress(summary.read)
            rejects.header = source.header
            if chunk:
                _store_chunk(s, chunk, stamp, summary, rejects, queued, settings.municipality_code, scoped, written,
                             actor=actor, source=path.name, declared_recorded=declared, counts=counts,
                             queue=not evaluate)
            counts.close()
            if evaluate:
                _evaluate_written(s, actor, sorted(written), today, summary)
            close_batch(batch, summary)
            audit.record(s, actor, "records.import", purpose="予診票の取込",
                         detail={"batch_id": batch.id, "file": path.name, "sha256": facts.sha256,
                                 "read": summary.read, "accepted": summary.accepted,
                                 "rejected": summary.rejected, "duplicates": summary.duplicates,
                                 "persons": len(written), "underlying_condition_recorded": len(declared)})
            # One entry per person written, so the import shows in each person's log.
            audit.record_many(s, actor, [audit.AuditEvent("records.import", a, "予診票の取込",
                                                          {"batch_id": batch.id, "file": path.name})
                                         for a in sorted(written)])
    finally:
        rejects.close()
    return summary


EVALUATE_BATCH = 2000  # persons per history query, as evaluate_pending takes them


def _evaluate_written(s: Session, actor: Actor, persons: list[str], as_of: date, summary: ImportSummary) -> None:
    """The schedule engine for every person the import wrote, once each, with all their records (the file's
    and the ledger's): what evaluate_pending would store, inside the import's transaction. A person who
    was on the queue for another reason leaves it, judged now on everything they have."""
    changed = 0
    for i in range(0, len(persons), EVALUATE_BATCH):
        part = persons[i:i + EVALUATE_BATCH]
        changed += reevaluate_persons(s, part, as_of)
        clear_queue(s, part)
        crash_point(f"import-evaluate:{i // EVALUATE_BATCH}", s)
    summary.evaluated = len(persons)
    summary.error_codes_changed = changed
    if persons:
        audit.record(s, actor, "records.evaluate", purpose="接種記録の判定（エラーコード）",
                     detail={"persons": len(persons), "records_changed": changed, "as_of": as_of,
                             "batch_id": summary.batch_id})


def store_parsed_rows(s: Session, rows: list, *, batch_id: int, actor: Actor, summary: ImportSummary,
                      rejects, queued: set[str], municipality: str, written: set[str] | None = None) -> None:
    """Store rows already parsed by parse_record_row, as import_records does (for other file formats),
    券番号 checked against this municipality's tickets as in the CSV import.

    `rows`: (row, fields) pairs; a row has `line_no` and `raw` (what a reject line shows).
    """
    stamp = {"status": "active", "version": 1, "import_batch_id": batch_id, "created_by": actor.label,
             "error_code": "", "tuberculin_result": "", "tuberculin_state": "",
             "tuberculin_size_v": None, "tuberculin_size_h": None}
    if rows:
        _store_chunk(s, rows, stamp, summary, rejects, queued, municipality,
                     access.scoped(s, actor, tasks=VACCINATION_TASKS), set() if written is None else written,
                     actor=actor, source=f"取込 {batch_id}", declared_recorded=[])


def _store_chunk(s: Session, chunk: list, stamp: dict, summary: ImportSummary, rejects: RejectWriter,
                 queued: set[str], municipality: str, scoped: access.Scoped, written: set[str], *, actor: Actor,
                 source: str, declared_recorded: list[str], counts: InsertCounts | None = None,
                 queue: bool = True) -> None:
    conn = s.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    atena_nos = list({f["atena_no"] for _, f in chunk})
    # Plain SQL here: compiling thousands of bound parameters through the ORM costs more than the query.
    in_scope = scoped.visible(atena_nos)
    births = {a: (date.fromisoformat(b) if isinstance(b, str) else b) for a, b in conn.exec_driver_sql(
        f"SELECT atena_no, birth_date FROM person WHERE atena_no IN ({','.join([mark] * len(atena_nos))})",
        tuple(atena_nos)).all() if a in in_scope}
    now = utcnow()
    inserts, lines = [], []
    for row, f in chunk:
        birth = births.get(f["atena_no"])
        if birth is None:
            summary.rejected += 1
            rejects.write(row.line_no, "エラー", f"宛名番号 {f['atena_no']} の方が住民記録にありません", row.raw)
            continue
        if f["vaccinated_on"] < birth:
            summary.rejected += 1
            rejects.write(row.line_no, "エラー", f"接種年月日が生年月日（{birth.isoformat()}）より前です", row.raw)
            continue
        inserts.append(f)
        lines.append(row)
    # 券番号: this person's ticket, for this vaccine, not used or invalidated (sesshu.tickets.links).
    tickets = ticket_links.check_chunk(s, inserts, line_nos=[r.line_no for r in lines], municipality=municipality)
    if tickets.reasons:
        for i in sorted(tickets.reasons):
            summary.rejected += 1
            rejects.write(lines[i].line_no, "エラー", tickets.reasons[i], lines[i].raw)
        keep = [i for i in range(len(inserts)) if i not in tickets.reasons]
        inserts, lines = [inserts[i] for i in keep], [lines[i] for i in keep]
        tickets.ticket_ids = [tickets.ticket_ids[i] for i in keep]
    group = None
    if any("underlying" in f for f in inserts):
        # 基礎疾患 written on the 予診票: the campaign's self-declared priority group, recorded with the row.
        group = self_declared_group(s)
        if group is None:
            keep = [i for i, f in enumerate(inserts) if "underlying" not in f]
            for i in sorted(set(range(len(inserts))) - set(keep)):
                summary.rejected += 1
                rejects.write(lines[i].line_no, "エラー", "基礎疾患の記載で確認する接種順位の群が適用中の実施計画に"
                              "ありません（基礎疾患の列を空にしてください）", lines[i].raw)
            inserts, lines = [inserts[i] for i in keep], [lines[i] for i in keep]
            tickets.ticket_ids = [tickets.ticket_ids[i] for i in keep]
    if not inserts:
        return
    last_id = conn.exec_driver_sql("SELECT max(id) FROM vaccination_record").scalar() or 0
    # The partial unique index (person, vaccine, date among active records) decides duplicates,
    # against the ledger and within the file alike; only when it skipped rows do we ask which.
    # In 宛名番号 order (the ledger's indexes lead with it); stable, so of two rows with the same key the
    # one earlier in the file is still the one stored.
    order = sorted(range(len(inserts)), key=lambda i: (inserts[i]["atena_no"], inserts[i]["vaccinated_on"]))
    stored = bulk_copy_skipping_conflicts(s, VaccinationRecord.__table__, inserts, _ROW_COLUMNS,
                                          constants={**stamp, "created_at": now, "updated_at": now}, order=order)
    if counts is not None:
        counts.added(now, stored)
    if stored < len(inserts):
        fresh = {(a, v, date.fromisoformat(d) if isinstance(d, str) else d) for a, v, d in conn.exec_driver_sql(
            "SELECT atena_no, vaccine_code, vaccinated_on FROM vaccination_record "
            f"WHERE id > {mark} AND import_batch_id = {mark}", (last_id, stamp["import_batch_id"])).all()}
        written.update(a for a, _, _ in fresh)
        for row, f in zip(lines, inserts):
            key = (f["atena_no"], f["vaccine_code"], f["vaccinated_on"])
            if key in fresh:
                fresh.discard(key)  # the first row with this key is the one stored
            else:
                summary.duplicates += 1
                rejects.write(row.line_no, "重複", DUPLICATE_REASON, row.raw)
    else:
        written.update(f["atena_no"] for f in inserts)
    summary.accepted += stored
    if tickets.any:
        ids = {(a, v, date.fromisoformat(d) if isinstance(d, str) else d): rid for rid, a, v, d in conn.exec_driver_sql(
            "SELECT id, atena_no, vaccine_code, vaccinated_on FROM vaccination_record "
            f"WHERE id > {mark} AND import_batch_id = {mark} AND ticket_no <> ''",
            (last_id, stamp["import_batch_id"])).all()}
        pairs, taken = [], set()
        for f, tid in zip(inserts, tickets.ticket_ids):
            rid = ids.get((f["atena_no"], f["vaccine_code"], f["vaccinated_on"])) if tid else None
            if rid is not None and rid not in taken:  # a duplicate row of the file links nothing
                taken.add(rid)
                pairs.append((tid, rid))
        ticket_links.mark_used(s, pairs)
    if group is not None:
        stored_keys = {(a, v, date.fromisoformat(d) if isinstance(d, str) else d) for a, v, d in conn.exec_driver_sql(
            "SELECT atena_no, vaccine_code, vaccinated_on FROM vaccination_record "
            f"WHERE id > {mark} AND import_batch_id = {mark}", (last_id, stamp["import_batch_id"])).all()}
        declared = []
        for f in inserts:
            key = (f["atena_no"], f["vaccine_code"], f["vaccinated_on"])
            if key in stored_keys:
                stored_keys.discard(key)  # the first row with this key is the one stored; a duplicate declares nothing
                if "underlying" in f:
                    declared.append((f["atena_no"], f["underlying"]))
        declared_recorded.extend(record_self_declared(
            s, actor, declared, group=group, source=source, confirmed_on=today_jst()))
    if not queue:
        return  # judged once each at the end of the import (_evaluate_written)
    # Each person once per import (bounded by the city's size, not the file's).
    fresh_persons = [a for a in dict.fromkeys(f["atena_no"] for f in inserts) if a not in queued]
    queued.update(fresh_persons)
    queue_persons(s, fresh_persons, now)


def person_records(s: Session, atena_no: str, *, include_voided: bool = False) -> list[RecordOut]:
    q = select(VaccinationRecord).where(VaccinationRecord.atena_no == atena_no)
    if not include_voided:
        q = q.where(VaccinationRecord.status == "active")
    rows = s.execute(q.order_by(VaccinationRecord.vaccinated_on, VaccinationRecord.id)).scalars().all()
    products = lot_products(s, (r.lot_no for r in rows))
    out = [RecordOut.model_validate(r, from_attributes=True) for r in rows]
    for r in out:
        r.product = products.get(r.lot_no)
    return out


@dataclass
class Correction:
    """A 職権修正: the new values of some fields, the reason, and the version the clerk saw."""

    record_id: int
    expected_version: int
    reason: str
    changes: dict


MAX_REASON = 400  # vaccination_record_history.reason
CORRECTABLE = {
    "vaccine_code", "term", "dose_no", "category", "vaccinated_on", "vaccination_time", "screening_result",
    "institution_code",
    "doctor_code", "screening_institution_code", "screening_doctor_code", "venue_code", "manufacturer_code",
    "lot_no", "dose_volume_ml", "billing_month", "first_product", "dt_kind", "former_municipality", "ticket_no",
    "tuberculin_result", "tuberculin_size_v", "tuberculin_size_h", "tuberculin_state", "remarks",
}


def _snapshot(r: VaccinationRecord, names) -> str:
    return json.dumps({k: getattr(r, k) for k in sorted(names)}, ensure_ascii=False, default=str)


def correct_record(db: Database, settings: Settings, *, actor: Actor, correction: Correction,
                   own_day_only: bool = False) -> RecordOut:
    """職権修正: change fields of a record, keeping the old values and the reason in its history.
    own_day_only: the caller may only correct a record they entered by hand today (own_day_editable).

    A new 券番号 (or 接種種別) is checked against the city's tickets as an import checks it; the ticket
    the record used before is released (sesshu.tickets.links.link_ticket)."""
    if not correction.reason.strip():
        raise InvalidInput("修正理由を入力してください")
    _check_reason_length(correction.reason, "修正理由")
    unknown = set(correction.changes) - CORRECTABLE
    if unknown:
        raise InvalidInput(f"修正できない項目です: {', '.join(sorted(unknown))}")
    with db.transaction() as s:
        # Locked: a second clerk saving the same version waits here and then sees the newer version.
        r = get_row(s, VaccinationRecord, correction.record_id, with_for_update=True)
        if r is None or r.status != "active":
            _raise_if_voided_meanwhile(s, actor, r, correction.expected_version)
            raise NotFound("指定の接種記録はありません（取消済みの可能性があります）")
        access.check_visible(s, actor, r.atena_no, record_id=r.id,
                             message="指定の接種記録はありません（取消済みの可能性があります）")
        _check_own_day(r, actor, own_day_only)
        if r.version != correction.expected_version:
            raise version_conflict(s, r, correction.expected_version)
        _check_codes(s, correction.changes)
        new_date = correction.changes.get("vaccinated_on", r.vaccinated_on)
        if new_date > today_jst():
            raise InvalidInput("接種年月日が未来の日付です")
        changed = {k: v for k, v in correction.changes.items() if getattr(r, k) != v}
        if not changed:
            raise InvalidInput("変更された項目がありません")
        s.add(VaccinationRecordHistory(record_id=r.id, version=r.version, action="correct", changed_at=utcnow(),
                                       changed_by=actor.label, reason=correction.reason.strip(),
                                       old_values=_snapshot(r, changed)))
        for k, v in changed.items():
            setattr(r, k, v)
        r.updated_at = utcnow()
        s.flush()
        tickets = (ticket_links.link_ticket(s, actor, r, municipality=settings.municipality_code,
                                            purpose="職権修正", why="record.correct")
                   if {"ticket_no", "vaccine_code"} & set(changed) else [])
        reevaluate_persons(s, [r.atena_no], today_jst())
        s.refresh(r)
        audit.record(s, actor, "record.correct", atena_no=r.atena_no,
                     purpose="入力者による当日の訂正" if own_day_only else "職権修正",
                     detail={"record_id": r.id, "fields": sorted(changed), "reason": correction.reason.strip(),
                             "own_day": own_day_only})
        audit.record_many(s, actor, tickets)
        return RecordOut.model_validate(r, from_attributes=True)


def _text(value) -> str:
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def version_conflict(s: Session, r: VaccinationRecord, seen_version: int) -> Conflict:
    """The Japanese conflict for a clerk who saved version `seen_version` of a record that has moved on:
    it carries the record's current values, who changed it last and when."""
    last = s.execute(select(VaccinationRecordHistory).where(VaccinationRecordHistory.record_id == r.id)
                     .order_by(VaccinationRecordHistory.version.desc()).limit(1)).scalar_one_or_none()
    by = last.changed_by if last else r.created_by
    at = (last.changed_at if last else r.updated_at)
    at_jst = at.replace(tzinfo=timezone.utc).astimezone(JST).strftime("%Y-%m-%d %H:%M") if at else ""
    current = {"record_id": r.id, "version": r.version, "seen_version": seen_version, "status": r.status,
               "changed_by": by, "changed_at": at_jst, "reason": last.reason if last else "",
               "values": {k: _text(getattr(r, k)) for k in sorted(CORRECTABLE)}}
    state = "取り消しました" if r.status != "active" else "更新しました"
    return Conflict(f"他の職員（{by}）がこの記録を先に{state}（あなたが見た版 {seen_version}、現在の版 {r.version}）。"
                    "あなたの修正は保存していません。現在の値を確認し、必要なら現在の版に対して修正し直してください",
                    current=current)


def _raise_if_voided_meanwhile(s: Session, actor: Actor, r: VaccinationRecord | None, seen_version: int) -> None:
    """A record another clerk voided after this one opened it: say so (to whoever may see it), not 'not found'."""
    if r is not None and r.status != "active" and r.version != seen_version:
        access.check_visible(s, actor, r.atena_no, record_id=r.id,
                             message="指定の接種記録はありません（取消済みの可能性があります）")
        raise version_conflict(s, r, seen_version)


OWN_DAY_ONLY = ("本日ご自身が手入力した記録だけを訂正・取消できます。"
                "それ以外の記録は上長に職権修正を依頼してください")


def own_day_editable(r, actor: Actor) -> bool:
    """A clerk may correct or void, without the supervisor's 職権修正, a record they typed in by hand
    themselves today (Japan time): the mistake of the moment, put right before anything is built on it."""
    if r.import_batch_id is not None or r.created_by != actor.label or r.created_at is None:
        return False
    return r.created_at.replace(tzinfo=timezone.utc).astimezone(JST).date() == today_jst()


def _check_own_day(r, actor: Actor, own_day_only: bool) -> None:
    if own_day_only and not own_day_editable(r, actor):
        raise Forbidden(OWN_DAY_ONLY)


def _check_reason_length(reason: str, label: str) -> None:
    """The history keeps at most MAX_REASON characters; the pages and the CLI send whatever was typed."""
    if len(reason.strip()) > MAX_REASON:
        raise InvalidInput(f"{label}は{MAX_REASON}文字以内で入力してください")


def void_record(db: Database, *, actor: Actor, record_id: int, expected_version: int, reason: str,
                purpose: str = "職権修正", only_if: Callable[[VaccinationRecord], None] | None = None,
                own_day_only: bool = False) -> None:
    """Take a wrong record off the ledger without deleting it; the ticket it used is valid again.
    `only_if`, given the locked record, raises to refuse (a venue's undo: only its own fresh record).
    own_day_only: as in correct_record."""
    if own_day_only:
        purpose = "入力者による当日の取消"
    if not reason.strip():
        raise InvalidInput("取消理由を入力してください")
    _check_reason_length(reason, "取消理由")
    with db.transaction() as s:
        r = get_row(s, VaccinationRecord, record_id, with_for_update=True)
        if r is None or r.status != "active":
            _raise_if_voided_meanwhile(s, actor, r, expected_version)
            raise NotFound("指定の接種記録はありません（取消済みの可能性があります）")
        access.check_visible(s, actor, r.atena_no, record_id=r.id,
                             message="指定の接種記録はありません（取消済みの可能性があります）")
        _check_own_day(r, actor, own_day_only)
        if r.version != expected_version:
            raise version_conflict(s, r, expected_version)
        if only_if is not None:
            only_if(r)
        s.add(VaccinationRecordHistory(record_id=r.id, version=r.version, action="void", changed_at=utcnow(),
                                       changed_by=actor.label, reason=reason.strip(),
                                       old_values=_snapshot(r, ["status"])))
        r.status = "voided"
        r.updated_at = utcnow()
        s.flush()
        tickets = ticket_links.release_ticket(s, actor, r.id, purpose=f"{purpose}（接種記録の取消）", why="record.void")
        reevaluate_persons(s, [r.atena_no], today_jst())
        audit.record(s, actor, "record.void", atena_no=r.atena_no, purpose=purpose,
                     detail={"record_id": r.id, "reason": reason.strip(), "own_day": own_day_only})
        audit.record_many(s, actor, tickets)


def record_for_edit(db: Database, *, actor: Actor, record_id: int, own_day_only: bool = False) -> RecordOut:
    """One active record for its correction page (職権修正・取消・付け替え): only for staff who may see its
    person, and on record as a view of that person's data. own_day_only: as in correct_record."""
    with db.transaction() as s:
        r = get_row(s, VaccinationRecord, record_id)
        if r is None or r.status != "active":
            raise NotFound("指定の接種記録はありません（取消済みの可能性があります）")
        access.check_visible(s, actor, r.atena_no, record_id=r.id, message="指定の接種記録はありません")
        _check_own_day(r, actor, own_day_only)
        audit.record(s, actor, "record.edit_view", atena_no=r.atena_no, purpose="接種記録の職権修正（記録の表示）",
                     detail={"record_id": r.id})
        return RecordOut.model_validate(r, from_attributes=True)


def record_history(db: Database, *, actor: Actor, record_id: int) -> list[dict]:
    with db.transaction() as s:
        r = get_row(s, VaccinationRecord, record_id)
        if r is None:
            raise NotFound("指定の接種記録はありません")
        access.check_visible(s, actor, r.atena_no, record_id=r.id, message="指定の接種記録はありません")
        rows = s.execute(select(VaccinationRecordHistory).where(VaccinationRecordHistory.record_id == record_id)
                         .order_by(VaccinationRecordHistory.id)).scalars().all()
        audit.record(s, actor, "record.history_view", atena_no=r.atena_no, purpose="接種記録の修正履歴の確認",
                     detail={"record_id": record_id})
        return [dict(version=h.version, action=h.action, changed_at=h.changed_at.isoformat(), changed_by=h.changed_by,
                     reason=h.reason, old_values=json.loads(h.old_values)) for h in rows]


def _check_codes(s: Session, changes: dict) -> None:
    masters = load_masters(s)
    checks = {
        "vaccine_code": (masters.vaccines, "接種種別"),
        "institution_code": (masters.institutions, "接種医療機関コード"),
        "screening_institution_code": (masters.institutions, "予診医療機関コード"),
        "doctor_code": (masters.doctors, "接種医師コード"),
        "screening_doctor_code": (masters.doctors, "予診医師コード"),
        "venue_code": (masters.venues, "実施場所コード"),
        "manufacturer_code": (masters.manufacturers, "ワクチン会社"),
    }
    for k, (known, label) in checks.items():
        v = changes.get(k)
        if v and v not in known:
            raise InvalidInput(f"{label}「{v}」はマスタに登録されていません")



@dataclass
class PersonHistory:
    person: PersonOut
    records: list[RecordOut]
    verdicts: dict[int, RecordVerdict]
    eligibility: list
    as_of: date
    names: dict[str, dict[str, str]]  # master names for the codes on these records
    conditions: list  # ConditionOut rows (sesshu.conditions), newest first, history included
    household: list = field(default_factory=list)  # HouseholdMember: others with the same 世帯番号
    pregnancies: list = field(default_factory=list)  # PregnancyOut rows (妊娠届), newest first


@dataclass(frozen=True)
class HouseholdMember:
    atena_no: str
    name: str
    name_kana: str
    sex: str
    birth_date: date
    relationship: str
    registry_status: str


def _household(s: Session, actor: Actor, p: Person, limit: int = 30) -> list[HouseholdMember]:
    """The other members of the person's household that the actor's 事務 may see."""
    if not p.household_no:
        return []
    q = select(Person.atena_no, Person.name, Person.name_kana, Person.sex, Person.birth_date, Person.relationship,
               Person.registry_status).where(Person.household_no == p.household_no, Person.atena_no != p.atena_no)
    visible = access.person_filter(access.scope_of(s, actor), Person.atena_no)
    if visible is not None:
        q = q.where(visible)
    return [HouseholdMember(*r) for r in s.execute(q.order_by(Person.birth_date, Person.atena_no).limit(limit))]


def person_history(db: Database, settings: Settings, *, actor: Actor, atena_no: str,
                   purpose: str = "接種履歴の確認") -> PersonHistory:
    """A person's registry facts and vaccination history; the view is audited."""
    keys = load_keyring(settings)
    with db.transaction() as s:
        p = s.get(Person, atena_no)
        if p is not None:
            access.check_visible(s, actor, atena_no)
        if p is None:
            # A look-up of a number that does not exist is on record too (probing for persons).
            audit.record(s, actor, "person.view_missing", atena_no=atena_no, purpose=purpose)
            found = None
        else:
            records = person_records(s, atena_no)
            as_of = today_jst()
            pregnancies = person_pregnancies(s, atena_no, as_of) if p.sex == "F" else []
            result: PersonEvaluation = evaluate_rows(
                p.birth_date, p.sex, records, as_of, spans=load_spans(s, [atena_no]).get(atena_no, ()),
                pregnancies=[g.expected_delivery for g in pregnancies if g.status == "active"], book=rule_book(s))
            household = _household(s, actor, p)
            detail = {"records": len(records)}
            if pregnancies:  # 妊娠届 are shown: their viewing is on record like the rest
                detail["pregnancies"] = len(pregnancies)
            if household:  # their names and birth dates are on the page too
                detail["household"] = [m.atena_no for m in household]
            audit.record(s, actor, "person.view", atena_no=atena_no, purpose=purpose, detail=detail)
            found = PersonHistory(person=PersonOut.from_row(p, reveal_last4(keys, p)), records=records,
                                  verdicts=result.verdicts, eligibility=result.eligibility, as_of=as_of,
                                  names=_master_names(s, records), conditions=person_conditions(s, atena_no, as_of),
                                  household=household, pregnancies=pregnancies)
    if found is None:
        raise NotFound(f"宛名番号 {atena_no} の方は登録されていません")
    return found


def _master_names(s: Session, records: list[RecordOut]) -> dict[str, dict[str, str]]:
    wanted = {
        "institution": (Institution, {c for r in records for c in (r.institution_code, r.screening_institution_code) if c}),
        "doctor": (Doctor, {c for r in records for c in (r.doctor_code, r.screening_doctor_code) if c}),
        "venue": (Venue, {r.venue_code for r in records if r.venue_code}),
        "manufacturer": (Manufacturer, {r.manufacturer_code for r in records if r.manufacturer_code}),
    }
    return {kind: dict(s.execute(select(model.code, model.name).where(model.code.in_(codes))).all()) if codes else {}
            for kind, (model, codes) in wanted.items()}


@dataclass
class EvaluationSummary:
    persons: int = 0
    records_changed: int = 0


def evaluate_pending(db: Database, *, actor: Actor, as_of: date | None = None,
                     batch: int = 2000) -> EvaluationSummary:
    """Run the schedule engine for every queued person and store each record's エラーコード.

    Each batch is its own transaction (records, queue and audit row together), so an interrupted
    run resumes where it stopped and a re-run finds nothing to do.
    """
    as_of = as_of or today_jst()
    total = EvaluationSummary()
    for chunk_no in count():
        with db.transaction() as s:
            atena_nos = take_queue(s, batch)
            if not atena_nos:
                break
            changed = reevaluate_persons(s, atena_nos, as_of)
            clear_queue(s, atena_nos)
            audit.record(s, actor, "records.evaluate", purpose="接種記録の判定（エラーコード）",
                         detail={"persons": len(atena_nos), "records_changed": changed, "as_of": as_of})
            crash_point(f"chunk:{chunk_no}", s)
        crash_point(f"commit:{chunk_no}")
        total.persons += len(atena_nos)
        total.records_changed += changed
    return total


def move_record(s: Session, *, actor: Actor, record_id: int, expected_version: int, to_atena_no: str,
                reason: str, approval_id: int | None = None) -> RecordOut:
    """Move a record to another person (the 予診票 carried a wrong 宛名番号), in the caller's transaction.

    Identity changes are not a 職権修正 (CORRECTABLE): they run only once a second staff member has
    approved (sesshu.approvals). The old 宛名番号 stays in the record's history; both persons are
    re-evaluated and the move is on record under both 宛名番号.
    """
    r = s.get(VaccinationRecord, record_id, with_for_update=True)
    if r is None or r.status != "active":
        raise NotFound("指定の接種記録はありません（取消済みの可能性があります）")
    if r.version != expected_version:
        raise Conflict(f"接種記録が申請後に更新されています（申請時 版{expected_version}、現在 版{r.version}）。"
                       "記録を確認して、改めて申請してください")
    from_atena_no = r.atena_no
    if to_atena_no == from_atena_no:
        raise InvalidInput("付け替え先が現在と同じ宛名番号です")
    target = s.get(Person, to_atena_no)
    if target is None:
        raise NotFound(f"付け替え先の宛名番号 {to_atena_no} の方は登録されていません")
    if r.vaccinated_on < target.birth_date:
        raise InvalidInput(f"接種年月日が付け替え先の方の生年月日（{target.birth_date.isoformat()}）より前です")
    clash = s.execute(select(VaccinationRecord.id).where(
        VaccinationRecord.atena_no == to_atena_no, VaccinationRecord.vaccine_code == r.vaccine_code,
        VaccinationRecord.vaccinated_on == r.vaccinated_on, VaccinationRecord.status == "active")).first()
    if clash:
        raise Conflict(f"付け替え先の方に同じ接種種別・同じ接種年月日の記録（記録 {clash[0]}）が既にあります")
    s.add(VaccinationRecordHistory(record_id=r.id, version=r.version, action="reassign", changed_at=utcnow(),
                                   changed_by=actor.label, reason=reason.strip(),
                                   old_values=_snapshot(r, ["atena_no"])))
    r.atena_no = to_atena_no
    r.updated_at = utcnow()
    s.flush()
    # The ticket it used is the first person's (the import checked it against that 宛名番号): given back.
    tickets = ticket_links.release_ticket(s, actor, r.id, purpose="接種記録の付け替え（別人への移動）",
                                          why="record.reassign")
    reevaluate_persons(s, [from_atena_no, to_atena_no], today_jst())
    s.refresh(r)
    detail = {"record_id": r.id, "from_atena_no": from_atena_no, "to_atena_no": to_atena_no,
              "reason": reason.strip(), "approval_id": approval_id}
    audit.record_many(s, actor, [
        audit.AuditEvent("record.reassign_out", from_atena_no, "接種記録の付け替え（別人への移動）", detail),
        audit.AuditEvent("record.reassign_in", to_atena_no, "接種記録の付け替え（別人への移動）", detail),
    ] + tickets)
    return RecordOut.model_validate(r, from_attributes=True)


# --- 手入力: one returned 予診票 typed in by a clerk -------------------------------------------------

# Form field → 予診票 CSV header: hand entry reads exactly what an import reads (ledger/rows.py),
# so a value the import refuses is refused here with the same Japanese reason.
ENTRY_FIELDS: tuple[tuple[str, str], ...] = (
    ("vaccinated_on", "接種年月日"), ("vaccination_time", "接種時刻"), ("vaccine_code", "接種種別"), ("term", "期"), ("dose_no", "回数"),
    ("category", "接種区分"), ("screening_result", "予診区分"), ("institution_code", "接種医療機関コード"),
    ("doctor_code", "接種医師コード"), ("screening_institution_code", "予診医療機関コード"),
    ("screening_doctor_code", "予診医師コード"), ("venue_code", "実施場所コード"),
    ("manufacturer_code", "ワクチン会社"), ("lot_no", "LotNo"), ("dose_volume_ml", "接種量"),
    ("billing_month", "請求月"), ("first_product", "初回ワクチン区分"), ("dt_kind", "二混合区分"),
    ("former_municipality", "合併前市町村"), ("ticket_no", "券番号"), ("remarks", "備考"),
)
ENTRY_FIELD_NAMES = ("atena_no",) + tuple(name for name, _ in ENTRY_FIELDS)


@dataclass
class EntryVerdict:
    """What the schedule engine says of the dose being typed (or just saved)."""

    status: str  # valid / voluntary / invalid
    dose_number: int | None
    codes: tuple[str, ...]
    reasons: tuple[str, ...]
    eligibility: object | None = None  # the vaccine's EligibilityResult before this dose


@dataclass
class EntryCheck:
    """The answer to a form being typed: the person, the first input problem, the engine's verdict."""

    person: PersonOut | None = None
    error: str = ""
    error_field: str = ""
    duplicate: bool = False
    verdict: EntryVerdict | None = None
    values: dict | None = None
    records: list = field(default_factory=list)  # the person's active records before this dose


class InvalidDoseUnconfirmed(InvalidInput):
    """The engine judges the dose being saved invalid and the clerk has not confirmed storing it as such:
    nothing is stored; the form comes back with the reasons and an explicit confirmation button."""

    code = "E_CONFIRM_INVALID"

    def __init__(self, verdict: EntryVerdict):
        super().__init__("この接種は無効と判定されます。内容を確認し、無効の接種として登録する場合は"
                         "「無効の接種として登録する」を押してください（まだ保存されていません）")
        self.verdict = verdict


@dataclass
class EnteredRecord:
    record: RecordOut
    verdict: EntryVerdict
    person: PersonOut


def entry_error_field(message: str) -> str:
    """The form field a Japanese entry message is about (the messages start with the CSV header)."""
    for name, header in ENTRY_FIELDS:
        if message.startswith(header):
            return name
    if "宛名番号" in message or "登録されていません" in message:
        return "atena_no"
    if "生年月日" in message or "接種年月日" in message:
        return "vaccinated_on"
    return ""


def entry_atena_no(raw: dict[str, str]) -> str:
    """The 宛名番号 as typed, normalised as the import reads it (full-width digits, spaces)."""
    return clean(raw.get("atena_no") or "").replace(" ", "")


def _entry_values(raw: dict[str, str], masters) -> tuple[dict | None, str, str]:
    """(record fields, error, field) from the form; the first problem, named as on the form."""
    atena = entry_atena_no(raw)
    row = {header: raw.get(name, "") or "" for name, header in ENTRY_FIELDS}
    row["宛名番号"] = atena
    if not atena:
        return None, "宛名番号を入力してください", "atena_no"
    if not (row["接種年月日"] or "").strip():
        return None, "接種年月日を入力してください", "vaccinated_on"
    if not (row["接種種別"] or "").strip():
        return None, "接種種別を選んでください", "vaccine_code"
    try:
        values = parse_record_row(row, masters=masters, today=today_jst())
    except RowError as e:
        message = str(e)
        return None, message, entry_error_field(message)
    if not values["screening_result"]:
        values["screening_result"] = "vaccinated"
    return values, "", ""


@dataclass
class _Judged:
    verdict: EntryVerdict
    codes: dict[int, str]  # the エラーコード of each active record under today's rules (0 = the new dose)


def _records_and_product(s: Session, atena_no: str, lot_no: str) -> tuple[list[RecordOut], str | None]:
    """The person's active records (each with its lot's product) and the product of the lot being entered:
    the engine judges the new dose as the ledger will store it (a product with its own rule)."""
    rows = s.execute(select(VaccinationRecord).where(VaccinationRecord.atena_no == atena_no,
                                                     VaccinationRecord.status == "active")
                     .order_by(VaccinationRecord.vaccinated_on, VaccinationRecord.id)).scalars().all()
    products = lot_products(s, [*(r.lot_no for r in rows), lot_no])
    out = [RecordOut.model_validate(r, from_attributes=True) for r in rows]
    for r in out:
        r.product = products.get(r.lot_no)
    return out, products.get(lot_no)


def _judge_dose(s: Session, p: Person, values: dict, existing: list, product: str | None, book) -> _Judged:
    """The engine's verdict on the new dose among the person's active records (id 0 = the new one), and
    the error code every record then has — what reevaluate_persons would store, from the same evaluation."""
    probe = type("Probe", (), {"id": 0, "vaccine_code": values["vaccine_code"],
                               "vaccinated_on": values["vaccinated_on"],
                               "screening_result": values["screening_result"], "product": product})()
    as_of = today_jst()
    spans = load_spans(s, [p.atena_no]).get(p.atena_no, ())
    pregnancies = load_pregnancies(s, [p.atena_no]).get(p.atena_no, ()) if p.sex == "F" else ()
    # Only the verdicts of this evaluation are used: no forecast (lines=∅), as the evaluation queue does.
    result = evaluate_rows(p.birth_date, p.sex, [*existing, probe], as_of, lines=frozenset(), spans=spans,
                           pregnancies=pregnancies, book=book)
    before = evaluate_rows(p.birth_date, p.sex, existing, values["vaccinated_on"],
                           lines=frozenset({values["vaccine_code"]}), spans=spans, pregnancies=pregnancies,
                           book=book)
    line = next((e for e in before.eligibility if e.vaccine == values["vaccine_code"]), None)
    v = result.verdicts[0]
    return _Judged(EntryVerdict(status=v.status, dose_number=v.dose_number, codes=v.codes, reasons=v.reasons,
                                eligibility=line),
                   {rid: verdict.error_code for rid, verdict in result.verdicts.items()})


def _visible_person(s: Session, actor: Actor, atena_no: str) -> tuple[Person, PersonOut]:
    """The person of an entry. Their 個人番号 is not decrypted: neither the form nor a station shows it."""
    p = s.get(Person, atena_no) if atena_no.isascii() and atena_no.isdigit() else None
    if p is None:
        raise NotFound(f"宛名番号 {atena_no} の方は登録されていません")
    access.check_visible(s, actor, atena_no)
    return p, PersonOut.from_row(p)


def check_entry(db: Database, settings: Settings, *, actor: Actor, raw: dict[str, str],
                purpose: str = "予診票の入力") -> EntryCheck:
    """The verdict shown while a 予診票 is being typed (or a ticket scanned at a venue, `purpose`):
    nothing is stored, the look-up is audited."""
    with db.transaction() as s:
        return check_entry_in(s, settings, actor=actor, raw=raw, purpose=purpose)


def check_entry_in(s: Session, settings: Settings, *, actor: Actor, raw: dict[str, str],
                   purpose: str) -> EntryCheck:
    """check_entry in the caller's transaction (a venue scan reads the ticket in the same one)."""
    atena_no = entry_atena_no(raw)
    out = EntryCheck()
    masters = load_masters(s)
    values, out.error, out.error_field = _entry_values(raw, masters)
    if not atena_no or (values is None and out.error_field == "atena_no"):
        return out
    try:
        p, out.person = _visible_person(s, actor, atena_no)
    except access.OutOfScope:
        raise  # put on record by the caller, answered like a missing person
    except NotFound as e:
        audit.record(s, actor, "person.view_missing", atena_no=atena_no[:15], purpose=f"{purpose}（対象者の確認）")
        return EntryCheck(error=e.message, error_field="atena_no")
    _judge_entry(s, settings, p, atena_no, values, out)
    # On record last: the audit chain's head stays locked from the entry to the commit, so the judging
    # above does not hold up the other stations (same transaction: no look-up without its entry).
    audit.record(s, actor, "record.entry_check", atena_no=atena_no, purpose=f"{purpose}（接種の判定）",
                 detail={"vaccine": values["vaccine_code"] if values else ""})
    return out


def _judge_entry(s: Session, settings: Settings, p: Person, atena_no: str, values: dict | None,
                 out: EntryCheck) -> None:
    if values is None:
        return
    out.values = values
    if values["vaccinated_on"] < p.birth_date:
        out.error, out.error_field = f"接種年月日が生年月日（{p.birth_date.isoformat()}）より前です", "vaccinated_on"
        return
    book = rule_book(s)  # once for the use case: the ticket's line and the verdict
    if values.get("ticket_no"):  # the 券番号 as the save (and an import) will check it
        checked = ticket_links.check_chunk(s, [{**values, "atena_no": atena_no}], line_nos=[1],
                                           municipality=settings.municipality_code, book=book)
        if checked.reasons:
            out.error, out.error_field = checked.reasons[0], "ticket_no"
            return
    existing, product = _records_and_product(s, atena_no, values.get("lot_no") or "")
    out.records = existing
    out.duplicate = any(r.vaccine_code == values["vaccine_code"] and r.vaccinated_on == values["vaccinated_on"]
                        for r in existing)
    out.verdict = _judge_dose(s, p, values, existing, product, book).verdict


def enter_record(db: Database, settings: Settings, *, actor: Actor, raw: dict[str, str],
                 purpose: str = "予診票の入力", confirm_invalid: bool = False) -> EnteredRecord:
    """Store one hand-entered 予診票 (or a dose recorded at a venue station, `purpose`): the record, its
    エラーコード from the engine, the ticket it uses and the audit rows, in one transaction. The same person,
    vaccine and date twice is refused (as an import skips it). A dose the engine judges invalid is stored
    only when confirm_invalid says the clerk saw the reasons (InvalidDoseUnconfirmed otherwise, nothing
    stored)."""
    with db.transaction() as s:
        return enter_record_in(s, settings, actor=actor, raw=raw, purpose=purpose,
                               confirm_invalid=confirm_invalid)


def enter_record_in(s: Session, settings: Settings, *, actor: Actor, raw: dict[str, str], purpose: str,
                    confirm_invalid: bool = False) -> EnteredRecord:
    """enter_record in the caller's transaction (a venue station reads the ticket in the same one)."""
    atena_no = entry_atena_no(raw)
    masters = load_masters(s)
    values, error, _field = _entry_values(raw, masters)
    if values is None:
        raise InvalidInput(error)
    p, person = _visible_person(s, actor, atena_no)
    if values["vaccinated_on"] < p.birth_date:
        raise InvalidInput(f"接種年月日が生年月日（{p.birth_date.isoformat()}）より前です")
    existing, product = _records_and_product(s, atena_no, values.get("lot_no") or "")
    clash = next((r for r in existing if r.vaccine_code == values["vaccine_code"]
                  and r.vaccinated_on == values["vaccinated_on"]), None)
    if clash:
        raise Conflict(f"{DUPLICATE_REASON}（記録 {clash.id}）")
    # One evaluation of the person with the new dose gives its verdict (shown, and the confirmation asked
    # for an invalid one) and the error codes of the other records, which the new dose may change.
    book = rule_book(s)  # once for the use case: the verdict and the ticket's line
    judged = _judge_dose(s, p, values, existing, product, book)
    if not confirm_invalid and judged.verdict.status == "invalid":
        raise InvalidDoseUnconfirmed(judged.verdict)
    now = utcnow()
    r = VaccinationRecord(**values, status="active", created_at=now, updated_at=now, created_by=actor.label,
                          error_code=judged.codes[0])
    s.add(r)
    try:
        s.flush()
    except IntegrityError:  # another clerk saved the same 予診票 a moment ago
        raise Conflict(DUPLICATE_REASON) from None
    # The 券番号 is checked and its ticket marked used as an import's row would be (refused: nothing is stored).
    tickets = ticket_links.link_ticket(s, actor, r, municipality=settings.municipality_code,
                                       purpose=purpose, why="record.enter", book=book)
    changed = [{"rid": x.id, "code": judged.codes[x.id]} for x in existing if judged.codes[x.id] != (x.error_code or "")]
    if changed:  # error codes are the engine's verdict, not a clerk's change: no version bump
        s.connection().execute(update(VaccinationRecord.__table__)
                               .where(VaccinationRecord.__table__.c.id == bindparam("rid"))
                               .values(error_code=bindparam("code")), changed)
    out = RecordOut.model_validate(r, from_attributes=True)
    # On record last, in one append: the audit chain's head stays locked only until the commit.
    audit.record_many(s, actor, [audit.AuditEvent("record.enter", atena_no=atena_no, purpose=purpose, detail={
        "record_id": r.id, "vaccine": r.vaccine_code, "vaccinated_on": r.vaccinated_on, "error_code": r.error_code,
        "confirmed_invalid": confirm_invalid}), *tickets])
    return EnteredRecord(record=out, verdict=judged.verdict, person=person)
