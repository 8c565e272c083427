"""Permissions are data: one table from role to the set of permissions it grants.

Every web route and API endpoint declares the one permission it needs; a test walks all routes and
checks each role against this table.
"""
from __future__ import annotations

PERMISSIONS = {
    "person.search": "対象者の検索",
    "person.view": "個人の情報・接種履歴の閲覧",
    "person.export": "個人情報のファイル出力",
    "person.reveal_my_number": "個人番号の全桁表示（理由を記録）",
    "person.verify_my_number": "個人番号確認（提示された番号と4情報の照合）",
    "record.import": "予診票・住基ファイルの取込",
    "record.correct": "接種記録の職権修正・取消",
    "record.enter": "予診票の手入力（接種記録の登録）",
    "audit.view": "操作記録の閲覧・検証",
    "user.manage": "職員アカウントの管理",
    # Four-eyes: what needs a second person is requested by one user and decided by another.
    "approval.request": "承認が必要な登録の申請・取下げ（住登外者の登録など）",
    "approval.decide": "他の職員の申請の承認・却下",
    # 情報連携 (中間サーバー): 副本 and 自動応答不可 decisions are requested here and approved with approval.decide.
    "linkage.prepare": "副本の作成・確認、自動応答不可の提供の判断申請、転出入の紐付け",
    "linkage.inquire": "他団体への情報照会",
    "linkage.view": "情報連携の状況・情報提供等記録の閲覧",
    "system.operate": "システムの運用（データベース更新・鍵の更新・起動・デモ）",
    "ticket.issue": "接種券・予診票の個別発行（転入・再発行）と無効化",
    "notice.run": "個別通知（予診票・接種券）の一括作成",
    "certificate.issue": "予防接種済証・接種歴証明書の発行（照会申請の記録）",
    # 委託料の支払い (sesshu.billing): the billing staff's own pages and commands.
    "billing.view": "委託料の計算結果・返戻・支払明細の閲覧と出力",
    "billing.run": "委託料の月次処理（計算・締め・取込・費用助成の判定）",
    "retention.manage": "保存期間を過ぎたデータの確認・消去の申請",
    # Uploaded rule files (campaigns, amendments, settings): proposed here, activated with approval.decide.
    "rule_set.propose": "接種ルールの改正・特措法接種の実施計画の確認と適用の申請",
    "disclosure.manage": "問合せ受付票・開示・訂正・利用停止請求の受付と対応",
    # Relief cases need this permission AND an assignment to the relief 事務 (kenko_higai_kyusai).
    "relief.manage": "健康被害救済の案件・給付の管理（健康被害救済の事務の担当者のみ）",
}

ROLES: dict[str, dict] = {
    "clerk": {
        "label": "担当職員",
        "permissions": {"person.search", "person.view", "record.import", "approval.request",
                        "person.verify_my_number", "ticket.issue", "certificate.issue", "record.enter",
                        "linkage.prepare", "linkage.inquire", "linkage.view", "disclosure.manage", "relief.manage"},
    },
    "supervisor": {
        "label": "上長",
        "permissions": {"person.search", "person.view", "person.export", "record.import", "record.correct", "record.enter",
                        "approval.request", "approval.decide", "person.reveal_my_number", "person.verify_my_number",
                        "ticket.issue", "certificate.issue", "notice.run",
                        "linkage.prepare", "linkage.inquire", "linkage.view",
                        "retention.manage", "disclosure.manage", "relief.manage", "rule_set.propose"},
    },
    "security_officer": {
        "label": "セキュリティ責任者",
        "permissions": {"audit.view", "user.manage"},
    },
    "auditor": {
        "label": "監査担当",
        "permissions": {"audit.view"},
    },
    "billing": {
        "label": "委託料担当",
        "permissions": {"billing.view", "billing.run"},
    },
}


# The command line runs on the server under an operating-system account: the system's operators, whose
# access the server's own OS controls (not a web role, no web login). Each command declares the one
# permission it exercises — "" for commands that touch no personal data — so one table answers "who may
# do what" for the web and the CLI alike; a test checks every CLI command is listed here.
OPERATOR_ROLE = "operator"
CLI_COMMANDS: dict[str, str] = {
    "serve": "system.operate",
    "db upgrade": "system.operate",
    "keys status": "system.operate",
    "keys rotate": "system.operate",
    "demo load": "system.operate",
    "demo totp": "system.operate",
    "record evaluate": "system.operate",
    "eligibility rebuild": "system.operate",
    "jobs list": "system.operate",
    "jobs show": "system.operate",
    "backup create": "system.operate",
    "backup verify": "system.operate",
    "backup restore": "system.operate",
    "import registry": "record.import",
    "import records": "record.import",
    "import masters": "record.import",
    "import pregnancies": "record.import",
    "search": "person.search",
    "person show": "person.view",
    "person condition": "record.correct",
    "person condition-import": "record.correct",
    "person pregnancy": "record.correct",
    "record history": "person.view",
    "record correct": "record.correct",
    "record void": "record.correct",
    "targets": "person.export",
    "mynumber verify": "person.verify_my_number",
    "approval list": "approval.decide",
    "approval show": "approval.decide",
    "audit verify": "audit.view",
    "audit checkpoint": "audit.view",
    "audit pubkey": "audit.view",
    "audit search": "audit.view",
    "audit anomalies": "audit.view",
    "user add": "user.manage",
    "user assign": "user.manage",
    "user unassign": "user.manage",
    "user assignments": "user.manage",
    "user review": "user.manage",
    "user totp-fallback": "user.manage",
    "user disable": "user.manage",
    "user enable": "user.manage",
    "user set": "user.manage",
    "schedule evaluate": "",
    "campaign check": "rule_set.propose",
    "campaign propose": "rule_set.propose",
    "campaign list": "",
    "campaign show": "rule_set.propose",
    "tokutei groups": "",
    "tokutei import": "record.correct",  # like person condition-import: records a group from a list
    "tokutei counts": "billing.view",  # aggregates only (doses by 接種区分), read by the budget side
    "notices": "notice.run",
    "tickets issue": "ticket.issue",
    "tickets wave": "notice.run",
    "away accept": "ticket.issue",
    "away list": "person.view",
    "away withdraw": "ticket.issue",
    "away end": "ticket.issue",
    "counts daily": "person.export",
    "tickets reissue": "ticket.issue",
    "tickets invalidate": "ticket.issue",
    "tickets list": "person.view",
    "certificate": "certificate.issue",
    "billing run": "billing.run",
    "billing close": "billing.run",
    "billing status": "billing.view",
    "billing reconcile": "billing.view",
    "billing accounts import": "billing.run",
    "billing tax import": "billing.run",
    "billing claims import": "billing.run",
    "billing kokuho import": "billing.run",
    "billing kokuho list": "billing.view",
    "billing subsidy decide": "billing.run",
    "hub serve": "system.operate",
    "linkage card": "system.operate",
    "linkage serve": "system.operate",
    "linkage sync": "system.operate",
    "linkage purge-results": "system.operate",
    "linkage prepare": "linkage.prepare",
    "linkage batches": "linkage.view",
    "linkage manual-only": "linkage.prepare",
    "linkage move-out": "linkage.prepare",
    "linkage move-in": "linkage.prepare",
    "linkage inquire": "linkage.inquire",
    "linkage inquiries": "linkage.view",
    "linkage provisions": "linkage.view",
    "linkage exchanges": "linkage.view",
    "retention due": "retention.manage",
    "retention purge": "retention.manage",
    "inquiry receive": "disclosure.manage",
    "inquiry list": "disclosure.manage",
    "inquiry answer": "disclosure.manage",
    "inquiry suspend": "disclosure.manage",
    "inquiry package": "disclosure.manage",
    "relief list": "relief.manage",
    "relief show": "relief.manage",
    "relief payments": "relief.manage",
    "relief zengin": "relief.manage",
    "fhir export": "person.export",
    "fhir import": "record.import",
    "shc issue": "certificate.issue",
    "shc verify": "",
    "shc keys": "system.operate",
    "shc rotate-key": "system.operate",
}
OPERATOR_PERMISSIONS = frozenset(p for p in CLI_COMMANDS.values() if p)


def role_permissions(role: str) -> frozenset[str]:
    entry = ROLES.get(role)
    return frozenset(entry["permissions"]) if entry else frozenset()


def has_permission(role: str, permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission}")
    return permission in role_permissions(role)
