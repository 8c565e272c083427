"""Reference data shipped with sesshu (接種種別), kept in step with the data file on every upgrade."""
from __future__ import annotations

from importlib import resources

import yaml
from sqlalchemy import select

from sesshu.db import Database
from sesshu.ledger.models import Vaccine

CATEGORIES = {
    "routine_a": "定期A類",
    "routine_b": "定期B類",
    "temporary": "臨時",
    "pandemic_resident": "住民接種（特措法）",
    "designated": "特定接種（特措法）",
    "voluntary": "任意",
}
SCREENING_RESULTS = {"vaccinated": "接種", "screened_only": "予診のみ"}


def load_vaccine_data() -> list[dict]:
    text = resources.files("sesshu").joinpath("data/vaccines.yaml").read_text(encoding="utf-8")
    rows = yaml.safe_load(text)["vaccines"]
    for r in rows:
        if r["category"] not in CATEGORIES:
            raise ValueError(f"vaccines.yaml: unknown category {r['category']} for {r['code']}")
    return rows


def sync_reference_data(db: Database) -> int:
    """Insert or update the shipped vaccines; returns how many rows changed. Idempotent."""
    changed = 0
    with db.transaction() as s:
        current = {v.code: v for v in s.execute(select(Vaccine)).scalars()}
        for r in load_vaccine_data():
            v = current.get(r["code"])
            if v is None:
                s.add(Vaccine(code=r["code"], name=r["name"], default_category=r["category"],
                              injected_live=r["injected_live"], active=True))
                changed += 1
            elif (v.name, v.default_category, v.injected_live) != (r["name"], r["category"], r["injected_live"]):
                v.name, v.default_category, v.injected_live = r["name"], r["category"], r["injected_live"]
                changed += 1
    return changed
