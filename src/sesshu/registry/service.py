"""Use cases of the resident registry copy. Each function owns its transaction and its audit rows."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.audit.service import AuditEvent
from sesshu.clock import today_jst, utcnow
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.domain import my_number as mn_rules
from sesshu.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from sesshu.domain.text import kana_key
from sesshu.imports.batch import ImportSummary, close_batch, open_batch
from sesshu.imports.csvfile import CsvSource, RejectWriter, inspect_file
from sesshu.keys import KeyRing, load_keyring
from sesshu.registry.models import Person, PersonHistory
from sesshu.registry.rows import NON_RESIDENT_PREFIX, NON_RESIDENT_WIDTH, REGISTRY_HEADERS, REGISTRY_REQUIRED, RowError, parse_registry_row
from sesshu.registry.schemas import PersonOut
from sesshu.tickets.lifecycle import DEPARTURES, invalidate_departed
from sesshu.retention import personkeys

_COMPARED = (
    "name", "name_key", "name_kana", "kana_key", "sex", "birth_date", "postal_code", "address", "phone", "household_no",
    "relationship", "householder_name", "registry_status", "change_reason", "changed_on",
    "moved_in_on", "moved_out_on", "died_on",
)
MY_NUMBER_DOMAIN = "my_number"


def my_number_hash(keys: KeyRing, number: str) -> str:
    return keys.keyed_hash(number, domain=MY_NUMBER_DOMAIN)


def _hidden(value: str) -> str:
    return "（省略）"


# The rejects file names a refused row by its line and 宛名番号; the 個人番号 (last four digits) and the
# 4情報 never reach it in full — the operator reads them in the source file they already hold.
REJECT_MASKS = {"個人番号": mn_rules.mask, "氏名": _hidden, "氏名カナ": _hidden, "住所": _hidden, "生年月日": _hidden,
                "電話番号": _hidden, "世帯主氏名": _hidden}


# A new 住登外 row of the feed → the 宛名番号 it was sent under and its fields; returns the approval
# request's id (raises DomainError with the reason to write in the rejects file).
NonResidentHook = Callable[[Session, KeyRing, Actor, dict], int]
NON_RESIDENT_NEEDS_APPROVAL = ("住登外者の行は、承認（ダブルチェック）を経て登録します。"
                               "`sesshu import registry` で取り込むと承認待ちの申請になります")


def import_registry(db: Database, settings: Settings, *, path: Path, actor: Actor,
                    rejects_path: Path | None = None, non_resident: NonResidentHook | None = None) -> ImportSummary:
    """Load the registry system's CSV feed. Re-importing the same file changes nothing.

    The whole file is one transaction: a crash part-way leaves the database as it was.
    A row for a new 住登外 person never becomes a person here: it goes through the same two-person check
    as the web form — `non_resident` files it as a pending approval (written to the rejects file as
    承認待ち with the request's number); without it the row is refused.
    """
    keys = load_keyring(settings)
    facts = inspect_file(path)
    source = CsvSource(path, facts=facts, required=REGISTRY_REQUIRED, known=REGISTRY_HEADERS)
    rejects = RejectWriter(rejects_path, masked=REJECT_MASKS)
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
                if fields["registry_status"] == "non_resident" and s.get(Person, fields["atena_no"]) is None:
                    _non_resident_row(s, keys, actor, summary, rejects, row, fields, non_resident)
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


def _non_resident_row(s: Session, keys: KeyRing, actor: Actor, summary: ImportSummary, rejects: RejectWriter, row,
                      fields: dict, hook: NonResidentHook | None) -> None:
    if hook is None:
        _reject(summary, rejects, row, NON_RESIDENT_NEEDS_APPROVAL)
        return
    try:
        with s.begin_nested():  # a refused request leaves nothing of itself in the file's transaction
            approval_id = hook(s, keys, actor, fields)
    except DomainError as e:
        _reject(summary, rejects, row, f"住登外者の登録の申請ができません: {e.message}")
        return
    summary.pending_approval += 1
    rejects.write(row.line_no, "承認待ち", f"住登外者の登録を申請しました（申請番号 {approval_id}）。"
                                        "承認されると登録されます", row.raw)


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
    departed: dict[str, str] = {}
    # Each 個人番号 is sealed with its person's own data key (crypto-shredded at erasure).
    sealed = personkeys.seal_numbers(s, keys, {
        f["atena_no"]: f["_my_number"] for _, f in chunk
        if f["_hash"] and (owner_of_hash.get(f["_hash"]) in (None, f["atena_no"]))
        and (f["atena_no"] not in existing or f["_hash"] != existing[f["atena_no"]].my_number_hmac)})
    for row, f in chunk:
        owner = owner_of_hash.get(f["_hash"]) if f["_hash"] else None
        if owner and owner != f["atena_no"]:
            _reject(summary, rejects, row, f"この個人番号は別の宛名番号（{owner}）に登録済みです")
            continue
        old = existing.get(f["atena_no"])
        if old is None:
            values = {k: v for k, v in f.items() if not k.startswith("_")}
            values.update(my_number_hmac=f["_hash"], version=1, created_at=now, updated_at=now,
                          my_number_enc=sealed.get(f["atena_no"]) if f["_my_number"] else None)
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
            changes["my_number_enc"] = sealed[f["atena_no"]]
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
        if changes.get("registry_status") in DEPARTURES:
            departed[f["atena_no"]] = DEPARTURES[changes["registry_status"]]
        summary.accepted += 1
    if inserts:
        s.execute(Person.__table__.insert(), inserts)
    if histories:
        s.execute(PersonHistory.__table__.insert(), histories)
    if departed:  # 転出・死亡: their unused 接種券 stop being valid
        events.extend(invalidate_departed(s, actor, departed))
    if events:
        audit.record_many(s, actor, events)


def reveal_last4(keys: KeyRing, person) -> str:
    if person.my_number_enc is None:
        return ""
    return mn_rules.mask(personkeys.open_number(object_session(person), keys, person.atena_no, person.my_number_enc))


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
        # The typed number is the stored one (the hash matched): masking it needs no decryption.
        found = PersonOut.from_row(p, mn_rules.mask(number)) if p else None
    # Raised after the commit so that a failed lookup is on record too.
    if found is None:
        raise NotFound("該当する個人番号の方は登録されていません")
    return found


# --- 住登外者 (persons known to the city but not in its registry) -------------------------------------
# 宛名番号 rule: "9" followed by a 14-digit zero-padded sequence (15 digits, 900000000000001 …). The
# registry feed's numbers are shorter (the city's 住基 system uses 10 digits), so the two ranges never
# meet; allocation still skips any number already on file, whoever put it there.


@dataclass(frozen=True)
class PossibleDuplicates:
    my_number_owner: str | None  # 宛名番号 of the person who already holds this 個人番号
    same_four_items: tuple[str, ...]  # persons with the same カナ氏名・生年月日・性別


def non_resident_duplicates(s: Session, keys: KeyRing, *, kana_key: str, birth_date, sex: str,
                            my_number: str) -> PossibleDuplicates:
    owner = None
    if my_number:
        owner = s.execute(select(Person.atena_no).where(
            Person.my_number_hmac == my_number_hash(keys, my_number))).scalar_one_or_none()
    same = tuple(s.execute(select(Person.atena_no).where(
        Person.kana_key == kana_key, Person.birth_date == birth_date, Person.sex == sex)
        .order_by(Person.atena_no).limit(20)).scalars())
    return PossibleDuplicates(my_number_owner=owner, same_four_items=same)


def next_non_resident_atena_no(s: Session) -> str:
    low = NON_RESIDENT_PREFIX + "0" * (NON_RESIDENT_WIDTH - 1)
    high = NON_RESIDENT_PREFIX + "9" * (NON_RESIDENT_WIDTH - 1)
    last = s.execute(select(func.max(Person.atena_no)).where(
        Person.atena_no > low, Person.atena_no <= high,
        func.length(Person.atena_no) == NON_RESIDENT_WIDTH)).scalar()
    seq = int(last[1:]) + 1 if last else 1
    while True:
        candidate = f"{NON_RESIDENT_PREFIX}{seq:0{NON_RESIDENT_WIDTH - 1}d}"
        if s.get(Person, candidate) is None:
            return candidate
        seq += 1


def register_non_resident(s: Session, keys: KeyRing, actor: Actor, fields: dict, *, approval_id: int) -> str:
    """Create one 住登外 person in the caller's transaction (after a second staff member approved).

    `fields`: name, name_kana, sex, birth_date, postal_code, address, phone, my_number ("" if none),
    acknowledged (宛名番号 of same-4情報 persons the requester confirmed to be someone else).
    Returns the new 宛名番号.
    """
    kana = fields["name_kana"]
    now = utcnow()
    for _attempt in range(5):
        dup = non_resident_duplicates(s, keys, kana_key=kana_key(kana), birth_date=fields["birth_date"],
                                      sex=fields["sex"], my_number=fields["my_number"])
        if dup.my_number_owner:
            raise Conflict(f"この個人番号は既に宛名番号 {dup.my_number_owner} の方に登録されています")
        unconfirmed = sorted(set(dup.same_four_items) - set(fields.get("acknowledged", ())))
        if unconfirmed:
            raise Conflict("カナ氏名・生年月日・性別が同じ方が登録されています（宛名番号 "
                           f"{'、'.join(unconfirmed)}）。同一人物でないか確認してから申請し直してください")
        # From the registry feed the person keeps the number the feed sent them under.
        atena_no = fields.get("source_atena_no") or next_non_resident_atena_no(s)
        if fields.get("source_atena_no") and s.get(Person, atena_no) is not None:
            raise Conflict(f"宛名番号 {atena_no} の方は既に登録されています")
        person = Person(
            atena_no=atena_no, name=fields["name"], name_key=fields["name"].replace("\u3000", ""), name_kana=kana,
            kana_key=kana_key(kana), sex=fields["sex"], birth_date=fields["birth_date"],
            postal_code=fields["postal_code"], address=fields["address"], phone=fields["phone"],
            registry_status="non_resident", change_reason="住登外登録", changed_on=today_jst(),
            my_number_hmac=my_number_hash(keys, fields["my_number"]) if fields["my_number"] else None,
            my_number_enc=None,
            created_at=now, updated_at=now)
        try:
            # A concurrent registration may take the same number first (PostgreSQL): check again and
            # take the next one.
            with s.begin_nested():
                s.add(person)
                s.flush()
                if fields["my_number"]:
                    person.my_number_enc = personkeys.seal_number(s, keys, atena_no, fields["my_number"])
                    s.flush()
            break
        except IntegrityError:
            continue
    else:
        raise Conflict("宛名番号を採番できませんでした。しばらくしてからもう一度承認してください")
    audit.record(s, actor, "registry.register_non_resident", atena_no=atena_no, purpose="住登外者の登録",
                 detail={"approval_id": approval_id, "my_number": bool(fields["my_number"]),
                         "acknowledged": sorted(fields.get("acknowledged", ()))})
    return atena_no
