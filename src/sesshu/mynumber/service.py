"""Use cases of the My Number layer: showing the full number (with a stated reason) and 個人番号確認.

Screens, the API, the CLI and exports only ever show the last four digits. The full number is
decrypted for one person at a time, by a role granted `person.reveal_my_number`, for a purpose
chosen from a fixed list plus a reason in the user's words — and the audit entry is written in
the transaction that decrypts, so there is no reveal without its record.

個人番号確認 (団体内統合宛名システム機能③) never decrypts: the presented number is checked for its
check digit and compared with the person's keyed hash; the 4情報 on the presented document are
compared with the record (typed) or confirmed by staff (ticked). Every check is stored with its
result and audited.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.auth.permissions import has_permission
from sesshu.clock import JST, utcnow
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.domain import my_number as mn_rules
from sesshu.domain.errors import Forbidden, InvalidInput, NotFound
from sesshu.domain.text import clean, clean_address, clean_name
from sesshu.domain.wareki import DateParseError, parse_date
from sesshu.keys import load_keyring
from sesshu.mynumber.models import MyNumberVerification
from sesshu.registry.models import Person
from sesshu.registry.schemas import PersonOut
from sesshu.registry.service import my_number_hash
from sesshu.retention import personkeys

REVEAL_PERMISSION = "person.reveal_my_number"
# Why a full 個人番号 may be shown in this 事務 (番号法 第9条・別表第一, 第19条).
REVEAL_PURPOSES = {
    "linkage": "情報提供ネットワークシステムによる照会・提供の確認",
    "relief_claim": "健康被害救済給付の申請書類との照合",
    "disclosure": "本人からの開示請求への対応",
    "correction": "登録された個人番号の確認・訂正",
}
REASON_MIN, REASON_MAX = 4, 200

# Documents presented for 個人番号確認 (番号法 第16条): the card alone, or a number document
# together with an identity document (身元確認書類).
DOCUMENTS = {
    "mynumber_card": "個人番号カード",
    "notification_card": "通知カード＋身元確認書類",
    "resident_record": "個人番号付き住民票の写し＋身元確認書類",
}
ITEMS = {"name": "氏名", "birth_date": "生年月日", "sex": "性別", "address": "住所"}
CHECKS = {"match": "一致", "mismatch": "不一致", "confirmed": "目視で一致を確認"}
NUMBER_CHECKS = {"match": "一致", "mismatch": "不一致", "not_registered": "個人番号が未登録",
                 "bad_check_digit": "検査用数字の誤り"}
RESULTS = {"match": "一致", "mismatch": "不一致", "bad_check_digit": "検査用数字の誤り"}
_SEX_INPUT = {"男": "M", "男性": "M", "M": "M", "女": "F", "女性": "F", "F": "F"}


# --- reveal ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RevealedNumber:
    atena_no: str
    name: str
    number: str
    purpose: str
    audit_seq: int


def check_reveal_reason(purpose_code: str, reason: str) -> tuple[str, str]:
    """(purpose label, reason) or a Japanese InvalidInput."""
    label = REVEAL_PURPOSES.get(purpose_code)
    if label is None:
        raise InvalidInput("表示する目的を選択してください")
    text = " ".join(clean(reason).split())
    if not text:
        raise InvalidInput("表示する理由を入力してください")
    if len(text) < REASON_MIN:
        raise InvalidInput(f"表示する理由は具体的に入力してください（{REASON_MIN}文字以上）")
    if len(text) > REASON_MAX:
        raise InvalidInput(f"表示する理由は{REASON_MAX}文字以内で入力してください")
    return label, text


def reveal_my_number(db: Database, settings: Settings, *, actor: Actor, atena_no: str, purpose_code: str,
                     reason: str) -> RevealedNumber:
    """The full number of one person; decrypted and audited in one transaction."""
    if actor.kind == "user" and not has_permission(actor.role, REVEAL_PERMISSION):
        raise Forbidden("個人番号を表示する権限がありません")
    purpose, reason = check_reveal_reason(purpose_code, reason)
    keys = load_keyring(settings)
    with db.transaction() as s:
        p = _person(s, actor, atena_no)
        if p.my_number_enc is None:
            raise NotFound("この方の個人番号は登録されていません")
        number = personkeys.open_number(s, keys, p.atena_no, p.my_number_enc)
        seq = audit.record(s, actor, "mynumber.reveal", atena_no=p.atena_no, purpose=purpose,
                           detail={"purpose_code": purpose_code, "reason": reason})
        return RevealedNumber(atena_no=p.atena_no, name=p.name, number=number, purpose=purpose, audit_seq=seq)


def _person(s: Session, actor: Actor, atena_no: str) -> Person:
    p = s.get(Person, atena_no)
    if p is None:
        raise NotFound(f"宛名番号 {atena_no} の方は登録されていません")
    access.check_visible(s, actor, atena_no)
    return p


# --- 個人番号確認 -----------------------------------------------------------------------------------

@dataclass
class Presented:
    """What staff enter from the presented document: the number, and each of the 4情報 either typed
    as written on the document or ticked as confirmed against the record shown on screen."""

    number: str
    document: str
    identity_document: str = ""
    name: str = ""
    name_confirmed: bool = False
    birth_date: str = ""
    birth_date_confirmed: bool = False
    sex: str = ""
    sex_confirmed: bool = False
    address: str = ""
    address_confirmed: bool = False


@dataclass(frozen=True)
class VerificationOut:
    id: int
    atena_no: str
    verified_at: datetime
    verified_by: str
    document: str
    identity_document: str
    result: str
    number_check: str
    checks: dict[str, str] = field(default_factory=dict)

    @property
    def verified_at_jst(self) -> datetime:
        return self.verified_at.replace(tzinfo=timezone.utc).astimezone(JST)

    @property
    def result_label(self) -> str:
        return RESULTS[self.result]

    @property
    def document_label(self) -> str:
        return DOCUMENTS.get(self.document, self.document)

    @property
    def number_check_label(self) -> str:
        return NUMBER_CHECKS[self.number_check]

    @property
    def mismatched(self) -> list[str]:
        """Japanese names of the items that did not match, the number first."""
        out = ["個人番号"] if self.number_check in ("mismatch", "not_registered") else []
        return out + [ITEMS[k] for k, v in self.checks.items() if v == "mismatch"]

    @classmethod
    def from_row(cls, v: MyNumberVerification) -> "VerificationOut":
        return cls(id=v.id, atena_no=v.atena_no, verified_at=v.verified_at, verified_by=v.verified_by,
                   document=v.document, identity_document=v.identity_document, result=v.result,
                   number_check=v.number_check,
                   checks={"name": v.name_check, "birth_date": v.birth_date_check, "sex": v.sex_check,
                           "address": v.address_check})


@dataclass(frozen=True)
class VerificationContext:
    person: PersonOut
    recent: list[VerificationOut]


def _name_key(value: str) -> str:
    return clean_name(clean(value)).replace("\u3000", "")


def _address_key(value: str) -> str:
    return "".join(clean_address(value).split())


def _item_check(label: str, typed: str, confirmed: bool, compare) -> str:
    if clean(typed):
        return "match" if compare(typed) else "mismatch"
    if confirmed:
        return "confirmed"
    raise InvalidInput(f"{label}: 提示された書類の記載を入力するか、登録内容と一致することを確認してチェックしてください")


def _same_birth_date(p: Person, typed: str) -> bool:
    try:
        return parse_date(typed) == p.birth_date
    except DateParseError as e:
        raise InvalidInput(f"生年月日: {e}") from None


def _same_sex(p: Person, typed: str) -> bool:
    code = _SEX_INPUT.get(clean(typed).upper())
    if code is None:
        raise InvalidInput("性別は「男」または「女」で入力してください")
    return code == p.sex


def compare_items(p: Person, presented: Presented) -> dict[str, str]:
    """Each of the 4情報: match / mismatch when typed, confirmed when ticked."""
    return {
        "name": _item_check("氏名", presented.name, presented.name_confirmed,
                            lambda t: _name_key(t) == _name_key(p.name)),
        "birth_date": _item_check("生年月日", presented.birth_date, presented.birth_date_confirmed,
                                  lambda t: _same_birth_date(p, t)),
        "sex": _item_check("性別", presented.sex, presented.sex_confirmed, lambda t: _same_sex(p, t)),
        "address": _item_check("住所", presented.address, presented.address_confirmed,
                               lambda t: _address_key(t) == _address_key(p.address)),
    }


def _check_document(presented: Presented) -> str:
    if presented.document not in DOCUMENTS:
        raise InvalidInput("提示された書類を選択してください")
    identity = " ".join(clean(presented.identity_document).split())
    if presented.document != "mynumber_card" and not identity:
        raise InvalidInput("身元確認書類（運転免許証など）の名称を入力してください")
    if len(identity) > 60:
        raise InvalidInput("身元確認書類の名称は60文字以内で入力してください")
    return identity


def _number_check(settings: Settings, p: Person, number: str) -> str:
    """Compared through the keyed hash only: nothing is decrypted."""
    if not (len(number) == 12 and number.isascii() and number.isdigit()):
        raise InvalidInput(mn_rules.validation_error(number) or "個人番号は数字12桁で入力してください")
    if not mn_rules.is_valid(number):
        return "bad_check_digit"
    if p.my_number_hmac is None:
        return "not_registered"
    presented = my_number_hash(load_keyring(settings), number)
    return "match" if hmac.compare_digest(presented, p.my_number_hmac) else "mismatch"


def verify_my_number(db: Database, settings: Settings, *, actor: Actor, atena_no: str,
                     presented: Presented) -> VerificationOut:
    """Check a presented number and the 4情報 against one person; the result is stored and audited."""
    number = mn_rules.normalize(presented.number)
    if not number:
        raise InvalidInput("提示された個人番号を入力してください")
    identity = _check_document(presented)
    with db.transaction() as s:
        p = _person(s, actor, atena_no)
        number_check = _number_check(settings, p, number)
        checks = compare_items(p, presented)
        if number_check == "bad_check_digit":
            result = "bad_check_digit"
        elif number_check == "match" and "mismatch" not in checks.values():
            result = "match"
        else:
            result = "mismatch"
        row = MyNumberVerification(
            atena_no=p.atena_no, verified_at=utcnow(), verified_by=actor.label, document=presented.document,
            identity_document=identity, result=result, number_check=number_check, name_check=checks["name"],
            birth_date_check=checks["birth_date"], sex_check=checks["sex"], address_check=checks["address"],
            audit_seq=0)
        s.add(row)
        s.flush()
        out = VerificationOut.from_row(row)
        row.audit_seq = audit.record(
            s, actor, "mynumber.verify", atena_no=p.atena_no, purpose="個人番号確認",
            detail={"verification_id": row.id, "result": result, "number": number_check, **checks,
                    "document": presented.document, "mismatched": out.mismatched})
    return out


def verification_context(db: Database, *, actor: Actor, atena_no: str, limit: int = 10) -> VerificationContext:
    """What the 個人番号確認 page shows: the 4情報 on record (number masked) and the latest checks.

    Showing the 4情報 is a view of the person, so it is audited like the person page.
    """
    with db.transaction() as s:
        p = _person(s, actor, atena_no)
        rows = s.execute(select(MyNumberVerification).where(MyNumberVerification.atena_no == atena_no)
                         .order_by(MyNumberVerification.id.desc()).limit(limit)).scalars().all()
        audit.record(s, actor, "person.view", atena_no=atena_no, purpose="個人番号確認")
        # The page says only whether a number is on record: nothing is decrypted for it.
        return VerificationContext(person=PersonOut.from_row(p), recent=[VerificationOut.from_row(r) for r in rows])

