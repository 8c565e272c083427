"""Use cases of the resident registry copy. Each function owns its transaction and its audit rows."""
from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.audit.service import AuditEvent
from sesshu.clock import today_jst, utcnow
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.domain import my_number as mn_rules
from sesshu.domain.errors import InvalidInput, NotFound
from sesshu.imports.batch import ImportSummary, close_batch, open_batch
from sesshu.imports.csvfile import CsvSource, RejectWriter, inspect_file
from sesshu.keys import KeyRing, load_keyring
from sesshu.registry.models import Person, PersonHistory
from sesshu.registry.rows import REGISTRY_HEADERS, REGISTRY_REQUIRED, RowError, parse_registry_row
from sesshu.registry.schemas import PersonOut

_COMPARED = (
    "name", "name_key", "name_kana", "kana_key", "sex", "birth_date", "postal_code", "address", "phone", "household_no",
    "relationship", "householder_name", "registry_status", "change_reason", "changed_on",
    "moved_in_on", "moved_out_on", "died_on",
)
MY_NUMBER_DOMAIN = "my_number"


def my_number_hash(keys: KeyRing, number: str) -> str:
    return keys.keyed_hash(number, domain=MY_NUMBER_DOMAIN)


def import_registry(db: Database, settings: Settings, *, path: Path, actor: Actor,
                    rejects_path: Path | None = None) -> ImportSummary:
    """Load the registry system's CSV feed. Re-importing the same file changes nothing.

    The whole file is one transaction: a crash part-way leaves the database as it was.
    """
    keys = load_keyring(settings)
    facts = inspect_file(path)
    source = CsvSource(path, facts=facts, required=REGISTRY_REQUIRED, known=REGISTRY_HEADERS)
    rejects = RejectWriter(rejects_path)
    today = today_jst()
    seen_atena: dict[str, int] = {}
    seen_hash: dict[str, int] = {}
    try:
        with db.transaction() as s:
            batch = open_batch(s, kind="registry", path=path, facts=facts, actor=actor)
            summary = ImportSummary(batch_id=batch.id, file=path.name, encoding=facts.encoding)
            chunk: list = []
            for row in source.rows():
                rejects.header = source.header
                summary.read += 1
                if row.problem:
                    _reject(summary, rejects, row, row.problem)
                    continue
                try:
                    fields = parse_registry_row(row.values, today=today)
                except RowError as e:
                    _reject(summary, rejects, row, str(e))
                    continue
                first = seen_atena.setdefault(fields["atena_no"], row.line_no)
                if first != row.line_no:
                    _reject(summary, rejects, row, f"宛名番号がファイル内で重複しています（{first}行目と同じ）")
                    continue
                fields["_hash"] = my_number_hash(keys, fields["_my_number"]) if fields["_my_number"] else None
                if fields["_hash"]:
                    other = seen_hash.setdefault(fields["_hash"], row.line_no)
                    if other != row.line_no:
                        _reject(summary, rejects, row, f"個人番号がファイル内で重複しています（{other}行目と同じ）")
                        continue
                chunk.append((row, fields))
                if len(chunk) >= settings.import_chunk_rows:
                    _apply_registry_chunk(s, keys, actor, batch.id, chunk, summary, rejects)
                    rejects.flush()
                    chunk = []
            rejects.header = source.header
            if chunk:
                _apply_registry_chunk(s, keys, actor, batch.id, chunk, summary, rejects)
            close_batch(batch, summary)
            audit.record(s, actor, "registry.import", purpose="住民基本台帳の取込",
                         detail={"batch_id": batch.id, "file": path.name, "sha256": facts.sha256,
                                 **{k: v for k, v in summary.as_dict().items() if isinstance(v, int)}})
    finally:
        rejects.close()
    return summary


def _reject(summary: ImportSummary, rejects: RejectWriter, row, reason: str) -> None:
    summary.rejected += 1
    rejects.write(row.line_no, "エラー", reason, row.raw)


def _apply_registry_chunk(s: Session, keys: KeyRing, actor: Actor, batch_id: int, chunk: list,
                          summary: ImportSummary, rejects: RejectWriter) -> None:
    atena_nos = [f["atena_no"] for _, f in chunk]
    existing = {p.atena_no: p for p in s.execute(
        select(Person.__table__).where(Person.atena_no.in_(atena_nos))).all()}
    hashes = [f["_hash"] for _, f in chunk if f["_hash"]]
    owner_of_hash = dict(s.execute(
        select(Person.my_number_hmac, Person.atena_no).where(Person.my_number_hmac.in_(hashes))).all()) if hashes else {}
    now = utcnow()
    inserts, events, histories = [], [], []
    for row, f in chunk:
        owner = owner_of_hash.get(f["_hash"]) if f["_hash"] else None
        if owner and owner != f["atena_no"]:
            _reject(summary, rejects, row, f"この個人番号は別の宛名番号（{owner}）に登録済みです")
            continue
        old = existing.get(f["atena_no"])
        if old is None:
            values = {k: v for k, v in f.items() if not k.startswith("_")}
            values.update(my_number_hmac=f["_hash"], version=1, created_at=now, updated_at=now,
                          my_number_enc=keys.encrypt(f["_my_number"], aad=f["atena_no"]) if f["_my_number"] else None)
            for k in ("moved_in_on", "moved_out_on", "died_on"):
                values.setdefault(k, None)
            inserts.append(values)
            events.append(AuditEvent("registry.create", f["atena_no"], "住民基本台帳の取込", {"batch_id": batch_id}))
            summary.accepted += 1
            continue
        changes = {k: f[k] for k in _COMPARED if k in f and getattr(old, k) != f[k]}
        # A blank 個人番号 in the feed does not erase a number already on record.
        mn_changed = bool(f["_hash"]) and f["_hash"] != old.my_number_hmac
        if not changes and not mn_changed:
            summary.unchanged += 1
            continue
        if mn_changed:
            changes["my_number_hmac"] = f["_hash"]
            changes["my_number_enc"] = keys.encrypt(f["_my_number"], aad=f["atena_no"])
        old_values = {k: getattr(old, k) for k in changes if k not in ("my_number_enc", "my_number_hmac")}
        if mn_changed:
            old_values["個人番号"] = "変更あり" if old.my_number_hmac else "新規登録"
        histories.append(dict(atena_no=f["atena_no"], version=old.version, changed_at=now, changed_by=actor.label,
                              reason="住民基本台帳の取込", import_batch_id=batch_id,
                              old_values=json.dumps(old_values, ensure_ascii=False, default=str)))
        s.execute(update(Person.__table__).where(Person.atena_no == f["atena_no"])
                  .values(**changes, version=old.version + 1, updated_at=now))
        events.append(AuditEvent("registry.update", f["atena_no"], "住民基本台帳の取込",
                                 {"batch_id": batch_id, "fields": sorted(old_values)}))
        summary.accepted += 1
    if inserts:
        s.execute(Person.__table__.insert(), inserts)
    if histories:
        s.execute(PersonHistory.__table__.insert(), histories)
    if events:
        audit.record_many(s, actor, events)


def reveal_last4(keys: KeyRing, person) -> str:
    if person.my_number_enc is None:
        return ""
    return mn_rules.mask(keys.decrypt(person.my_number_enc, aad=person.atena_no))


def find_by_my_number(db: Database, settings: Settings, *, actor: Actor, number: str, purpose: str) -> PersonOut:
    """Exact lookup through the keyed hash: no scan, no decrypt-all."""
    number = mn_rules.normalize(number)
    reason = mn_rules.validation_error(number)
    if reason:
        raise InvalidInput(reason)
    keys = load_keyring(settings)
    with db.transaction() as s:
        p = s.execute(select(Person).where(Person.my_number_hmac == my_number_hash(keys, number))).scalar_one_or_none()
        audit.record(s, actor, "person.lookup_my_number", atena_no=p.atena_no if p else None, purpose=purpose,
                     detail={"found": p is not None})
        found = PersonOut.from_row(p, reveal_last4(keys, p)) if p else None
    # Raised after the commit so that a failed lookup is on record too.
    if found is None:
        raise NotFound("該当する個人番号の方は登録されていません")
    return found
