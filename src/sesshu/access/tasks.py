"""The 個人番号利用事務 (tasks) that may use the 特定個人情報 held in sesshu — as data.

The 団体内統合宛名システム binds each task to the departments that carry it out and to the staff
assigned to it (seed I-2, アクセス制御機能; III リスク1/2). A staff member sees a person's
特定個人情報 only through a task they are assigned to:

- population "all": the task uses every person in the vaccination ledger's 宛名 (all registry
  statuses), e.g. routine vaccination — any assigned clerk may look anyone up;
- population "linked": the task uses only persons explicitly linked to it (PersonTask rows), e.g.
  injury-relief claims — staff handling claims see only the claimants (need to know).

Legal sources are those of 番号法 (行政手続における特定の個人を識別するための番号の利用等に関する法律).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    code: str
    label: str
    legal_basis: str
    departments: tuple[str, ...]
    population: str  # "all" | "linked"


TASKS: dict[str, Task] = {t.code: t for t in (
    Task("yobo_sesshu", "予防接種法による予防接種の実施に関する事務",
         "番号法 別表第一 10の項", ("健康づくり課",), "all"),
    Task("tokuso_sesshu", "新型インフルエンザ等対策特別措置法による予防接種の実施に関する事務",
         "番号法 別表第一 93の2の項", ("健康づくり課",), "all"),
    Task("kenko_higai_kyusai", "予防接種法による給付（健康被害救済）の支給に関する事務",
         "番号法 別表第一 10の項", ("健康づくり課",), "linked"),
)}
DEPARTMENTS = tuple(sorted({d for t in TASKS.values() for d in t.departments}))
DEFAULT_TASK = "yobo_sesshu"
DEFAULT_DEPARTMENT = "健康づくり課"
# The 事務 that carry out vaccinations (notices, imports of 予診票, approvals of ledger changes).
VACCINATION_TASKS = ("yobo_sesshu", "tokuso_sesshu")
