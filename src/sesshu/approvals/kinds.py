"""The kinds of change that need a second person's approval — one entry each in KINDS.

A kind says who may ask for it (`permission`, the permission of the underlying action), how to read
and check its payload (`validate`, run when it is requested and again when it is approved), how to
describe it (a list-safe `summary` and the `details` an approver reads) and how to carry it out
(`apply`, run in the same transaction as the approval), and which 事務 it belongs to (`tasks`: only
staff assigned to one of them may request, read or decide it; `atena_nos` the persons it touches,
each of which must be in the actor's scope too). A later kind (manual provision, 中間サーバー
registration) is one more `ApprovalKind(...)` below.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable

from sqlalchemy.orm import Session

from sesshu.access import service as access
from sesshu.access.tasks import VACCINATION_TASKS
from sesshu.actor import Actor
from sesshu.domain import my_number as mn_rules
from sesshu.domain.errors import InvalidInput, NotFound
from sesshu.domain.text import clean, clean_address, clean_name, kana_key
from sesshu.domain.wareki import DateParseError, parse_date
from sesshu.keys import KeyRing
from sesshu.ledger import service as ledger
from sesshu.ledger.models import VaccinationRecord
from sesshu.registry import service as registry
from sesshu.registry.models import SEXES, Person
from sesshu.registry.rows import normalize_kana
from sesshu.retention import approval as retention_approval


@dataclass(frozen=True)
class Context:
    """What validate/apply may use besides the session. apply also gets the request's id and reason."""

    keys: KeyRing
    actor: Actor
    today: date
    approval_id: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class ApprovalKind:
    code: str
    label: str
    permission: str
    # The 事務 the change belongs to: only staff assigned to one of them may request, read or decide it
    # (approvals.service opens the scope with these before it reads the payload). No default: a new
    # kind must say.
    tasks: tuple[str, ...]
    # raw (form / JSON) → clean payload (JSON-serialisable); raises InvalidInput with a Japanese reason.
    # Runs when the request is made; apply must itself re-check what may have changed since.
    validate: Callable[[Session, dict, Context], dict]
    summary: Callable[[dict], str]
    subject: Callable[[dict], str | None]  # what at most one pending request may be about
    details: Callable[[dict], list[tuple[str, str]]]
    atena_nos: Callable[[dict], list[str]]  # persons the payload touches (access scope, audit)
    # Carries out the change as ctx.actor (the approver); returns the result reference (new 宛名番号 …).
    apply: Callable[[Session, dict, Context], str]
    outcome_atena_no: Callable[[dict, str], str | None]  # (payload, result reference) → person to look at
    # (session, payload, viewer) → (header, rows, not listed): the persons a pending request is about, read
    # live for the approver — a payload that must not name them (an erasure) still shows who they are.
    subjects: Callable[[Session, dict, Actor], tuple[list[str], list[list[str]], int]] | None = None
    # The CLI operator (no staff identity) may file this kind — never decide it: `sesshu linkage inquire`
    # asks for a 情報照会 that a supervisor then approves on the web.
    os_may_request: bool = False


# --- 住登外者の登録 ----------------------------------------------------------------------------------

_SEX_INPUT = {"M": "M", "F": "F", "男": "M", "女": "F", "1": "M", "2": "F"}


class DuplicateSuspected(InvalidInput):
    """Persons with the same カナ氏名・生年月日・性別 exist; the requester must confirm they differ."""

    code = "E_DUPLICATE_SUSPECTED"

    def __init__(self, message: str, atena_nos: tuple[str, ...]):
        super().__init__(message)
        self.atena_nos = atena_nos


def _validate_non_resident(s: Session, raw: dict, ctx: Context) -> dict:
    name = clean_name(str(raw.get("name", "")))
    kana = normalize_kana(str(raw.get("name_kana", "")))
    problems = []
    if not name:
        problems.append("氏名を入力してください")
    if not kana:
        problems.append("氏名カナを入力してください")
    elif not all(c == " " or "\u30a0" <= c <= "\u30ff" for c in kana):
        problems.append("氏名カナはカタカナで入力してください")
    sex = _SEX_INPUT.get(clean(str(raw.get("sex", ""))))
    if sex is None:
        problems.append("性別を選択してください")
    birth = None
    raw_birth = str(raw.get("birth_date", "")).strip()
    if not raw_birth:
        problems.append("生年月日を入力してください")
    else:
        try:
            birth = parse_date(raw_birth)
        except DateParseError as e:
            problems.append(f"生年月日: {e}")
        else:
            if birth > ctx.today:
                problems.append("生年月日が未来の日付です")
    address = clean_address(str(raw.get("address", "")))
    if not address:
        problems.append("住所を入力してください")
    number = mn_rules.normalize(str(raw.get("my_number", "")))
    if number:
        reason = mn_rules.validation_error(number)
        if reason:
            problems.append(reason)
    lengths = {"氏名": (name, 100), "氏名カナ": (kana, 100), "住所": (address, 200)}
    problems += [f"{label}は{limit}文字以内で入力してください" for label, (v, limit) in lengths.items() if len(v) > limit]
    postal = clean(str(raw.get("postal_code", ""))).replace("〒", "").strip()
    phone = clean(str(raw.get("phone", ""))).replace(" ", "")
    if len(postal) > 8 or (postal and not postal.replace("-", "").isdigit()):
        problems.append("郵便番号は 360-0001 の形で入力してください")
    if len(phone) > 20:
        problems.append("電話番号は20文字以内で入力してください")
    if problems:
        raise InvalidInput("。".join(problems))
    acknowledged = sorted({str(a) for a in raw.get("acknowledged", ()) if str(a).isdigit()})
    dup = registry.non_resident_duplicates(s, ctx.keys, kana_key=kana_key(kana), birth_date=birth, sex=sex,
                                           my_number=number)
    if dup.my_number_owner:
        raise InvalidInput(f"この個人番号は既に宛名番号 {dup.my_number_owner} の方に登録されています。"
                           "その方の記録を使ってください")
    unconfirmed = tuple(a for a in dup.same_four_items if a not in acknowledged)
    if unconfirmed:
        raise DuplicateSuspected(
            f"カナ氏名・生年月日・性別が同じ方が既に登録されています（宛名番号 {'、'.join(unconfirmed)}）。"
            "同一人物でないことを確認した場合に限り、確認欄にチェックして申請してください", unconfirmed)
    payload = {"name": name, "name_kana": kana, "sex": sex, "birth_date": birth.isoformat(), "postal_code": postal,
               "address": address, "phone": phone, "my_number": number,
               "acknowledged": [a for a in acknowledged if a in dup.same_four_items]}
    # Only a row of the registry feed (approvals.service.non_resident_from_registry) names its number.
    source = clean(str(raw.get("source_atena_no", "")))
    if source:
        if not source.isdigit() or len(source) > 15:
            raise InvalidInput("住基ファイルの宛名番号が正しくありません")
        payload["source_atena_no"] = source
    return payload


def _non_resident_summary(p: dict) -> str:
    # No name, no number: lists are seen by more people than the detail.
    return f"住登外者の登録（{p['birth_date'][:4]}年生・{SEXES.get(p['sex'], '')}）"


def _non_resident_details(p: dict) -> list[tuple[str, str]]:
    rows = [("氏名", p["name"]), ("氏名カナ", p["name_kana"]), ("性別", SEXES.get(p["sex"], "")),
            ("生年月日", p["birth_date"]), ("郵便番号", p["postal_code"]), ("住所", p["address"]),
            ("電話番号", p["phone"]), ("個人番号", mn_rules.mask(p["my_number"]) if p["my_number"] else "なし")]
    if p["acknowledged"]:
        rows.append(("同一人物でないと確認済みの方", "宛名番号 " + "、".join(p["acknowledged"])))
    if p.get("source_atena_no"):
        rows.append(("申請元", f"住民基本台帳ファイルの取込（宛名番号 {p['source_atena_no']} で登録）"))
    return rows


def _apply_non_resident(s: Session, p: dict, ctx: Context) -> str:
    fields = dict(p, birth_date=date.fromisoformat(p["birth_date"]))
    return registry.register_non_resident(s, ctx.keys, ctx.actor, fields, approval_id=ctx.approval_id)


# --- 接種記録の付け替え（別人への移動） -----------------------------------------------------------------

def _validate_reassign(s: Session, raw: dict, ctx: Context) -> dict:
    try:
        record_id = int(raw.get("record_id"))
        expected_version = int(raw.get("expected_version"))
    except (TypeError, ValueError):
        raise InvalidInput("記録番号・版数が正しくありません。画面を開き直してください") from None
    to_atena_no = clean(str(raw.get("to_atena_no", ""))).replace(" ", "")
    if not to_atena_no.isdigit() or len(to_atena_no) > 15:
        raise InvalidInput("付け替え先の宛名番号を15桁以内の数字で入力してください")
    r = s.get(VaccinationRecord, record_id)
    if r is None or r.status != "active":
        raise NotFound("指定の接種記録はありません（取消済みの可能性があります）")
    access.check_visible(s, ctx.actor, r.atena_no, record_id=r.id,
                         message="指定の接種記録はありません（取消済みの可能性があります）")
    if r.version != expected_version:
        raise InvalidInput("他の職員がこの記録を先に更新しました。画面を開き直して確認してください")
    if to_atena_no == r.atena_no:
        raise InvalidInput("付け替え先が現在と同じ宛名番号です")
    target = s.get(Person, to_atena_no)
    if target is None:
        raise NotFound(f"付け替え先の宛名番号 {to_atena_no} の方は登録されていません")
    access.check_visible(s, ctx.actor, to_atena_no,
                         message=f"付け替え先の宛名番号 {to_atena_no} の方は登録されていません")
    if r.vaccinated_on < target.birth_date:
        raise InvalidInput("接種年月日が付け替え先の方の生年月日より前です。宛名番号を確認してください")
    return {"record_id": r.id, "expected_version": expected_version, "from_atena_no": r.atena_no,
            "to_atena_no": to_atena_no, "vaccine_code": r.vaccine_code,
            "vaccinated_on": r.vaccinated_on.isoformat()}


def _reassign_summary(p: dict) -> str:
    return (f"接種記録 {p['record_id']}（{p['vaccine_code']}）の付け替え: "
            f"宛名番号 {p['from_atena_no']} → {p['to_atena_no']}")


def _reassign_details(p: dict) -> list[tuple[str, str]]:
    return [("接種記録", f"記録 {p['record_id']}（申請時の版数 {p['expected_version']}）"),
            ("接種種別", p["vaccine_code"]), ("接種年月日", p["vaccinated_on"]),
            ("現在の宛名番号", p["from_atena_no"]), ("付け替え先の宛名番号", p["to_atena_no"])]


def _apply_reassign(s: Session, p: dict, ctx: Context) -> str:
    for atena_no in (p["from_atena_no"], p["to_atena_no"]):
        access.check_visible(s, ctx.actor, atena_no)
    r = ledger.move_record(s, actor=ctx.actor, record_id=p["record_id"], expected_version=p["expected_version"],
                           to_atena_no=p["to_atena_no"], reason=ctx.reason, approval_id=ctx.approval_id)
    return str(r.id)


# --- 委託料: 締めの解除 / 費用助成の手動判定 (sesshu.billing) -----------------------------------------------

def _validate_reopen(s: Session, raw: dict, ctx: Context) -> dict:
    from sesshu.billing.service import check_month, check_reopenable

    month = check_month(str(raw.get("month", "")))
    check_reopenable(s, month)
    return {"month": month}


def _apply_reopen(s: Session, p: dict, ctx: Context) -> str:
    from sesshu.billing.service import reopen_month_in

    return reopen_month_in(s, ctx.actor, month=p["month"], approval_id=ctx.approval_id, reason=ctx.reason)


def _validate_subsidy_override(s: Session, raw: dict, ctx: Context) -> dict:
    from sesshu.billing.subsidy import validate_override

    return validate_override(s, raw, ctx.actor)


def _apply_subsidy_override(s: Session, p: dict, ctx: Context) -> str:
    from sesshu.approvals.models import ApprovalRequest
    from sesshu.billing.subsidy import apply_override

    requested_by = s.get(ApprovalRequest, ctx.approval_id).requested_by
    return apply_override(s, p, ctx.actor, approval_id=ctx.approval_id, reason=ctx.reason, requested_by=requested_by)


_SUBSIDY_LABELS = {"exempt": "免除（自己負担なし）", "not_exempt": "免除なし", "undetermined": "判定不能"}
# --- 情報連携: 副本の登録, 自動応答不可の提供 and 情報照会 (sesshu.linkage) ---------------------------------------

def _linkage():
    from sesshu.linkage import service

    return service


_DECISIONS = {"disclose": "提供する", "withhold": "不開示とする"}


def _publish_details(p: dict) -> list[tuple[str, str]]:
    return [("副本の登録", f"登録 {p['batch_id']}"), ("副本の件数", f"{p['copies']} 件（{p['persons']} 人）"),
            ("作成した職員", p["prepared_by"]), ("確認した職員", p["checked_by"])]


def _manual_details(p: dict) -> list[tuple[str, str]]:
    return [("提供", f"提供 {p['provision_id']}（提供許可証 {p['permit_id']}）"), ("照会した団体", p["requester"]),
            ("宛名番号", p["atena_no"] or "該当者なし"), ("判断", _DECISIONS[p["decision"]])]


# --- 接種ルールの適用 (sesshu.rulesets) ---------------------------------------------------------------

def _rulesets():
    from sesshu.rulesets import service

    return service


# --- 健康被害救済: 記録された決定の訂正 (sesshu.relief) ------------------------------------------------------

def _relief():
    from sesshu.relief import service

    return service


KINDS: dict[str, ApprovalKind] = {k.code: k for k in (
    ApprovalKind(
        code="non_resident_registration", label="住登外者の登録", permission="approval.request",
        tasks=VACCINATION_TASKS,
        validate=_validate_non_resident, summary=_non_resident_summary,
        subject=lambda p: f"{kana_key(p['name_kana'])}|{p['birth_date']}|{p['sex']}",
        details=_non_resident_details, atena_nos=lambda p: [], apply=_apply_non_resident,
        outcome_atena_no=lambda p, result: result or None),
    ApprovalKind(
        code="record_reassign", label="接種記録の付け替え（別人への移動）", permission="record.correct",
        tasks=VACCINATION_TASKS,
        validate=_validate_reassign, summary=_reassign_summary,
        subject=lambda p: f"record:{p['record_id']}", details=_reassign_details,
        atena_nos=lambda p: [p["from_atena_no"], p["to_atena_no"]], apply=_apply_reassign,
        outcome_atena_no=lambda p, result: p["to_atena_no"] if result else None),
    ApprovalKind(
        code="billing_month_reopen", label="委託料の請求月の締め解除", permission="billing.run",
        tasks=VACCINATION_TASKS,
        validate=_validate_reopen, summary=lambda p: f"請求月 {p['month']} の締め解除",
        subject=lambda p: f"billing_month:{p['month']}",
        details=lambda p: [("請求月", p["month"]), ("解除後", "再計算のうえ、改めて締めます")],
        atena_nos=lambda p: [], apply=_apply_reopen, outcome_atena_no=lambda p, result: None),
    ApprovalKind(
        code="subsidy_override", label="費用助成の手動判定", permission="billing.run",
        tasks=VACCINATION_TASKS,
        validate=_validate_subsidy_override,
        summary=lambda p: f"費用助成の手動判定（{p['fiscal_year']}年度・{_SUBSIDY_LABELS[p['outcome']]}）",
        subject=lambda p: f"subsidy:{p['atena_no']}:{p['fiscal_year']}",
        details=lambda p: [("宛名番号", p["atena_no"]), ("年度", str(p["fiscal_year"])),
                           ("手動の判定", _SUBSIDY_LABELS[p["outcome"]]),
                           ("税情報との突合の結果", f"{_SUBSIDY_LABELS[p['matched']]}（{p['matched_reason']}）")],
        atena_nos=lambda p: [p["atena_no"]], apply=_apply_subsidy_override,
        outcome_atena_no=lambda p, result: p["atena_no"] if result else None),
    ApprovalKind(
        code="linkage_publish", label="副本の登録（中間サーバー）", permission="linkage.prepare",
        tasks=VACCINATION_TASKS,
        validate=lambda s, raw, ctx: _linkage().validate_check(s, raw, ctx.actor),
        summary=lambda p: f"副本の登録 {p['batch_id']}（{p['copies']} 件・{p['persons']} 人）",
        subject=lambda p: f"batch:{p['batch_id']}", details=_publish_details, atena_nos=lambda p: [],
        apply=lambda s, p, ctx: _linkage().apply_publish(s, p, ctx.actor, ctx.approval_id),
        outcome_atena_no=lambda p, result: None),
    ApprovalKind(
        code="linkage_manual_provision", label="自動応答不可の情報提供", permission="linkage.prepare",
        tasks=VACCINATION_TASKS,
        validate=lambda s, raw, ctx: _linkage().validate_manual(s, raw, ctx.actor),
        summary=lambda p: f"自動応答不可の提供 {p['provision_id']}（{p['requester']}・{_DECISIONS[p['decision']]}）",
        subject=lambda p: f"provision:{p['provision_id']}", details=_manual_details,
        atena_nos=lambda p: [p["atena_no"]] if p["atena_no"] else [],
        apply=lambda s, p, ctx: _linkage().apply_manual(s, p, ctx.actor, ctx.approval_id),
        outcome_atena_no=lambda p, result: p["atena_no"]),
    ApprovalKind(
        code="linkage_inquiry", label="情報照会（中間サーバー）", permission="linkage.inquire",
        tasks=VACCINATION_TASKS, os_may_request=True,
        validate=lambda s, raw, ctx: _linkage().validate_inquiry(s, raw, ctx.actor),
        summary=lambda p: f"情報照会（宛名番号 {p['atena_no']} → 団体 {p['provider']}）",
        subject=lambda p: f"inquiry:{p['atena_no']}:{p['provider']}:{p['info']}",
        details=lambda p: _linkage().inquiry_details(p), atena_nos=lambda p: [p["atena_no"]],
        apply=lambda s, p, ctx: _linkage().apply_inquiry(s, p, ctx.actor, ctx.approval_id),
        outcome_atena_no=lambda p, result: p["atena_no"] if result else None),
    ApprovalKind(
        code="rule_set_activate", label="接種ルール・特措法接種の実施計画の適用", permission="rule_set.propose",
        tasks=VACCINATION_TASKS,
        validate=lambda s, raw, ctx: _rulesets().validate_request(s, raw, ctx),
        summary=lambda p: _rulesets().summary(p),
        subject=lambda p: f"rule_set:{p['kind']}:{p['name']}:{p['version']}",
        details=lambda p: _rulesets().details(p), atena_nos=lambda p: [],
        apply=lambda s, p, ctx: _rulesets().apply_activation(s, p, ctx), outcome_atena_no=lambda p, result: None),
    ApprovalKind(
        code="retention_purge", label="保存期間経過データの消去", permission="retention.manage",
        tasks=VACCINATION_TASKS,
        validate=retention_approval.validate, summary=retention_approval.summary,
        subject=lambda p: f"retention:{p['category']}:{p['as_of']}", details=retention_approval.details,
        atena_nos=lambda p: [], apply=retention_approval.apply, outcome_atena_no=lambda p, result: None,
        subjects=retention_approval.subjects),
    ApprovalKind(
        code="relief_decision_correction", label="健康被害救済の決定の訂正", permission="relief.manage",
        tasks=("kenko_higai_kyusai",),
        validate=lambda s, raw, ctx: _relief().validate_correction(s, ctx.actor, raw),
        summary=lambda p: _relief().correction_summary(p), subject=lambda p: f"relief_benefit:{p['benefit_id']}",
        details=lambda p: _relief().correction_details(p), atena_nos=lambda p: [p["atena_no"]],
        apply=lambda s, p, ctx: _relief().apply_correction(s, p, ctx.actor, approval_id=ctx.approval_id,
                                                           reason=ctx.reason),
        outcome_atena_no=lambda p, result: None),
)}


def kind_of(code: str) -> ApprovalKind:
    kind = KINDS.get(code)
    if kind is None:
        raise InvalidInput(f"申請の種類が正しくありません: {code}")
    return kind
