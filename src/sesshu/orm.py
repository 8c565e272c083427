"""Declarative base shared by every feature's tables."""
from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def load_all_models() -> MetaData:
    """Import every feature's tables so the metadata is complete (Alembic, tests)."""
    from sesshu.access import models as _access  # noqa: F401
    from sesshu.approvals import models as _approvals  # noqa: F401
    from sesshu.audit import models as _audit  # noqa: F401
    from sesshu.auth import models as _auth  # noqa: F401
    from sesshu.away import models as _away  # noqa: F401
    from sesshu.certificates import models as _certificates  # noqa: F401
    from sesshu.billing import models as _billing  # noqa: F401
    from sesshu.conditions import models as _conditions  # noqa: F401
    from sesshu.dashboard import models as _dashboard  # noqa: F401
    from sesshu.eligibility import models as _eligibility  # noqa: F401
    from sesshu.hub import models as _hub  # noqa: F401
    from sesshu.disclosure import models as _disclosure  # noqa: F401
    from sesshu.jobs import models as _jobs  # noqa: F401
    from sesshu.ledger import models as _ledger  # noqa: F401
    from sesshu.linkage import models as _linkage  # noqa: F401
    from sesshu.mynumber import models as _mynumber  # noqa: F401
    from sesshu.preferences import models as _preferences  # noqa: F401
    from sesshu.pregnancy import models as _pregnancy  # noqa: F401
    from sesshu.registry import models as _registry  # noqa: F401
    from sesshu.tickets import models as _tickets  # noqa: F401
    from sesshu.relief import models as _relief  # noqa: F401
    from sesshu.retention import models as _retention  # noqa: F401
    from sesshu.rulesets import models as _rulesets  # noqa: F401

    return Base.metadata
