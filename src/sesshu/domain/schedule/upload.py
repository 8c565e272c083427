"""Checking an uploaded rule file before anything changes: its ``release`` block (what it is, which
version, from when), the compile of the rules it would put in force, and every problem as a Japanese
message naming the YAML line and the field. Pure: the caller passes the active uploads.

Every uploaded file carries a ``release`` block::

    release:
      kind: campaign            # campaign | amendment | settings
      id: covid-2021            # campaign / settings name; for an amendment the shipped file (ppsv23.yaml)
      version: 2
      effective_from: 2021-06-01
      source: 厚生労働省通知（…）
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import yaml

from .book import KINDS, SETTINGS_SCHEMA, RuleBook, Upload, compile_book, parse_settings, shipped_files
from .rules import SCHEMA, RuleError, _Ctx, tokutei_groups
from ..fees import campaign_fee_entries

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}")


@dataclass(frozen=True)
class Problem:
    line: int | None  # 1-based YAML line, None when the file as a whole is wrong
    field: str  # the key path (series[0].doses[1].intervals)
    message: str  # Japanese

    def __str__(self) -> str:
        where = f"{self.line}行目" if self.line else "ファイル全体"
        return f"{where}（{self.field}）: {self.message}" if self.field else f"{where}: {self.message}"


class UploadInvalid(ValueError):
    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


@dataclass
class CheckedUpload:
    upload: Upload
    title: str
    vaccine_codes: tuple[str, ...]
    group_ids: tuple[str, ...]
    groups: dict[str, str] = field(default_factory=dict)  # id → name
    book: RuleBook | None = None  # the rules in force if it were activated


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- line numbers -----------------------------------------------------------------------------------

def _path_parts(where: str) -> list[str | int]:
    """"series[0](MR).doses[1].intervals" → ["series", 0, "doses", 1, "intervals"] (the series id in
    parentheses is only for the English message)."""
    parts: list[str | int] = []
    for token in re.sub(r"\([^)]*\)", "", where).split("."):
        m = re.fullmatch(r"([^\[]*)((?:\[\d+\])*)", token)
        if m is None:
            parts.append(token)
            continue
        if m[1] and m[1] != "<top>":
            parts.append(m[1])
        parts += [int(i) for i in re.findall(r"\[(\d+)\]", m[2])]
    return parts


def line_of(text: str, where: str) -> int | None:
    """The 1-based line of the YAML node at ``where`` (or of its deepest existing parent)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line = node.start_mark.line + 1
    parts = _path_parts(where)
    i = 0
    while i < len(parts):
        part, nxt = parts[i], None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if str(k.value) == str(part):
                    nxt, line = v, k.start_mark.line + 1
                    break
            if nxt is None and part == "paths" and i + 1 < len(parts) and isinstance(parts[i + 1], int):
                i += 2  # a series with plain `doses` is read as one path: its keys are the series' own
                continue
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            nxt = node.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
        i += 1
    return line


# --- Japanese messages ------------------------------------------------------------------------------

_MESSAGES: list[tuple[str, str]] = [
    (r"unknown key\(s\) \[(.*)\]; allowed: \[(.*)\]", r"使えない項目 \1 があります（使える項目: \2）"),
    (r"missing required key '(.*)'", r"必須の項目「\1」がありません"),
    (r"expected a date YYYY-MM-DD, got (.*)", r"日付は YYYY-MM-DD の形で書いてください（\1）"),
    (r"expected an integer >= (\d+), got (.*)", r"\1以上の整数で書いてください（\2）"),
    (r"expected a mapping, got (.*)", r"「項目: 値」の形で書いてください（\1 になっています）"),
    (r"not valid YAML: (.*)", r"YAMLとして読めません: \1"),
    (r"expected '(.*)', got (.*)", r"\1 と書いてください（\2 になっています）"),
    (r"must be one of \((.*)\)", r"次のいずれかです: \1"),
    (r"unknown series (.*)", r"定義されていない系列 \1 です"),
    (r"unknown condition (.*)", r"定義されていない条件（接種順位の群） \1 です。priority_groups か tokutei.groups に書いてください"),
    (r"duplicate group (.*)", r"特定接種の群 \1 が重複しています"),
    (r"duplicate job category (.*)", r"職種区分 \1 が重複しています"),
    (r"unknown term (.*?)(;.*)?$", r"定義されていない期 \1 です"),
    (r"(.*) is not a vaccine of (.*)", r"\1 は \2 のワクチンではありません"),
    (r"vaccine (.*) already defined in (.*)", r"ワクチン \1 は既に \2 で定義されています"),
    (r"series (.*) defined twice", r"系列 \1 が重複しています"),
    (r"duplicate eligibility entry (.*)", r"接種可能範囲の行 \1 が重複しています"),
    (r"expected a non-empty list(.*)", r"1つ以上の要素を持つリストで書いてください"),
    (r"expected a list(.*)", r"リストで書いてください"),
    (r"expected MM-DD, got (.*)", r"月日は MM-DD の形で書いてください（\1）"),
    (r"not a calendar day: (.*)", r"暦にない日付です（\1）"),
    (r"vaccine codes are upper-case identifiers", r"ワクチンコードは英大文字・数字・_ で書いてください"),
    (r"sex must be M or F", r"性別は M か F です"),
    (r"an interval needs 'months' and/or 'days'", r"間隔には months か days を書いてください"),
    (r"'after' must be previous, last_valid or \{dose: N\}, got (.*)",
     r"after は previous・last_valid・{dose: N} のいずれかです（\1）"),
    (r"dose (\d+) is not before dose (\d+)", r"\1回目は\2回目より前の接種ではありません"),
    (r"missing 'to' \(use to: null for an open end\)", r"to がありません（終わりがない場合は to: null）"),
    (r"(.*) counts toward no series", r"ワクチン \1 はどの系列にも数えられていません"),
    (r"no shipped file of that name", r"その名前の同梱ルールファイルはありません"),
    (r"(.*): not a whole number of yen: (.*)", r"金額は0以上の整数（円）で書いてください（\2）"),
    (r"not a whole number of yen: (.*)", r"金額は0以上の整数（円）で書いてください（\1）"),
    (r"not a date: (.*)", r"日付は YYYY-MM-DD の形で書いてください（\1）"),
    (r"(.*) is not among the file's vaccines", r"\1 はこのファイルの vaccines にないワクチンです"),
    (r"expected hours as 'HH:MM-HH:MM', got (.*)", r"時間帯は 'HH:MM-HH:MM' の形で書いてください（\1）"),
    (r"the hours must start before they end: (.*)", r"時間帯の始まりが終わりより前ではありません（\1）"),
    (r"expected \{weekdays: .*\}", r"regular_hours は {weekdays: 'HH:MM-HH:MM', saturdays: 'HH:MM-HH:MM'} の形で書いてください"),
]


def japanese(detail: str) -> str:
    for pattern, repl in _MESSAGES:
        m = re.fullmatch(pattern, detail, flags=re.S)
        if m:
            return m.expand(repl)
    return f"ルールの誤り: {detail}"


def _problem(text: str, e: RuleError) -> Problem:
    if e.detail.startswith("not valid YAML"):
        mark = getattr(e.__cause__, "problem_mark", None)
        return Problem(mark.line + 1 if mark else None, "", japanese(e.detail.split("\n")[0]))
    return Problem(line_of(text, e.where) if e.where else None, e.where, japanese(e.detail or str(e)))


# --- the release block ------------------------------------------------------------------------------

def _bad_date(text: str) -> Problem:
    """PyYAML turns 2021-02-30 into a ValueError with no position: find the scalar ourselves."""
    def walk(node):
        if isinstance(node, yaml.ScalarNode):
            if node.tag == "tag:yaml.org,2002:timestamp":
                try:
                    date.fromisoformat(str(node.value)[:10])
                except ValueError:
                    return node
            return None
        children = node.value if isinstance(node, yaml.SequenceNode) else (
            [x for kv in node.value for x in kv] if isinstance(node, yaml.MappingNode) else [])
        return next((hit for c in children if (hit := walk(c)) is not None), None)

    node = walk(yaml.compose(text))
    return Problem(node.start_mark.line + 1 if node is not None else None, "",
                   f"暦にない日付です（{node.value if node is not None else '?'}）")


def _release(text: str) -> tuple[dict, list[Problem]]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        return {}, [Problem(mark.line + 1 if mark else None, "", f"YAMLとして読めません: {getattr(e, 'problem', e)}")]
    except ValueError:
        return {}, [_bad_date(text)]
    if not isinstance(doc, dict):
        return {}, [Problem(1, "", "ルールファイルは「項目: 値」の形の YAML です")]
    rel = doc.get("release")
    line = lambda where: line_of(text, where)  # noqa: E731
    if not isinstance(rel, dict):
        return {}, [Problem(1, "release", "release（種類・名前・版・適用開始日・根拠）を書いてください")]
    problems = []
    allowed = {"kind", "id", "version", "effective_from", "source"}
    for k in sorted(set(map(str, rel)) - allowed):
        problems.append(Problem(line(f"release.{k}"), f"release.{k}", f"使えない項目です（使える項目: {', '.join(sorted(allowed))}）"))
    for k in sorted(allowed - set(rel)):
        problems.append(Problem(line("release"), f"release.{k}", "必須の項目がありません"))
    if problems:
        return {}, problems
    kind, name, version, eff = rel["kind"], str(rel["id"]), rel["version"], rel["effective_from"]
    if kind not in KINDS:
        problems.append(Problem(line("release.kind"), "release.kind", f"種類は {' / '.join(KINDS)} のいずれかです"))
    if not _NAME.fullmatch(name):
        problems.append(Problem(line("release.id"), "release.id", "名前は英数字・_・-・. で80文字以内です"))
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problems.append(Problem(line("release.version"), "release.version", "版は1以上の整数です"))
    if isinstance(eff, str):
        try:
            eff = date.fromisoformat(eff)
        except ValueError:
            pass
    if not isinstance(eff, date):
        problems.append(Problem(line("release.effective_from"), "release.effective_from",
                                "適用開始日は YYYY-MM-DD の形で書いてください"))
    if not str(rel["source"]).strip():
        problems.append(Problem(line("release.source"), "release.source", "根拠を書いてください"))
    want = SETTINGS_SCHEMA if kind == "settings" else SCHEMA
    if kind in KINDS and doc.get("schema") != want:
        problems.append(Problem(line("schema"), "schema", f"この種類のファイルは schema: {want} です"))
    if kind == "amendment" and name not in shipped_files():
        problems.append(Problem(line("release.id"), "release.id",
                                f"改正する同梱ファイル名を書いてください（{', '.join(shipped_files())}）"))
    return {"kind": kind, "name": name, "version": version, "effective_from": eff,
            "title": str(doc.get("name", ""))[:200], "doc": doc}, problems


def check_upload(text: str, active: list[Upload], *, upload_id: int = 0) -> CheckedUpload:
    """Validate ``text`` as it would be activated next to ``active``; raise UploadInvalid with every
    problem found (the release block first, then the first error of the rules themselves)."""
    rel, problems = _release(text)
    if problems:
        raise UploadInvalid(problems)
    up = Upload(id=upload_id, kind=rel["kind"], name=rel["name"], version=rel["version"],
                effective_from=rel["effective_from"], text=text, sha256=sha256_of(text))
    for other in active:
        if (other.kind, other.name) == (up.kind, up.name) and other.version >= up.version:
            raise UploadInvalid([Problem(line_of(text, "release.version"), "release.version",
                                         f"第{other.version}版が既に適用中です。より大きい版番号にしてください")])
    try:
        if up.kind == "settings":
            parse_settings(up.file, text)
        book = compile_book([*active, up])
    except RuleError as e:
        raise UploadInvalid([_problem(text, e)]) from e
    doc: dict[str, Any] = rel["doc"]
    if "fees" in doc:
        if up.kind != "campaign":
            raise UploadInvalid([Problem(line_of(text, "fees"), "fees", "費用（fees）は実施計画（campaign）にだけ書けます")])
        try:
            campaign_fee_entries(doc["fees"], set(doc.get("vaccines") or ()), _Ctx(up.file).fail)
        except RuleError as e:
            raise UploadInvalid([_problem(text, e)]) from e
    groups = {str(g["id"]): str(g["name"]) for g in doc.get("priority_groups") or ()}
    groups.update((code, g["name"]) for code, g in tokutei_groups(doc.get("tokutei"), _Ctx(up.file)).items())
    codes = tuple(doc.get("vaccines") or ()) if up.kind != "settings" else tuple(doc.get("series") or ())
    return CheckedUpload(upload=up, title=rel["title"], vaccine_codes=tuple(map(str, codes)),
                         group_ids=tuple(groups), groups=groups, book=book)
