"""Quick lookup of audit entries: by person (宛名番号), by staff member, by period, by action, or by
sequence numbers (what an anomaly links to). Every lookup is itself on record (action audit.view)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, func, or_, select

from sesshu.actor import Actor
from sesshu.audit.models import AuditEntry
from sesshu.audit.periods import day_range, jst, parse_period
from sesshu.audit.service import record
from sesshu.db import MAX_ROW_ID, Database
from sesshu.domain.errors import InvalidInput
from sesshu.paging import Page

COUNT_CAP = 10000
MAX_SEQ_PARTS = 500
MAX_PER_PAGE = 500

ACTION_LABELS = {
    "auth.login": "ログイン",
    "auth.password_ok": "パスワード確認（1要素目）",
    "auth.login_failed": "ログイン失敗",
    "auth.locked": "アカウントロック",
    "auth.mfa_failed": "二要素認証の失敗",
    "auth.logout": "ログアウト",
    "auth.denied": "権限のない操作の試行",
    "auth.reauth_failed": "再認証の失敗",
    "auth.password_change_failed": "パスワード変更の失敗",
    "auth.passkey_register_failed": "パスキー登録の失敗",
    "access.out_of_scope": "担当外の個人情報の参照の試行",
    "access.no_task": "担当事務のない参照の試行",
    "person.search": "対象者検索",
    "person.view": "個人の情報の閲覧",
    "person.view_missing": "存在しない個人の閲覧",
    "person.export": "個人情報のファイル出力",
    "person.condition_set": "接種対象の要件の登録",
    "person.condition_end": "接種対象の要件の終了",
    "person.condition_withdraw": "接種対象の要件の取消（誤登録）",
    "person.condition_view": "接種対象の要件の確認",
    "person.pregnancy_set": "妊娠届の登録",
    "person.pregnancy_withdraw": "妊娠届の取消（誤登録）",
    "person.pregnancy_view": "妊娠届の確認",
    "pregnancy.import": "妊娠届の取込（母子保健）",
    "record.correct": "接種記録の職権修正",
    "record.void": "接種記録の取消",
    "record.history_view": "修正履歴の閲覧",
    "records.import": "予診票の取込",
    "records.upload": "予診票ファイルの受付（画面）",
    "records.rejects_download": "取込エラー行のダウンロード",
    "record.enter": "予診票の手入力（登録）",
    "record.entry_check": "予診票の入力中の判定",
    "account.preferences": "画面の設定の変更",
    "records.evaluate": "接種記録の判定",
    "registry.import": "住基ファイルの取込",
    "targets.select": "対象者選定",
    "eligibility.rebuild": "接種可能範囲の表の再作成",
    "user.create": "職員アカウントの登録",
    "audit.verify": "操作記録の検証",
    "audit.checkpoint": "チェックポイントの作成",
    "audit.view": "操作記録の閲覧",
    "auth.session_rejected": "無効なセッションでのアクセス",
    "auth.session_replaced": "別の場所でのログインによるセッション終了",
    "auth.csrf_failed": "不正な送信（CSRF）の拒否",
    "auth.reauth": "再認証",
    "auth.passkey_registered": "パスキーの登録",
    "auth.passkey_removed": "パスキーの削除",
    "auth.passkey_remove_refused": "他の職員のパスキーの削除の試行",
    "auth.password_changed": "パスワードの変更",
    "export.terminal_refused": "許可されていない端末からの出力の試行",
    "access.assign": "事務取扱担当者の指定",
    "access.unassign": "事務取扱担当者の指定解除",
    "access.list": "事務取扱担当者の確認",
    "access.link_person": "事務で扱う個人の登録",
    "approval.request": "承認の申請",
    "approval.approve": "承認",
    "approval.reject": "却下",
    "approval.withdraw": "申請の取下げ",
    "approval.fail": "承認後の処理不能",
    "approval.view": "申請の閲覧",
    "approval.list": "申請一覧の閲覧",
    "approval.request_refused": "申請の拒否",
    "approval.decision_refused": "承認・却下の拒否（本人の申請など）",
    "approval.withdraw_refused": "取下げの拒否",
    "approval.view_refused": "他の職員の申請の閲覧の試行",
    "mynumber.reveal": "個人番号の全桁表示",
    "mynumber.verify": "個人番号確認",
    "person.lookup_my_number": "個人番号による検索",
    "keys.rotate": "暗号鍵の更新",
    "registry.create": "住民の登録（住基）",
    "registry.update": "住民の異動（住基）",
    "registry.register_non_resident": "住登外者の登録",
    "record.reassign_in": "接種記録の付け替え（受入）",
    "record.reassign_out": "接種記録の付け替え（移出）",
    "targets.export": "対象者一覧のファイル出力",
    "master.import": "マスタの取込",
    "user.list": "職員アカウント一覧の閲覧",
    "user.review": "アカウントの定期点検",
    "user.totp_fallback": "確認コード利用可否の変更",
    "user.totp_fallback_refused": "自身の確認コード利用の許可の試行",
    "user.deactivate": "職員アカウントの停止",
    "user.reactivate": "職員アカウントの再開",
    "user.valid_until": "職員アカウントの有効期限の変更",
    "user.role": "職員アカウントの役割の変更",
    "user.self_change_refused": "自身のアカウントの停止・変更の試行",
    "demo.load": "デモデータの作成",
    "print": "印刷",
    "retention.due": "保存期間経過データの確認",
    "retention.subjects_view": "消去の対象者（4情報）の閲覧（承認の確認）",
    "retention.erase": "保存期間経過データの消去（処理単位）",
    "retention.purge": "保存期間経過データの消去（完了・記録）",
    "inquiry.receive": "問合せ・請求の受付",
    "inquiry.answer": "問合せ・請求への回答",
    "inquiry.list": "受付票の一覧",
    "inquiry.view": "受付票の閲覧",
    "inquiry.correct": "訂正請求による記録の訂正",
    "inquiry.suspend": "利用停止請求による利用停止",
    "suspension.refused": "利用停止中のため利用を拒否",
    "relief.case_view": "健康被害救済の案件の閲覧",
    "relief.step": "健康被害救済の手続の記録",
    "relief.open": "健康被害救済の案件の受付",
    "relief.payments": "健康被害救済の給付の支払",
    "relief.records_view": "健康被害救済の請求のための接種記録の閲覧",
    "relief.correct": "健康被害救済の決定の訂正（承認済み）",
    "relief.zengin": "健康被害救済の振込データ（全銀）の出力",
    # Labels for the actions that had none (a code must never reach a person's disclosure package).
    "backup.create": "バックアップの作成",
    "backup.restore": "バックアップからの復元",
    "billing.close": "委託料の請求月の締め",
    "billing.files": "委託料の支払ファイルの作成",
    "billing.list": "委託料の一覧の閲覧",
    "billing.reconcile": "医療機関の請求書との突合",
    "billing.reopen": "委託料の請求月の締め解除",
    "billing.returns_view": "委託料の返戻の閲覧",
    "billing.run": "委託料の計算",
    "billing.summary_download": "委託料の集計の出力",
    "billing.view": "委託料の計算結果の閲覧",
    "billing.zengin_download": "委託料の振込データ（全銀）の出力",
    "certificate.request": "接種証明書の交付申請",
    "demo.load_masters": "デモ用マスタの作成",
    "fhir.export": "接種記録の電子的な出力（FHIR）",
    "job.finish": "一括処理の完了",
    "job.resume": "一括処理の再開",
    "job.start": "一括処理の開始",
    "linkage.answer_import": "情報連携の回答の取込",
    "linkage.answer_refused": "情報連携の回答の取込の拒否",
    "linkage.approve_batch": "副本の登録の承認",
    "linkage.batches_view": "副本の登録の閲覧",
    "linkage.exchanges_view": "情報提供等記録の閲覧",
    "linkage.inquire": "情報連携による照会（上長の承認による）",
    "linkage.inquiries_view": "情報連携の照会の閲覧",
    "linkage.inquiry_refused": "情報連携の照会の拒否",
    "linkage.manual_decision": "自動応答不可の提供の判断",
    "linkage.manual_only": "自動応答不可の照会の受付",
    "linkage.move_in": "転入者の接種記録の照会",
    "linkage.move_in_refused": "転入者の接種記録の照会の拒否",
    "linkage.move_out": "転出者の接種記録の提供",
    "linkage.permit": "情報提供の許可の確認",
    "linkage.permit_refused": "情報提供の許可がない照会の拒否",
    "linkage.prepare": "副本の作成",
    "linkage.provide": "情報連携による提供",
    "linkage.provision_held": "情報連携の提供の保留",
    "linkage.provisions_view": "情報連携の提供の閲覧",
    "linkage.publish": "副本の登録",
    "linkage.result_view": "情報連携の結果の閲覧",
    "notices.plan": "個別通知の対象者の選定",
    "record.edit_view": "接種記録の修正画面の閲覧",
    "registry.register_from_fhir": "電子的な接種記録による住登外者の登録",
    "shc.issue": "接種証明書（電子版）の発行",
    "shc.rotate_key": "接種証明書（電子版）の署名鍵の更新",
    "subsidy.decide": "費用助成の判定",
    "subsidy.list": "費用助成の判定一覧の閲覧",
    "subsidy.override": "費用助成の手動判定",
    "ticket.invalidate": "接種券の無効化",
    "ticket.issue": "接種券の発行",
    "record.reassign": "接種記録の付け替え",
    "user.password_reset": "パスワードの再設定（セキュリティ責任者）",
    "record.list": "接種記録の一覧の表示",
    "records.rejects_export": "取込エラー行（個人情報を含む）の暗号化出力",
    "export": "ファイル出力",
    "billing.accounts_import": "医療機関の振込先口座の取込",
    "billing.claims_import": "医療機関の請求データの取込",
    "billing.tax_import": "地方税関係情報の取込",
    "linkage.purge": "情報連携の記録の消去",
    "linkage.purge_result": "情報連携の記録の消去の結果",
    "notice.select": "個別通知の対象者の選定",
    "ticket.release": "接種券の使用の取消（記録の取消・付け替え）",
    "ticket.use": "接種券の使用（接種記録との紐付け）",
    "ticket.view": "接種券の閲覧",
    "person.condition_import": "接種順位の名簿（医療従事者等・特定接種）の取込",
    "rule_set.check": "接種ルール・実施計画のファイルの検証",
    "rule_set.check_failed": "接種ルール・実施計画のファイルの検証（誤りあり）",
    "rule_set.propose": "接種ルール・実施計画の適用の申請",
    "rule_set.activate": "接種ルール・実施計画の適用（承認済み）",
    "rule_set.list": "接種ルール・実施計画の一覧の閲覧",
    "rule_set.show": "接種ルール・実施計画の内容の閲覧",
    "tokutei.count": "特定接種の接種件数の集計",
    "counts.daily_view": "日別の接種件数の閲覧",
    "venue.replay": "接種会場の再送の確認（記録済み）",
    "ticket.view_missing": "接種券の照会（該当なし）",
    "ticket_waves.plan": "接種券の一斉発送（段階発送）の対象者の選定",
    "notices.mailing_export": "個別通知の発送一覧の暗号化出力",
    "away.accept": "住所地外接種の届出の受理",
    "away.view": "住所地外接種の届出の閲覧",
    "away.withdraw": "住所地外接種の届出の取下げ",
    "billing.kokuho_import": "国保連経由の請求の取込（台帳との突合）",
    "billing.kokuho_reconcile": "国保連経由の請求の突合結果の閲覧",
    "away.end": "住所地外接種の届出の終了",
}

# 詳細 of an audit entry shown to people: the JSON keys the code base writes, by their Japanese names
# (issue 22 item 9). A key without a label is still shown, under its own name; record field names that
# appear as values (a correction's "fields") are translated with the same table.
DETAIL_LABELS = {
    "record_id": "記録番号", "record_ids": "記録番号", "vaccine": "接種種別", "vaccine_code": "接種種別",
    "vaccinated_on": "接種年月日", "vaccination_time": "接種時刻", "error_code": "エラーコード", "confirmed_invalid": "無効の確認のうえ登録",
    "own_day": "入力者による当日の訂正", "reason": "理由", "fields": "変更した項目", "why": "理由となった操作",
    "batch_id": "取込番号", "file": "ファイル", "file_name": "ファイル", "sha256": "ファイルのハッシュ値（SHA-256）",
    "read": "読み込んだ行", "accepted": "登録した件数", "rejected": "エラーの件数", "duplicates": "重複の件数",
    "unchanged": "変更なしの件数", "criteria": "条件", "total": "該当件数", "page": "ページ", "shown": "表示した対象",
    "rows": "件数", "count": "件数", "purpose": "利用目的", "document": "帳票", "pages": "ページ数",
    "issue_no": "発行番号", "kind": "種類", "records": "記録の件数", "requested_by": "申請者",
    "relationship": "本人との関係", "identity_method": "本人確認の方法", "job": "処理番号", "job_id": "処理番号",
    "bytes": "ファイルの大きさ（バイト）", "personal_data": "個人情報を含む", "from_atena_no": "移動元の宛名番号",
    "to_atena_no": "移動先の宛名番号", "atena_no": "宛名番号", "approval_id": "申請番号", "login_id": "職員ID",
    "role": "役割", "permission": "必要な権限", "path": "画面・API", "method": "方法", "task_code": "事務",
    "department": "所属", "valid_until": "有効期限", "valid_from": "有効開始日", "month": "対象月",
    "billing_month": "請求月", "fiscal_year": "年度", "as_of": "基準日", "within_days": "日数", "ticket_no": "券番号",
    "ticket_id": "接種券番号", "dose_no": "回数", "dose_number": "回数", "term": "期", "category": "接種区分",
    "lot_no": "Lot No", "institution_code": "接種医療機関", "doctor_code": "接種医師", "venue_code": "実施場所",
    "manufacturer_code": "ワクチン会社", "screening_result": "予診区分", "dose_volume_ml": "接種量",
    "remarks": "備考", "first_product": "初回ワクチン区分", "dt_kind": "二混合区分", "former_municipality": "合併前市町村",
    "screening_institution_code": "予診医療機関", "screening_doctor_code": "予診医師", "condition_code": "要件",
    "outcome": "判定", "status": "状態", "version": "版数", "comment": "コメント", "decision": "判断",
    "inquiry_id": "受付番号", "case_id": "案件番号", "step": "手続", "amount": "金額", "name": "氏名",
    "birth_date": "生年月日", "sex": "性別", "address": "住所", "number": "番号", "channel": "経路",
    "cards": "枚数", "kid": "鍵ID", "run_id": "計算番号", "run_no": "計算番号", "transfer_date": "振込日",
    "evaluated_persons": "判定した人数", "records_changed": "判定が変わった記録", "persons": "人数",
    "seq_from": "連番（から）", "seq_to": "連番（まで）", "seqs": "連番", "day": "日", "from": "から", "to": "まで",
    "ok": "結果", "entries": "記録の件数", "period_years": "保存年限（年）", "erased": "消去した件数",
    "suspended_skipped": "利用停止のため除外した件数", "use": "利用の種類", "allowed": "許可", "terminal": "端末",
    "client": "接続元", "ip": "接続元", "user_agent": "ブラウザ", "document_count": "帳票の件数", "printed": "印刷",
    "shc": "電子証明書", "jws_sha256": "電子証明書のハッシュ値", "exchange_id": "情報提供等記録の番号",
    "body_id": "相手の団体", "permit_id": "許可番号", "provision_id": "提供番号", "manual_reason": "判断の理由",
    "totals": "合計", "fee_amount": "委託料", "fee_count": "委託料の件数", "returned": "返戻の件数",
    "title": "題名", "zip_sha256": "ZIPのハッシュ値", "tasks": "事務", "display_name": "氏名（表示名）",
    "deactivated": "停止", "reactivated": "再開", "unused_days": "未使用の日数", "matched": "一致",
    "mismatched": "不一致", "action": "操作の種類", "actor": "職員ID", "household": "世帯の方", "ended_sessions": "終了したセッション", "change": "変更の種類", "view": "表示した内容",
    "date_from": "期間（から）", "date_to": "期間（まで）", "lines": "対象の接種", "vaccines": "接種種別", "created": "作成", "updated": "更新", "imported": "取込件数", "new_tickets": "新しい接種券",
}
# Record fields, which appear as values too (the "fields" a correction changed).
_FIELD_NAMES = frozenset({
    "vaccine_code", "vaccinated_on", "vaccination_time", "dose_no", "term", "category", "lot_no", "institution_code", "doctor_code",
    "venue_code", "manufacturer_code", "screening_result", "dose_volume_ml", "remarks", "first_product", "dt_kind",
    "former_municipality", "screening_institution_code", "screening_doctor_code", "billing_month", "ticket_no"})
_WHEN = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?)?$")


def _detail_value(value) -> str:
    """A value of an audit 詳細 in plain Japanese: 和暦 dates, action and field names by their labels."""
    from sesshu.domain.wareki import to_wareki

    if value is None or value == "":
        return "（なし）"
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    if isinstance(value, (int, float)):
        return f"{value:,}" if isinstance(value, int) and abs(value) >= 10000 else str(value)
    if isinstance(value, list):
        return "、".join(_detail_value(v) for v in value) if value else "（なし）"
    if isinstance(value, dict):
        return "、".join(f"{DETAIL_LABELS.get(k, k)}：{_detail_value(v)}" for k, v in value.items()) or "（なし）"
    text = str(value)
    if _WHEN.match(text):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
        if len(text) == 10:
            return to_wareki(moment.date())
        local = jst(text) if moment.tzinfo else moment
        return f"{to_wareki(local.date())} {local:%H:%M}"
    if text in ACTION_LABELS:
        return ACTION_LABELS[text]
    if text in _FIELD_NAMES:
        return DETAIL_LABELS[text]
    return text


def detail_items(detail: str) -> list[tuple[str, str]]:
    """(Japanese label, plain value) for each key of an entry's 詳細 (stored as JSON)."""
    try:
        data = json.loads(detail) if detail else {}
    except ValueError:
        return [("詳細", detail)]
    if not isinstance(data, dict):
        return [("詳細", _detail_value(data))]
    return [(DETAIL_LABELS.get(k, k), _detail_value(v)) for k, v in data.items()]

_ACTION = re.compile(r"^[a-z_]{1,20}\.[a-z_]{1,30}$")
_ATENA = re.compile(r"^[0-9]{1,15}$")


_AREAS = {"auth": "ログイン・認証", "person": "個人の情報", "record": "接種記録", "registry": "住民記録",
          "linkage": "情報連携", "billing": "委託料", "relief": "健康被害救済", "inquiry": "問合せ・開示請求",
          "ticket": "接種券", "certificate": "接種証明書", "approval": "承認手続", "retention": "保存期間"}


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)


def plain_action_label(action: str) -> str:
    """The label for a document a resident reads: never a code, even for an action with no label yet."""
    label = ACTION_LABELS.get(action)
    if label:
        return label
    return f"{_AREAS.get(action.split('.', 1)[0], 'システム')}に関する処理"


def parse_seqs(text: str) -> tuple[tuple[int, int], ...]:
    """'3,5-9,12' → ((3, 3), (5, 9), (12, 12))."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) > MAX_SEQ_PARTS:
        raise InvalidInput(f"連番の指定は{MAX_SEQ_PARTS}個までです")
    out = []
    for p in parts:
        m = re.fullmatch(r"([0-9]{1,12})(?:-([0-9]{1,12}))?", p)
        if not m:
            raise InvalidInput(f"連番の指定が正しくありません: {p[:20]}")
        a, b = int(m[1]), int(m[2] or m[1])
        if a < 1 or b < a:
            raise InvalidInput(f"連番の範囲が正しくありません: {p[:20]}")
        out.append((a, b))
    return tuple(out)


def compress_seqs(seqs) -> str:
    """Sorted sequence numbers as runs: [3, 5, 6, 7, 12] → '3,5-7,12'."""
    runs: list[list[int]] = []
    for n in sorted(set(seqs)):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


@dataclass(frozen=True)
class LookupCriteria:
    atena_no: str = ""
    actor: str = ""
    actions: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    seq_from: int | None = None
    seq_to: int | None = None
    seqs: tuple[tuple[int, int], ...] = ()

    @classmethod
    def parse(cls, *, atena_no: str = "", actor: str = "", action: str = "", date_from: str | date | None = None,
              date_to: str | date | None = None, seq_from: int | None = None, seq_to: int | None = None,
              seqs: str = "") -> "LookupCriteria":
        """Build criteria from raw input; anything malformed is refused with a Japanese message."""
        atena_no, actor = atena_no.strip(), actor.strip()
        if atena_no and not _ATENA.match(atena_no):
            raise InvalidInput("宛名番号は15桁以内の数字で指定してください")
        if len(actor) > 64:
            raise InvalidInput("職員IDは64文字以内で指定してください")
        actions = tuple(a.strip() for a in action.split(",") if a.strip())
        bad = [a for a in actions if not _ACTION.match(a)]
        if bad or len(actions) > 20:
            raise InvalidInput(f"操作の種類の指定が正しくありません: {(bad or actions)[0][:40]}")
        first, last = parse_period(date_from, date_to, required=False)
        for v in (seq_from, seq_to):
            if v is not None and not 1 <= v <= MAX_ROW_ID:
                raise InvalidInput(f"連番は1以上{MAX_ROW_ID}以下で指定してください")
        if seq_from and seq_to and seq_from > seq_to:
            raise InvalidInput("連番の「から」が「まで」より大きくなっています")
        return cls(atena_no=atena_no, actor=actor, actions=actions, date_from=first, date_to=last,
                   seq_from=seq_from, seq_to=seq_to, seqs=parse_seqs(seqs))

    def is_empty(self) -> bool:
        return self == LookupCriteria()

    def as_params(self) -> dict[str, str]:
        """The non-empty criteria as query parameters (links, the audit row, --json)."""
        values = {"atena_no": self.atena_no, "actor": self.actor, "action": ",".join(self.actions),
                  "from": self.date_from.isoformat() if self.date_from else "",
                  "to": self.date_to.isoformat() if self.date_to else "",
                  "seq_from": str(self.seq_from or ""), "seq_to": str(self.seq_to or ""),
                  "seqs": ",".join(str(a) if a == b else f"{a}-{b}" for a, b in self.seqs)}
        return {k: v for k, v in values.items() if v}

    def conditions(self) -> list:
        where = []
        if self.atena_no:
            where.append(AuditEntry.atena_no == self.atena_no)
        if self.actor:
            where.append(AuditEntry.actor == self.actor)
        if self.actions:
            where.append(AuditEntry.action.in_(self.actions))
        if self.date_from:
            where.append(AuditEntry.occurred_at >= day_range(self.date_from)[0])
        if self.date_to:
            where.append(AuditEntry.occurred_at < day_range(self.date_to)[1])
        if self.seq_from:
            where.append(AuditEntry.seq >= self.seq_from)
        if self.seq_to:
            where.append(AuditEntry.seq <= self.seq_to)
        if self.seqs:
            where.append(or_(*[AuditEntry.seq == a if a == b else AuditEntry.seq.between(a, b) for a, b in self.seqs]))
        return where


@dataclass(frozen=True)
class EntryRow:
    seq: int
    at: datetime  # JST
    actor: str
    actor_kind: str
    action: str
    atena_no: str | None
    purpose: str
    detail: str  # pretty-printed JSON, shown escaped
    entry_hash: str

    @property
    def action_label(self) -> str:
        return action_label(self.action)

    @property
    def detail_items(self) -> list[tuple[str, str]]:
        return detail_items(self.detail)

    def as_dict(self) -> dict:
        try:
            detail = json.loads(self.detail)
        except ValueError:
            detail = self.detail
        return {"seq": self.seq, "occurred_at": self.at.isoformat(), "actor": self.actor,
                "actor_kind": self.actor_kind, "action": self.action, "atena_no": self.atena_no,
                "purpose": self.purpose, "detail": detail, "entry_hash": self.entry_hash}


EntryPage = Page  # of EntryRow


def _pretty(detail: str) -> str:
    try:
        return json.dumps(json.loads(detail), ensure_ascii=False, indent=1, sort_keys=True)
    except ValueError:
        return detail


def search_entries(db: Database, *, actor: Actor, criteria: LookupCriteria, page: int = 1,
                   per_page: int = 50) -> EntryPage:
    """One page of matching entries, newest first. The lookup is recorded in the same transaction."""
    if criteria.is_empty():
        raise InvalidInput("宛名番号・職員ID・期間・操作の種類・連番のいずれかを指定してください")
    if not 1 <= per_page <= MAX_PER_PAGE or page < 1:
        raise InvalidInput(f"ページの指定が正しくありません（1ページ{MAX_PER_PAGE}件まで）")
    where = and_(*criteria.conditions())
    with db.transaction() as s:
        capped = s.execute(select(func.count()).select_from(
            select(AuditEntry.seq).where(where).limit(COUNT_CAP + 1).subquery())).scalar_one()
        found = s.execute(select(AuditEntry).where(where).order_by(AuditEntry.seq.desc())
                          .offset((page - 1) * per_page).limit(per_page)).scalars().all()
        rows = [EntryRow(seq=e.seq, at=jst(e.occurred_at), actor=e.actor, actor_kind=e.actor_kind, action=e.action,
                         atena_no=e.atena_no, purpose=e.purpose, detail=_pretty(e.detail), entry_hash=e.entry_hash)
                for e in found]
        record(s, actor, "audit.view", atena_no=criteria.atena_no or None, purpose="操作記録の照会",
               detail={"view": "entries", "criteria": criteria.as_params(), "page": page, "rows": len(rows)})
    return EntryPage(rows=rows, total=min(capped, COUNT_CAP), total_capped=capped > COUNT_CAP, page=page,
                     per_page=per_page)
