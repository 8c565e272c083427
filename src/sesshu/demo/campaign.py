"""`sesshu demo load --campaign NAME`: the demo city with a shipped campaign in force, proposed by one
demo supervisor and approved by the other through the same services as the web and CLI (rulesets,
approvals), then the ledger re-evaluated through the evaluation queue."""
from __future__ import annotations

from sqlalchemy import select

from sesshu.actor import Actor
from sesshu.approvals import service as approvals
from sesshu.auth.models import StaffUser
from sesshu.config import Settings
from sesshu.db import Database
from sesshu.domain.errors import InvalidInput
from sesshu.domain.schedule import PANDEMIC_DIR
from sesshu.ledger.service import evaluate_pending
from sesshu.rulesets import service as rulesets

# Each shipped campaign: its versions in order, and why the demo supervisor proposes each.
CAMPAIGNS: dict[str, tuple[tuple[str, str], ...]] = {
    "covid-2021": (("covid-2021.yaml", "2021年2月16日 厚生労働大臣の指示（特例臨時接種）の再現"),
                   ("covid-2021-v2.yaml", "2021年6月1日 ファイザー社ワクチン12歳以上・武田/モデルナ社ワクチン追加の再現")),
    "h9n9-example": (("example.yaml", "仮想例（新型インフルエンザ等 H9N9）の書式見本"),),
}
PROPOSER, APPROVER = "demo-super", "demo-super2"


def _demo_actor(db: Database, login_id: str) -> Actor:
    with db.transaction() as s:
        u = s.execute(select(StaffUser).where(StaffUser.login_id == login_id, StaffUser.is_demo.is_(True))).scalar()
        if u is None:
            raise InvalidInput(f"デモ用アカウント {login_id} がありません。先に sesshu demo load を実行してください")
        return Actor(login_id=u.login_id, kind="user", role=u.role, user_id=u.id)


def load_campaign(db: Database, settings: Settings, *, name: str, operator: Actor) -> list[rulesets.RuleSetOut]:
    """Propose (demo-super) and approve (demo-super2) every version of the campaign, then evaluate."""
    if name not in CAMPAIGNS:
        raise InvalidInput(f"同梱の実施計画は {', '.join(CAMPAIGNS)} です（{name}）")
    proposer, approver = _demo_actor(db, PROPOSER), _demo_actor(db, APPROVER)
    for file, reason in CAMPAIGNS[name]:
        row = rulesets.propose(db, settings, actor=proposer, raw=(PANDEMIC_DIR / file).read_bytes(), reason=reason)
        detail = approvals.get_approval(db, settings, actor=approver, approval_id=row.approval_id)
        approvals.approve(db, settings, actor=approver, approval_id=row.approval_id,
                          expected_version=detail.approval.version)
    from sesshu.clock import today_jst

    evaluate_pending(db, actor=operator, as_of=today_jst())
    return [r for r in rulesets.list_rule_sets(db, actor=operator) if r.name == name]
