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
    "audit.view": "操作記録の閲覧・検証",
    "user.manage": "職員アカウントの管理",
    # Four-eyes: what needs a second person is requested by one user and decided by another.
    "approval.request": "承認が必要な登録の申請・取下げ（住登外者の登録など）",
    "approval.decide": "他の職員の申請の承認・却下",
    "certificate.issue": "接種証明書（SMART Health Card）の発行",
    "system.operate": "システムの運用（データベース更新・鍵の更新・起動・デモ）",
}

ROLES: dict[str, dict] = {
    "clerk": {
        "label": "担当職員",
        "permissions": {"person.search", "person.view", "record.import", "approval.request",
                        "person.verify_my_number", "certificate.issue"},
    },
    "supervisor": {
        "label": "上長",
        "permissions": {"person.search", "person.view", "person.export", "record.import", "record.correct",
                        "approval.request", "approval.decide", "person.reveal_my_number", "person.verify_my_number",
                        "certificate.issue"},
    },
    "security_officer": {
        "label": "セキュリティ責任者",
        "permissions": {"audit.view", "user.manage"},
    },
    "auditor": {
        "label": "監査担当",
        "permissions": {"audit.view"},
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
    "jobs list": "system.operate",
    "jobs show": "system.operate",
    "import registry": "record.import",
    "import records": "record.import",
    "import masters": "record.import",
    "search": "person.search",
    "person show": "person.view",
    "person condition": "record.correct",
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
