"""Who is acting: a logged-in staff member or an operating-system user running the CLI."""
from __future__ import annotations

import getpass
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    login_id: str
    kind: str  # "user" (web/API) or "os" (CLI on the server)
    role: str
    user_id: int | None = None

    @property
    def label(self) -> str:
        return self.login_id if self.kind == "user" else f"os:{self.login_id}"


def os_actor() -> Actor:
    """CLI commands run on the server by an operator; the OS account is the actor on record."""
    try:
        name = getpass.getuser()
    except Exception:  # no passwd entry (containers): still never anonymous
        name = "uid-unknown"
    return Actor(login_id=name, kind="os", role="operator")
