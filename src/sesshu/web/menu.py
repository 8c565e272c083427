"""The one place that decides which pages a signed-in user is offered (header menu and home tiles).

An item is shown only when the role grants its permission AND, for pages that also need an assignment
to a 事務 (健康被害救済), when the user holds that assignment — so no menu link answers 403
(tests/web/test_menu.py follows every link of every role). The header shows the `primary` items and
folds the rest under 「その他」, so labels never wrap at 1366 px.
"""
from __future__ import annotations

from dataclasses import dataclass

from sesshu.auth.permissions import role_permissions


@dataclass(frozen=True)
class MenuItem:
    path: str
    label: str  # in the header
    title: str  # on the home tile
    description: str
    permission: str
    task: str = ""  # a 事務 the user must also be assigned to (access.service linked tasks)
    primary: bool = True  # in the header itself, not under その他


MENU: tuple[MenuItem, ...] = (
    MenuItem("/search", "対象者検索", "対象者検索", "宛名番号・カナ・生年月日などで検索し、接種履歴を確認します",
             "person.search"),
    MenuItem("/records", "接種記録", "接種記録の一覧",
             "判定（有効・無効・任意）・エラーコード・接種区分・請求月・Lot No で接種記録を探します（ロットの回収にも）",
             "person.search"),
    MenuItem("/records/new", "予診票の入力", "予診票の入力",
             "返送された予診票を1枚ずつ入力します。入力中に接種スケジュールの判定が表示されます", "record.enter"),
    MenuItem("/venue", "接種会場", "接種会場の記録",
             "集団接種会場・医療機関で、接種券を読み取って接種をその場で記録します（キーボードだけで操作）",
             "record.enter", primary=False),
    MenuItem("/imports", "取込", "予診票の取込",
             "医療機関から届いた予診票のCSVファイルを取り込み、登録した記録の判定と取り込めなかった行を確認します",
             "record.import"),
    MenuItem("/approvals", "承認申請", "承認申請", "住登外者の登録・接種記録の付け替えなどの申請と承認を行います",
             "approval.request"),
    MenuItem("/billing", "委託料", "委託料の支払い",
             "月ごとの委託料の計算・返戻の確認・締め、支払明細と振込ファイルの出力、費用助成の判定を行います",
             "billing.view"),
    MenuItem("/audit", "操作記録", "操作記録の監査",
             "操作記録の検証・照会、休業日・時間外の操作やログイン失敗などの異常を確認します", "audit.view"),
    MenuItem("/admin/accounts", "職員アカウント", "職員アカウント",
             "職員アカウントの登録・パスワードの再設定・停止と、使われていないIDの定期点検を行います", "user.manage"),
    MenuItem("/admin/assignments", "事務取扱担当者", "事務取扱担当者",
             "個人番号を利用する事務ごとに、取扱部署と担当職員を指定します", "user.manage", primary=False),
    MenuItem("/notices", "個別通知", "個別通知", "接種券・予診票の個別通知を一括で作成します", "notice.run",
             primary=False),
    MenuItem("/linkage", "情報連携", "情報連携", "他団体への情報照会・情報提供と、情報提供等記録を確認します",
             "linkage.view", primary=False),
    MenuItem("/inquiries", "問合せ・開示請求", "問合せ・開示請求",
             "住民からの問合せ・開示・訂正・利用停止の請求を受け付け、対応します", "disclosure.manage",
             primary=False),
    MenuItem("/relief", "健康被害救済", "健康被害救済", "予防接種健康被害救済制度の案件と給付を管理します",
             "relief.manage", task="kenko_higai_kyusai", primary=False),
    MenuItem("/retention", "保存期間", "保存期間", "保存期間を過ぎたデータを確認し、消去を申請します",
             "retention.manage", primary=False),
)


def menu_for(role: str, tasks: frozenset[str] = frozenset()) -> list[MenuItem]:
    """The items this role (with these assigned 事務) may open, in menu order."""
    perms = role_permissions(role)
    return [m for m in MENU if m.permission in perms and (not m.task or m.task in tasks)]


def needs_tasks(role: str) -> bool:
    """Whether menu_for depends on the user's 事務 (one look-up per page only for those roles)."""
    perms = role_permissions(role)
    return any(m.task and m.permission in perms for m in MENU)
