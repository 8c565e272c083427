"""Use cases: record a 妊娠届 by hand or by file from the 母子保健 side, withdraw one, list them.

Pregnancy is sensitive (要配慮 in practice): every change and every view is a purpose-bound act of a
staff member whose 事務 covers the person (access.check_visible), audited in the same transaction,
and the person's records are re-evaluated there too (RSウイルス 母子免疫 depends on it). The audit
detail names the row, never the dates. Rows are never deleted.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.clock import today_jst, utcnow
from sesshu.db import Database, get_row
from sesshu.domain.errors import Conflict, InvalidInput, NotFound
from sesshu.domain.text import clean
from sesshu.domain.wareki import DateParseError, parse_date
from sesshu.imports.batch import ImportSummary, close_batch, open_batch
from sesshu.imports.csvfile import CsvSource, RejectWriter, inspect_file
from sesshu.ledger.evaluation import reevaluate_persons
from sesshu.pregnancy.facts import person_pregnancies
from sesshu.pregnancy.models import PregnancyNotice
from sesshu.pregnancy.schemas import PregnancyEntry, PregnancyOut, pregnancy_out
from sesshu.registry.models import Person
from sesshu.rulesets.active import rule_book

REASON_MAX = 200
# A pregnancy lasts at most about 42 weeks: a 届出 made more than 300 days before the expected
# delivery, or an expected delivery within 200 days of another one on file, is a typing error or the
# same pregnancy again (母子保健法第15条: the 届出 is made once the pregnancy is known).
_MAX_AHEAD = timedelta(days=300)
_SAME_PREGNANCY = timedelta(days=200)
HEADERS = ("宛名番号", "出産予定日", "届出日", "届出番号")
REQUIRED = ("宛名番号", "出産予定日", "届出日")


def check_entry(entry: PregnancyEntry, today: date) -> PregnancyEntry:
    """The entry cleaned, or InvalidInput naming the first problem in Japanese."""
    if entry.expected_delivery is None:
        raise InvalidInput("出産予定日を入力してください")
    if entry.notified_on is None:
        raise InvalidInput("届出日を入力してください")
    if entry.notified_on > today:
        raise InvalidInput("届出日が未来の日付です")
    if entry.expected_delivery < entry.notified_on:
        raise InvalidInput("出産予定日が届出日より前です")
    if entry.expected_delivery - entry.notified_on > _MAX_AHEAD:
        raise InvalidInput("出産予定日が届出日から300日以上先です（入力の誤りではありませんか）")
    ref = clean(entry.source_ref)
    if len(ref) > 40:
        raise InvalidInput("届出番号が長すぎます（40文字まで）")
    return PregnancyEntry(entry.expected_delivery, entry.notified_on, ref)


def _same_pregnancy(s: Session, atena_no: str, edd: date) -> PregnancyNotice | None:
    return s.execute(select(PregnancyNotice).where(
        PregnancyNotice.atena_no == atena_no, PregnancyNotice.status == "active",
        PregnancyNotice.expected_delivery > edd - _SAME_PREGNANCY,
        PregnancyNotice.expected_delivery < edd + _SAME_PREGNANCY)).scalars().first()


def _problem(s: Session, person: Person, entry: PregnancyEntry) -> tuple[str, PregnancyNotice | None]:
    """("", None) when the entry may be stored; else a Japanese reason and the row it collides with."""
    if person.sex != "F":
        return "性別が女性ではない方には妊娠届を登録できません", None
    other = _same_pregnancy(s, person.atena_no, entry.expected_delivery)
    if other is not None:
        return (f"同じ妊娠の届出が既に登録されています（登録番号 {other.id}、出産予定日 "
                f"{other.expected_delivery.isoformat()}）", other)
    return "", None


def list_pregnancies(db: Database, *, actor: Actor, atena_no: str,
                     purpose: str = "妊娠届の確認") -> list[PregnancyOut]:
    with db.transaction() as s:
        access.visible_person(s, actor, atena_no)
        out = person_pregnancies(s, atena_no, today_jst())
        audit.record(s, actor, "person.pregnancy_view", atena_no=atena_no, purpose=purpose,
                     detail={"rows": len(out)})
    return out


def record_pregnancy(db: Database, *, actor: Actor, atena_no: str, entry: PregnancyEntry) -> PregnancyOut:
    """Record a 妊娠届 typed by staff (窓口); re-evaluate the person's records."""
    today = today_jst()
    entry = check_entry(entry, today)
    with db.transaction() as s:
        person = access.visible_person(s, actor, atena_no, lock=True)  # one change per person at a time
        reason, _other = _problem(s, person, entry)
        if reason:
            raise Conflict(reason + "。出産予定日が変わった場合は、先にその登録を取り消してください")
        row = PregnancyNotice(atena_no=atena_no, expected_delivery=entry.expected_delivery,
                              notified_on=entry.notified_on, source="hand", source_ref=entry.source_ref,
                              status="active", recorded_at=utcnow(), recorded_by=actor.label)
        s.add(row)
        s.flush()
        changed = reevaluate_persons(s, [atena_no], today)
        audit.record(s, actor, "person.pregnancy_set", atena_no=atena_no, purpose="妊娠届の登録",
                     detail={"pregnancy_id": row.id, "source": "hand", "records_changed": changed})
        return pregnancy_out(row, today, rule_book(s).at(today))


def withdraw_pregnancy(db: Database, *, actor: Actor, atena_no: str, pregnancy_id: int,
                       reason: str) -> PregnancyOut:
    """Withdraw a 妊娠届 recorded by mistake (it never applied); the row stays."""
    today = today_jst()
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("取消理由を入力してください")
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"取消理由が長すぎます（{REASON_MAX}文字まで）")
    with db.transaction() as s:
        access.visible_person(s, actor, atena_no, lock=True)
        row = get_row(s, PregnancyNotice, pregnancy_id, with_for_update=True)
        if row is None or row.atena_no != atena_no:
            raise NotFound("指定の妊娠届の登録はありません")
        if row.status != "active":
            raise Conflict("この妊娠届は既に取り消されています")
        row.status, row.withdrawn_at, row.withdrawn_by, row.withdraw_reason = (
            "withdrawn", utcnow(), actor.label, reason)
        s.flush()
        changed = reevaluate_persons(s, [atena_no], today)
        audit.record(s, actor, "person.pregnancy_withdraw", atena_no=atena_no, purpose="妊娠届の取消（誤登録）",
                     detail={"pregnancy_id": row.id, "reason": reason, "records_changed": changed})
        return pregnancy_out(row, today, rule_book(s).at(today))


@dataclass
class _Row:
    line_no: int
    atena_no: str
    entry: PregnancyEntry
    raw: list[str]


def _parse_row(values: dict[str, str], today: date) -> tuple[str, PregnancyEntry | None]:
    atena_no = clean(values.get("宛名番号", "")).replace(" ", "")
    if not atena_no:
        return "宛名番号が空です", None
    if not (atena_no.isascii() and atena_no.isdigit() and len(atena_no) <= 15):
        return f"宛名番号「{atena_no}」は15桁以内の数字ではありません", None
    dates = {}
    for name in ("出産予定日", "届出日"):
        raw = values.get(name, "")
        if not raw.strip():
            return f"{name}が空です", None
        try:
            dates[name] = parse_date(raw)
        except DateParseError as e:
            return f"{name}: {e}", None
    try:
        entry = check_entry(PregnancyEntry(dates["出産予定日"], dates["届出日"], values.get("届出番号", "")), today)
    except InvalidInput as e:
        return e.message, None
    return atena_no, entry


def import_pregnancies(db: Database, *, actor: Actor, path: Path,
                       rejects_path: Path | None = None) -> ImportSummary:
    """妊娠届 from the 母子保健 system (CSV, CP932 or UTF-8; dates 西暦 or 和暦, full-width digits).

    The file goes in as one transaction: a crash stores nothing, and a re-run (the same file, or
    the file with its rejected rows corrected) skips the rows already on file as duplicates, so an
    import is all-or-resumable. Rejected rows go to ``rejects_path`` with their line number and a
    Japanese reason. The persons touched are re-evaluated and each is on the audit log.
    """
    today = today_jst()
    facts = inspect_file(path)
    source = CsvSource(path, facts=facts, required=REQUIRED, known=HEADERS)
    rejects = RejectWriter(rejects_path)
    try:
        with db.transaction() as s:
            batch = open_batch(s, kind="pregnancy", path=path, facts=facts, actor=actor)
            summary = ImportSummary(batch_id=batch.id, file=path.name, encoding=facts.encoding)
            scope = access.scope_of(s, actor)
            touched: list[str] = []
            for row in source.rows():
                rejects.header = source.header
                summary.read += 1
                if row.problem:
                    summary.rejected += 1
                    rejects.write(row.line_no, "エラー", row.problem, row.raw)
                    continue
                atena_no, entry = _parse_row(row.values, today)
                if entry is None:
                    summary.rejected += 1
                    rejects.write(row.line_no, "エラー", atena_no, row.raw)
                    continue
                person = s.get(Person, atena_no)
                if person is None or not access.is_visible(s, scope, atena_no):
                    summary.rejected += 1
                    rejects.write(row.line_no, "エラー", f"宛名番号 {atena_no} の方は登録されていません", row.raw)
                    continue
                reason, other = _problem(s, person, entry)
                if other is not None and other.expected_delivery == entry.expected_delivery:
                    summary.duplicates += 1  # already on file (a re-run): not an error
                    continue
                if reason:
                    summary.rejected += 1
                    rejects.write(row.line_no, "エラー", reason, row.raw)
                    continue
                s.add(PregnancyNotice(atena_no=atena_no, expected_delivery=entry.expected_delivery,
                                      notified_on=entry.notified_on, source="boshi", source_ref=entry.source_ref,
                                      status="active", import_batch_id=batch.id, recorded_at=utcnow(),
                                      recorded_by=actor.label))
                s.flush()
                summary.accepted += 1
                touched.append(atena_no)
            changed = reevaluate_persons(s, touched, today)
            for atena_no in dict.fromkeys(touched):
                audit.record(s, actor, "person.pregnancy_set", atena_no=atena_no, purpose="妊娠届の取込（母子保健）",
                             detail={"source": "boshi", "import_batch": batch.id})
            close_batch(batch, summary)
            audit.record(s, actor, "pregnancy.import", purpose="妊娠届の取込（母子保健）",
                         detail={**summary.as_dict(), "records_changed": changed, "sha256": facts.sha256})
    finally:
        rejects.close()
    return summary
