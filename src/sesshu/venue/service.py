"""Venue mode (集団接種会場・医療機関): a station records doses as people pass, from a scanned 接種券.

A station is a browser with presets (vaccine, venue, institution, doctor, manufacturer, lot, dose volume)
kept on the station itself; the server holds no station state, so any number of stations work at once.
A scan is the ticket's 18-digit OCR line (the QR code holds the same 18 digits). The person comes from
the ticket; what the station shows and what it stores go through the ledger's hand-entry use cases
(`check_entry`, `enter_record`, `void_record`): the same checks, ticket use and audit rows as a 予診票
typed at the office. An undo is a void by the same staff member within a short window.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import yaml
from sqlalchemy import select

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.away.service import notice_in_force
from sesshu.clock import now_jst, today_jst, utcnow
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.disclosure.suspension import suspended_among
from sesshu.domain.errors import Conflict, InvalidInput, NotFound
from sesshu.domain.text import clean
from sesshu.domain.tickets import OcrLine, parse_ocr_line
from sesshu.ledger.masters import master_names
from sesshu.ledger.models import VaccinationRecord, Vaccine
from sesshu.ledger.service import DUPLICATE_REASON, EntryCheck, check_entry_in, enter_record_in, void_record
from sesshu.tickets.catalog import line_info
from sesshu.tickets.models import Ticket

PURPOSE = "接種会場での接種の記録"
UNDO_REASON = "接種会場での記録直後の取消"
NOT_ISSUED = "券番号 {no} の接種券は発行されていません（読み取りか入力を確認してください）"
# The station's presets: the record fields they fill, with the longest value accepted.
STATION_FIELDS = {"vaccine_code": 20, "venue_code": 20, "institution_code": 20, "doctor_code": 20,
                  "manufacturer_code": 20, "lot_no": 30, "dose_volume_ml": 10}


@lru_cache(maxsize=1)
def venue_settings() -> dict:
    return yaml.safe_load((Path(__file__).parent / "venue.yaml").read_text(encoding="utf-8"))


def undo_window() -> timedelta:
    return timedelta(seconds=int(venue_settings()["undo_seconds"]["value"]))


@dataclass(frozen=True)
class Station:
    """What a station fills in for every dose (set once per session at the station)."""

    vaccine_code: str
    venue_code: str = ""
    institution_code: str = ""
    doctor_code: str = ""
    manufacturer_code: str = ""
    lot_no: str = ""
    dose_volume_ml: str = ""

    @classmethod
    def from_dict(cls, raw: dict) -> Station:
        values = {k: clean(str(raw.get(k) or ""))[:n] for k, n in STATION_FIELDS.items()}
        if not values["vaccine_code"]:
            raise InvalidInput("端末の設定で接種種別（ワクチン）を選んでください")
        values["vaccine_code"] = values["vaccine_code"].upper()
        return cls(**values)

    def entry(self, *, atena_no: str, vaccinated_on: date, scan: str, dose_no: int,
              at: str = "") -> dict[str, str]:
        """The hand-entry form this dose would be (ledger.service.ENTRY_FIELDS); 回数 as printed on the ticket;
        `at` the 接種時刻 (HH:MM) the station stamps."""
        return {"atena_no": atena_no, "dose_no": str(dose_no), "vaccinated_on": vaccinated_on.isoformat(),
                "vaccination_time": at, "vaccine_code": self.vaccine_code,
                "venue_code": self.venue_code, "institution_code": self.institution_code,
                "doctor_code": self.doctor_code, "manufacturer_code": self.manufacturer_code,
                "lot_no": self.lot_no, "dose_volume_ml": self.dose_volume_ml, "ticket_no": scan,
                "screening_result": "vaccinated"}


def read_scan(raw: str, *, municipality: str) -> OcrLine:
    """The 18 digits a keyboard-wedge scanner (OCR line or QR) or a person typed: full-width digits,
    spaces and hyphens allowed; another municipality's ticket is refused with the reason."""
    text = clean(raw or "")[:40]
    if not text:
        raise InvalidInput("接種券のOCRライン（18桁）またはQRコードを読み取ってください")
    line = parse_ocr_line(text)
    if line.municipality != municipality:
        raise InvalidInput(f"他の市町村（{line.municipality}）の接種券です。住所地外接種の届出と、"
                           "この市の接種券の発行を確認してください")
    return line


def _ticket_holder(s, actor: Actor, line: OcrLine) -> Ticket | None:
    """The ticket a scan names, if the actor may see its holder (OutOfScope answered as not issued); an
    unknown number is on record (the caller commits the entry before refusing)."""
    t = s.execute(select(Ticket).where(Ticket.ticket_no == line.ticket_no)).scalar_one_or_none()
    if t is None:  # probing for numbers is on record
        audit.record(s, actor, "ticket.view_missing", purpose=f"{PURPOSE}（接種券の確認）",
                     detail={"ticket_no": line.ticket_no})
        return None
    access.check_visible(s, actor, t.atena_no, message=NOT_ISSUED.format(no=line.ticket_no))
    return t


@dataclass(frozen=True)
class HolderFacts:
    other_doses: list[str]
    suspended: bool
    registry_status: str
    away_in_force: bool = False  # a 住所地外接種の届出 of the holder for the line holds on the day


@dataclass
class ScanResult:
    """What a station shows for a scan: the person, the engine's verdict for a dose on `vaccinated_on`,
    a refusal (recording would be refused) and warnings (recording is allowed; staff should look)."""

    scan: str
    vaccinated_on: date
    ticket: Ticket
    check: EntryCheck
    refusal: str = ""
    warnings: list[str] = field(default_factory=list)


def _warnings(t: Ticket, facts: HolderFacts, check: EntryCheck) -> list[str]:
    out: list[str] = []
    if facts.other_doses:
        out.append(f"この日すでに他の接種（{'・'.join(facts.other_doses)}）の記録があります。接種間隔を確認してください")
    v = check.verdict
    if v is not None and v.status != "valid":
        out.append("判定: " + ("；".join(v.reasons) or v.status))
    if v is not None and v.dose_number and v.dose_number != t.dose_no:
        out.append(f"接種券は{line_info(t.vaccine).dose_text(t.dose_no)}用ですが、記録では{v.dose_number}回目になります")
    if facts.suspended:
        out.append("利用停止の請求がある方です（接種の記録は法定の台帳のため行います。案内・出力には使いません）")
    if facts.registry_status != "resident" and check.person is not None:
        out.append(f"住民区分: {check.person.registry_status_label}")
    if facts.registry_status == "non_resident" and not facts.away_in_force:
        out.append("この日に有効な住所地外接種の届出がありません（取下げ・終了・期間外の届出済証は無効です）")
    return out


def look_up(db: Database, settings: Settings, *, actor: Actor, station: Station, scan: str,
            on: date | None = None) -> ScanResult:
    """A scan at a station: nothing is stored; the view of the person is audited (check_entry). One
    transaction: the ticket, its holder, the warnings' facts and the verdict."""
    on = on or today_jst()
    line = read_scan(scan, municipality=settings.municipality_code)
    with db.transaction() as s:
        t = _ticket_holder(s, actor, line)
        if t is not None:
            suspended = bool(suspended_among(s, [t.atena_no]))
            check = check_entry_in(s, settings, actor=actor, purpose=PURPOSE,
                                   raw=station.entry(atena_no=t.atena_no, vaccinated_on=on, scan=str(line),
                                                     dose_no=t.dose_no))
            facts = None
            if check.person is not None:
                facts = HolderFacts(
                    other_doses=sorted({r.vaccine_code for r in check.records
                                        if r.vaccinated_on == on and r.vaccine_code != station.vaccine_code}),
                    suspended=suspended,
                    registry_status=check.person.registry_status,
                    away_in_force=notice_in_force(s, t.atena_no, t.vaccine, on))
            s.expunge(t)
    if t is None:
        raise NotFound(NOT_ISSUED.format(no=line.ticket_no))
    refusal = check.error
    if not refusal and check.duplicate:
        refusal = "この方にはこの日すでに同じ接種の記録があります（二重登録はできません）"
    return ScanResult(scan=str(line), vaccinated_on=on, ticket=t, check=check, refusal=refusal,
                      warnings=_warnings(t, facts, check) if facts is not None else [])


@dataclass
class Recorded:
    record_id: int
    version: int
    atena_no: str
    vaccine_code: str
    vaccinated_on: date
    error_code: str
    verdict: object
    person: object
    undo_until: object
    replayed: bool = False  # the station sent it again after losing the answer: it was already stored


def record_scan(db: Database, settings: Settings, *, actor: Actor, station: Station, scan: str,
                on: date | None = None, confirm_invalid: bool = False) -> Recorded:
    """Store the dose for a scanned ticket through the ledger's hand-entry use case (ticket used, record
    and audit rows in one transaction). Sending the same scan again after a lost answer stores nothing
    and returns the record already stored by this staff member with this ticket. A dose the engine
    judges invalid is stored only when the station confirmed it (a second F2: confirm_invalid), as in
    hand entry."""
    now = now_jst()
    on = on or now.date()
    if on > now.date():
        raise InvalidInput("接種年月日が未来の日付です")
    # 接種時刻: the moment the dose is stored (JST), for a campaign's 時間外加算. A dose of an earlier day (a
    # 再送 kept overnight) gets no time: the server does not know when it was given.
    at = now.strftime("%H:%M") if on == now.date() else ""
    line = read_scan(scan, municipality=settings.municipality_code)
    try:
        with db.transaction() as s:  # one transaction: the ticket, the record, its ticket used, the audit rows
            t = _ticket_holder(s, actor, line)
            if t is not None:
                s.expunge(t)  # kept as read, also when the record is refused and rolled back
                saved = enter_record_in(s, settings, actor=actor, purpose=PURPOSE,
                                        confirm_invalid=confirm_invalid,
                                        raw=station.entry(atena_no=t.atena_no, vaccinated_on=on, scan=str(line),
                                                          dose_no=t.dose_no, at=at))
    except Conflict as e:
        if not e.message.startswith(DUPLICATE_REASON):
            raise
        replay = _same_dose_recorded(db, actor, t, station, on)
        if replay is None:
            raise
        return replay
    if t is None:
        raise NotFound(NOT_ISSUED.format(no=line.ticket_no))
    r = saved.record
    return Recorded(record_id=r.id, version=r.version, atena_no=r.atena_no, vaccine_code=r.vaccine_code,
                    vaccinated_on=r.vaccinated_on, error_code=r.error_code or "", verdict=saved.verdict,
                    person=saved.person, undo_until=utcnow() + undo_window())


def _same_dose_recorded(db: Database, actor: Actor, t: Ticket, station: Station, on: date) -> Recorded | None:
    with db.transaction() as s:
        r = s.execute(select(VaccinationRecord).join(Ticket, Ticket.used_record_id == VaccinationRecord.id).where(
            Ticket.id == t.id, VaccinationRecord.status == "active", VaccinationRecord.vaccinated_on == on,
            VaccinationRecord.vaccine_code == station.vaccine_code,
            VaccinationRecord.created_by == actor.label)).scalar_one_or_none()
        if r is None:
            return None
        audit.record(s, actor, "venue.replay", atena_no=r.atena_no, purpose=PURPOSE,
                     detail={"record_id": r.id, "ticket_no": t.ticket_no})
        return Recorded(record_id=r.id, version=r.version, atena_no=r.atena_no, vaccine_code=r.vaccine_code,
                        vaccinated_on=r.vaccinated_on, error_code=r.error_code or "", verdict=None, person=None,
                        undo_until=r.created_at + undo_window(), replayed=True)


def undo(db: Database, *, actor: Actor, record_id: int, version: int) -> None:
    """One key at the station: the record this staff member stored moments ago is voided (its ticket valid
    again), through the ledger's void with its history and audit rows. Later, or someone else's record:
    refused — that is a 職権修正 for a supervisor."""
    window = undo_window()

    def fresh_and_mine(r: VaccinationRecord) -> None:
        if r.created_by != actor.label:
            raise InvalidInput("他の職員が記録した接種は、この端末では取り消せません（職権修正で取り消してください）")
        if utcnow() - r.created_at > window:
            raise InvalidInput(f"記録から{int(window.total_seconds())}秒を過ぎたため、この端末では取り消せません"
                               "（上長の職権修正で取り消してください）")

    void_record(db, actor=actor, record_id=record_id, expected_version=version, reason=UNDO_REASON,
                purpose=PURPOSE, only_if=fresh_and_mine)


def station_choices(db: Database) -> dict[str, dict[str, str]]:
    """The codes a station may preset: the active vaccines (routine and any loaded campaign's) and masters."""
    choices = master_names(db)
    with db.transaction() as s:
        choices["vaccines"] = dict(s.execute(select(Vaccine.code, Vaccine.name).where(Vaccine.active)
                                             .order_by(Vaccine.code)).all())
    return choices
