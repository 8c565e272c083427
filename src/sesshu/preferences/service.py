"""Per-user screen settings: how dates are shown (和暦 first or 西暦 first)."""
from __future__ import annotations

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.db import Database
from sesshu.domain.errors import InvalidInput
from sesshu.preferences.models import StaffPreference

DATE_STYLES = {"wareki": "和暦を先に表示（令和5年8月3日／2023-08-03）",
               "western": "西暦を先に表示（2023-08-03／令和5年8月3日）"}
DEFAULT_DATE_STYLE = "wareki"


def date_style(db: Database, user_id: int | None) -> str:
    if user_id is None:
        return DEFAULT_DATE_STYLE
    with db.transaction() as s:
        pref = s.get(StaffPreference, user_id)
        return pref.date_style if pref is not None else DEFAULT_DATE_STYLE


def set_date_style(db: Database, *, actor: Actor, style: str) -> str:
    if style not in DATE_STYLES:
        raise InvalidInput("日付の表示方法を選んでください")
    if actor.user_id is None:
        raise InvalidInput("画面の設定は職員アカウントごとに保存します")
    with db.transaction() as s:
        pref = s.get(StaffPreference, actor.user_id)
        if pref is None:
            s.add(StaffPreference(user_id=actor.user_id, date_style=style))
        else:
            pref.date_style = style
        audit.record(s, actor, "account.preferences", purpose="画面の設定の変更", detail={"date_style": style})
    return style
