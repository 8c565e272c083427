"""住所地外接種: accept a 届出 from a person registered in another municipality who will be vaccinated
here (出産帰省, 単身赴任, students, DV victims …), and issue the 届出済証.

The person must already be known to the city: a 住登外者 becomes a person only through the two-person
check (approvals, kind non_resident_registration); a resident of this city needs no 届出. The 届出 is
recorded with its reason, home municipality, period and line in one transaction with its audit entry and
the print of the 届出済証 (log_print with the PDF's hash).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.clock import today_jst, utcnow
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.domain.errors import Conflict, InvalidInput, NotFound
from sesshu.domain.text import clean
from sesshu.domain.tickets import check_municipality_code
from sesshu.away.models import AwayNotice
from sesshu.away.render import ReceiptData, render_receipt
from sesshu.exports.service import log_print
from sesshu.printing import PrintedPdf
from sesshu.registry.models import Person
from sesshu.tickets import numbers
from sesshu.tickets.catalog import line_info

PURPOSE = "住所地外接種の届出の受理"
DOCUMENT = "住所地外接種届出済証"
COUNTER = "away_notice_no"


@lru_cache(maxsize=1)
def reasons_data() -> dict:
    return yaml.safe_load((Path(__file__).parent / "reasons.yaml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class AwayRequest:
    atena_no: str
    reason: str
    home_municipality: str
    period_from: date
    period_until: date
    vaccine: str
    channel: str = "counter"
    reason_note: str = ""
    home_municipality_code: str = ""
    home_ticket_no: str = ""


@dataclass(frozen=True)
class AcceptedNotice:
    notice_no: str
    atena_no: str
    pdf: PrintedPdf


def _checked(req: AwayRequest, today: date) -> AwayRequest:
    data = reasons_data()
    reason = clean(req.reason)
    by_label = {v["label"]: k for k, v in data["reasons"].items()}
    reason = by_label.get(reason, reason)
    if reason not in data["reasons"]:
        raise InvalidInput("届出の理由は次のいずれかです: " + "、".join(v["label"] for v in data["reasons"].values()))
    channel = clean(req.channel)
    channel = {v: k for k, v in data["channels"].items()}.get(channel, channel)
    if channel not in data["channels"]:
        raise InvalidInput("受付方法は 窓口・郵送・ウェブ のいずれかです")
    home = clean(req.home_municipality)
    if not home or len(home) > 40:
        raise InvalidInput("住民票所在地の市町村名を40文字以内で入力してください")
    code = clean(req.home_municipality_code)
    if code:
        check_municipality_code(code)
    if req.period_until < req.period_from:
        raise InvalidInput("滞在期間の終わりが始まりより前です")
    if req.period_until < today:
        raise InvalidInput("滞在期間が既に終わっています")
    note = clean(req.reason_note)
    if len(note) > 200:
        raise InvalidInput("理由の補足は200文字以内で入力してください")
    ticket = clean(req.home_ticket_no).replace(" ", "").replace("-", "")
    if ticket and not (ticket.isdigit() and len(ticket) in (10, 18)):
        raise InvalidInput("住所地の接種券番号は10桁または18桁（OCRライン）の数字です")
    return AwayRequest(atena_no=req.atena_no.strip(), reason=reason, home_municipality=home,
                       period_from=req.period_from, period_until=req.period_until,
                       vaccine=line_info(req.vaccine).code, channel=channel, reason_note=note,
                       home_municipality_code=code, home_ticket_no=ticket)


def accept(db: Database, settings: Settings, *, actor: Actor, request: AwayRequest) -> AcceptedNotice:
    """Record a 届出 and print its 届出済証 (one transaction: row, audit entry, print log)."""
    today = today_jst()
    req = _checked(request, today)
    with db.transaction() as s:
        p = s.get(Person, req.atena_no) if req.atena_no.isdigit() else None
        if p is None:
            raise NotFound(f"宛名番号 {req.atena_no} の方は登録されていません。住民票がこの市にない方は、"
                           "先に住登外者の登録（2人による確認）を申請してください")
        access.check_visible(s, actor, p.atena_no)
        if p.registry_status == "resident":
            raise InvalidInput("この市の住民の方です（住所地外接種の届出は不要です）")
        if p.registry_status != "non_resident":
            raise InvalidInput(f"住登外者として登録された方だけが届出できます（住民区分: {p.registry_status}）")
        no = f"{today.year}{numbers.take(s, COUNTER)[0]:06d}"
        row = AwayNotice(notice_no=no, atena_no=p.atena_no, reason=req.reason, reason_note=req.reason_note,
                         home_municipality=req.home_municipality, home_municipality_code=req.home_municipality_code,
                         home_ticket_no=req.home_ticket_no, vaccine=req.vaccine, period_from=req.period_from,
                         period_until=req.period_until, received_on=today, channel=req.channel,
                         status="accepted", created_at=utcnow(), created_by=actor.label)
        s.add(row)
        s.flush()
        reason = reasons_data()["reasons"][req.reason]
        pdf = render_receipt(ReceiptData(
            notice_no=no, issued_on=today, municipality_name=settings.municipality_name, name=p.name,
            name_kana=p.name_kana, birth_date=p.birth_date, stay_address=p.address,
            home_municipality=req.home_municipality, reason=reason["label"], reason_note=req.reason_note,
            vaccine=line_info(req.vaccine).name, period_from=req.period_from, period_until=req.period_until,
            home_ticket_no=req.home_ticket_no))
        audit.record(s, actor, "away.accept", atena_no=p.atena_no, purpose=PURPOSE, detail={
            "notice_no": no, "reason": req.reason, "home_municipality": req.home_municipality,
            "vaccine": req.vaccine, "period_from": req.period_from, "period_until": req.period_until,
            "channel": req.channel})
        log_print(s, actor, document=DOCUMENT, purpose=PURPOSE, rows=1, sha256=pdf.sha256, atena_no=p.atena_no,
                  detail={"notice_no": no})
        return AcceptedNotice(notice_no=no, atena_no=p.atena_no, pdf=pdf)


def notices_of(db: Database, *, actor: Actor, atena_no: str) -> list[AwayNotice]:
    with db.transaction() as s:
        access.check_visible(s, actor, atena_no)
        rows = s.execute(select(AwayNotice).where(AwayNotice.atena_no == atena_no)
                         .order_by(AwayNotice.id)).scalars().all()
        audit.record(s, actor, "away.view", atena_no=atena_no, purpose="住所地外接種の届出の確認",
                     detail={"notices": len(rows)})
        for r in rows:
            s.expunge(r)
        return rows


# 取下げ: the person withdraws the 届出 (it is void from the start, e.g. the plan to stay here fell through);
# 終了: it ends before its period does (e.g. the person went home early), void from the day given on.
CLOSE_KINDS = {"withdrawn": "取下げ", "ended": "終了"}
STATUS_LABELS = {"accepted": "有効", "withdrawn": "取下げ（無効）", "ended": "終了"}


def in_force(n: AwayNotice, on: date) -> bool:
    """Whether the 届出済証 of this 届出 holds on `on`: accepted and within its period; an ended one only
    before the day it ended; a withdrawn one never."""
    if n.status == "withdrawn" or not n.period_from <= on <= n.period_until:
        return False
    return n.status == "accepted" or (n.status == "ended" and n.closed_on is not None and on < n.closed_on)


def notice_in_force(s: Session, atena_no: str, vaccine: str, on: date) -> bool:
    """Some 届出 of the person for this line holds on `on` (the venue warns when none does)."""
    rows = s.execute(select(AwayNotice).where(AwayNotice.atena_no == atena_no, AwayNotice.vaccine == vaccine)).scalars()
    return any(in_force(n, on) for n in rows)


def close(db: Database, *, actor: Actor, notice_no: str, kind: str, reason: str,
          closed_on: date | None = None, atena_no: str | None = None) -> AwayNotice:
    """取下げ or 終了 of a 届出, with its reason, in one transaction with the audit entry (away.withdraw /
    away.end); the 届出済証 is void after (in_force). A 届出 already withdrawn or ended is not changed again."""
    if kind not in CLOSE_KINDS:
        raise InvalidInput("取下げ（withdrawn）か終了（ended）を選んでください")
    reason = clean(reason)
    if not reason:
        raise InvalidInput(f"{CLOSE_KINDS[kind]}の理由を入力してください")
    if len(reason) > 200:
        raise InvalidInput(f"{CLOSE_KINDS[kind]}の理由は200文字以内で入力してください")
    today = today_jst()
    no = clean(notice_no).replace(" ", "")
    with db.transaction() as s:
        row = s.execute(select(AwayNotice).where(AwayNotice.notice_no == no).with_for_update()).scalar_one_or_none()
        if row is None or (atena_no is not None and row.atena_no != atena_no):
            raise NotFound(f"届出番号 {no} の届出はありません")
        access.check_visible(s, actor, row.atena_no, message=f"届出番号 {no} の届出はありません")
        if row.status != "accepted":
            raise Conflict(f"届出番号 {no} は既に{STATUS_LABELS.get(row.status, row.status)}です")
        if kind == "withdrawn":
            on = today
        else:
            on = closed_on or today
            if not row.period_from <= on <= row.period_until:
                raise InvalidInput(f"終了日は滞在期間（{row.period_from.isoformat()}〜{row.period_until.isoformat()}）"
                                   "の中の日にしてください")
        row.status, row.closed_on, row.closed_at, row.closed_by, row.close_reason = (
            kind, on, utcnow(), actor.label, reason)
        audit.record(s, actor, "away.withdraw" if kind == "withdrawn" else "away.end", atena_no=row.atena_no,
                     purpose=PURPOSE, detail={"notice_no": no, "reason": reason, "closed_on": on,
                                              "vaccine": row.vaccine})
        s.flush()
        s.expunge(row)
        return row
