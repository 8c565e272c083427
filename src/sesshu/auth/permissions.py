"""Permissions are data: one table from role to the set of permissions it grants.

Every web route and API endpoint declares the one permission it needs; a test walks all routes and
checks each role against this table.
"""
from __future__ import annotations

PERMISSIONS = {
    "person.search": "対象者の検索",
    "person.view": "個人の情報・接種履歴の閲覧",
    "person.export": "個人情報のファイル出力",
    "record.import": "予診票・住基ファイルの取込",
    "record.correct": "接種記録の職権修正・取消",
    "audit.view": "操作記録の閲覧・検証",
    "user.manage": "職員アカウントの管理",
}

ROLES: dict[str, dict] = {
    "clerk": {
        "label": "担当職員",
        "permissions": {"person.search", "person.view", "record.import"},
    },
    "supervisor": {
        "label": "上長",
        "permissions": {"person.search", "person.view", "person.export", "record.import", "record.correct"},
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


def role_permissions(role: str) -> frozenset[str]:
    entry = ROLES.get(role)
    return frozenset(entry["permissions"]) if entry else frozenset()


def has_permission(role: str, permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission}")
    return permission in role_permissions(role)
