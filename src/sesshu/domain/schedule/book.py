"""The rules in force over time: the shipped files plus uploaded rule files, each from its date.

A city uploads three kinds of rule file (sesshu.rulesets): a **campaign** (特措法 住民接種 — a file
of its own, added to the shipped ones), an **amendment** of a shipped file (it takes that file's
place) and its **settings** (municipal values such as the influenza season). Each upload is a
version with an effective date; a later version of the same file supersedes the earlier one from
its own date. ``compile_book`` turns the active uploads into a ``RuleBook``: one compiled
``RuleSet`` per period between effective dates, so a dose is judged by the rules in force on its
date (doses before a change keep their verdict) and a forecast by the rules in force on ``as_of``.

Pure: no database; the caller passes the active uploads (sesshu.rulesets.active caches the book).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable

import yaml

from ..fees import FeeEntry, campaign_fee_entries
from .rules import RULES_DIR, RuleError, RuleSet, _Ctx, _mmdd, default_rules, load_rules, tokutei_groups

TOKUTEI_EVIDENCE = "staff_list"  # data/person_conditions.yaml: the 特定接種 staff list

def is_tokutei(rules: RuleSet, code: str) -> bool:
    """A 特定接種 (特措法第28条) vaccine or line: a series of it is of the category 特定接種."""
    v = rules.vaccines.get(code)
    return v is not None and any("特定接種" in (x.category or "") for x in v.series)


KINDS = {"campaign": "特措法 住民接種等の実施計画", "amendment": "同梱ルールの改正", "settings": "市の設定"}
SETTINGS_SCHEMA = "sesshu.settings/1"


@dataclass(frozen=True)
class Upload:
    """One active uploaded rule file (a row of rule_set)."""

    id: int
    kind: str  # campaign | amendment | settings
    name: str  # the campaign's name; for an amendment, the shipped file it replaces ("mr.yaml")
    version: int
    effective_from: date
    text: str
    sha256: str

    @property
    def file(self) -> str:
        """The file name verdicts cite and RuleError messages name."""
        return self.name if self.kind == "amendment" else f"{self.kind}:{self.name}"

    @property
    def label(self) -> str:
        return f"{KINDS[self.kind]}「{self.name}」第{self.version}版（{self.effective_from.isoformat()}から・" \
               f"登録番号 {self.id}・SHA-256 {self.sha256[:12]}）"


def shipped_files() -> list[str]:
    return sorted(f.name for f in RULES_DIR.glob("*.yaml"))


def parse_settings(name: str, text: str) -> dict[str, dict[str, Any]]:
    """A settings file → load_rules overrides. Raises RuleError naming the key.

    Shape::

        schema: sesshu.settings/1
        name: 熊谷市の設定
        source: ...
        series:
          FLU_ELDER:
            season: {from: "10-01", to: "01-31", source: 市の実施要綱}
    """
    c = _Ctx(name)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise RuleError(f"{name}: not valid YAML: {e}", file=name, detail=f"not valid YAML: {e}") from e
    c.keys("<top>", doc, {"schema", "name", "source", "series", "notes", "release"}, ["schema", "name", "source", "series"])
    if doc["schema"] != SETTINGS_SCHEMA:
        c.fail("schema", f"expected {SETTINGS_SCHEMA!r}, got {doc['schema']!r}")
    if not isinstance(doc["series"], dict) or not doc["series"]:
        c.fail("series", "expected a mapping of series id → settings")
    out: dict[str, dict[str, Any]] = {}
    for sid, v in doc["series"].items():
        wh = f"series.{sid}"
        c.keys(wh, v, {"season"}, ["season"])
        c.keys(wh + ".season", v["season"], {"from", "to", "source"}, ["from", "to", "source"])
        season = tuple(f"{m:02d}-{d:02d}" for m, d in (_mmdd(c, f"{wh}.season.{k}", v["season"][k])
                                                       for k in ("from", "to")))
        out[str(sid)] = {"season": season}
    return out


def _latest(uploads: list[Upload], on: date) -> list[Upload]:
    """Per file, the version in force on ``on`` (the latest effective date, then the highest version)."""
    best: dict[tuple[str, str], Upload] = {}
    for u in uploads:
        if u.effective_from > on:
            continue
        key = (u.kind, u.name)
        cur = best.get(key)
        if cur is None or (u.effective_from, u.version) > (cur.effective_from, cur.version):
            best[key] = u
    return sorted(best.values(), key=lambda u: (u.kind, u.name))


def compile_set(uploads: Iterable[Upload]) -> RuleSet:
    """The shipped files with these uploads (at most one per file) applied."""
    uploads = list(uploads)
    if not uploads:
        return default_rules()
    overrides: dict[str, dict[str, Any]] = {}
    cited: dict[str, str] = {}  # series id → the settings version that changed it
    for u in uploads:
        if u.kind == "settings":
            for sid, ov in parse_settings(u.file, u.text).items():
                overrides[sid] = ov
                cited[sid] = u.label
    texts = [(u.file, u.text) for u in uploads if u.kind != "settings"]
    amended = [u.name for u in uploads if u.kind == "amendment"]
    unknown = sorted(set(amended) - set(shipped_files()))
    if unknown:
        raise RuleError(f"amendment of unknown file {unknown[0]}", file=unknown[0], detail="no shipped file of that name")
    rs = load_rules(texts=texts, replaced=amended, overrides=overrides or None,
                    sources={u.file: u.label for u in uploads})
    # A verdict on a series the settings changed names both: the rule file and the settings version.
    for s in rs.series:
        if s.id in cited and cited[s.id] not in rs.sources[s.file]:
            rs.sources[s.file] += f"＋{cited[s.id]}"
    return rs


class RuleBook:
    """Compiled rule sets by period: ``at(day)`` is the set in force on that day; ``fees`` the fee
    schedules of the active campaigns (billing adds them to the shipped fee table)."""

    def __init__(self, starts: list[int], sets: list[RuleSet], uploads: tuple[Upload, ...] = (),
                 fees: tuple[FeeEntry, ...] = (), groups: dict[str, dict] | None = None):
        self._starts = starts  # ordinals, ascending; starts[0] is date.min
        self._sets = sets
        self.uploads = uploads
        self.fees = fees
        # The priority groups (接種順位) of the active campaigns: id → {name, source, evidence, campaign}.
        self.groups = groups or {}

    @property
    def single(self) -> bool:
        return len(self._sets) == 1

    def at(self, day: date) -> RuleSet:
        return self._sets[bisect.bisect_right(self._starts, day.toordinal()) - 1]

    @property
    def sets(self) -> list[RuleSet]:
        return list(self._sets)

    @property
    def starts(self) -> tuple[int, ...]:
        """The first day (ordinal) of each period; the first is date.min."""
        return tuple(self._starts)


def compile_book(uploads: Iterable[Upload]) -> RuleBook:
    uploads = tuple(sorted(uploads, key=lambda u: (u.effective_from, u.id)))
    dates = sorted({u.effective_from for u in uploads})
    starts, sets = [date.min.toordinal()], [compile_set(())]
    by_key: dict[tuple, RuleSet] = {(): sets[0]}
    for d in dates:
        chosen = _latest(list(uploads), d)
        key = tuple(u.id for u in chosen)
        rs = by_key.get(key)
        if rs is None:
            rs = by_key[key] = compile_set(chosen)
        starts.append(d.toordinal())
        sets.append(rs)
    return RuleBook(starts, sets, uploads, _campaign_fees(uploads), _campaign_groups(uploads))


def _campaign_groups(uploads: tuple[Upload, ...]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for u in sorted((u for u in uploads if u.kind == "campaign"), key=lambda u: u.version):
        doc = yaml.safe_load(u.text)
        for g in doc.get("priority_groups") or ():
            out[str(g["id"])] = {"name": str(g["name"]), "source": str(g["source"]),
                                 "evidence": tuple(map(str, g.get("evidence") or ())), "campaign": u.name}
        # 特定接種 (特措法第28条): membership comes from the staff list of the group, by job category.
        for code, g in tokutei_groups(doc.get("tokutei"), _Ctx(u.file)).items():
            out[code] = {**g, "evidence": (TOKUTEI_EVIDENCE,), "campaign": u.name, "tokutei": True}
    return out


def _campaign_fees(uploads: tuple[Upload, ...]) -> tuple[FeeEntry, ...]:
    """Each campaign version's fee schedule; where two versions price the same (vaccine, 期, from),
    the higher version's price stands."""
    best: dict[tuple, tuple[int, FeeEntry]] = {}
    for u in uploads:
        if u.kind != "campaign":
            continue
        doc = yaml.safe_load(u.text)
        if "fees" not in doc:
            continue
        for e in campaign_fee_entries(doc["fees"], set(doc.get("vaccines") or ()), _Ctx(u.file).fail):
            key = (e.vaccine, e.term, e.valid_from)
            if key not in best or best[key][0] < u.version:
                best[key] = (u.version, e)
    return tuple(e for _v, e in best.values())


def group_of(book: RuleBook, rules: RuleSet, line: str, birth: date, sex: str, held: frozenset[str],
             on: date) -> str:
    """The 接種順位 of a campaign line that applies to this person on ``on``: the first window of the line (in
    file order) that is open that day and whose condition, birth cohort and sex fit — its ``group`` label,
    or the priority group's name. "" for lines with no groups (定期)."""
    entry = next((e for e in rules.entries if e.code == line), None)
    if entry is None:
        return ""
    b, d = birth.toordinal(), on.toordinal()
    for s in entry.series:
        for term in s.terms or ():
            for w in term.windows or ():
                if not (w.group or w.condition in book.groups):
                    continue
                if w.condition is not None and w.condition not in held:
                    continue
                if (w.born_from is not None and b < w.born_from) or (w.born_to is not None and b > w.born_to):
                    continue
                if (w.sex is not None and w.sex != sex) or (w.not_before is not None and d < w.not_before) \
                        or (w.not_after is not None and d > w.not_after):
                    continue
                return w.group or book.groups[w.condition]["name"]
    return ""
