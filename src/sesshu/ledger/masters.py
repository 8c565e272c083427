"""Master data (医療機関, 医師, 実施場所, ワクチン会社) loaded from CSV; re-loading is idempotent."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from sesshu.actor import Actor
from sesshu.audit import service as audit
from sesshu.db import Database
from sesshu.domain.errors import InvalidInput
from sesshu.domain.text import clean, clean_name
from sesshu.imports.batch import ImportSummary, close_batch, open_batch
from sesshu.imports.csvfile import CsvSource, RejectWriter, inspect_file
from sesshu.ledger.models import Doctor, Institution, Manufacturer, Venue

KINDS = {
    "institutions": (Institution, "医療機関"),
    "doctors": (Doctor, "医師"),
    "venues": (Venue, "実施場所"),
    "manufacturers": (Manufacturer, "ワクチン会社"),
}
HEADERS = ("コード", "名称", "名称カナ", "住所", "電話番号", "医療機関コード")


def import_masters(db: Database, *, kind: str, path: Path, actor: Actor,
                   rejects_path: Path | None = None) -> ImportSummary:
    if kind not in KINDS:
        raise InvalidInput(f"マスタの種類が正しくありません: {kind}（{', '.join(KINDS)}）")
    model, label = KINDS[kind]
    facts = inspect_file(path)
    source = CsvSource(path, facts=facts, required=("コード", "名称"), known=HEADERS)
    rejects = RejectWriter(rejects_path)
    try:
        with db.transaction() as s:
            batch = open_batch(s, kind=f"master:{kind}", path=path, facts=facts, actor=actor)
            summary = ImportSummary(batch_id=batch.id, file=path.name, encoding=facts.encoding)
            institutions = set(s.execute(select(Institution.code)).scalars())
            for row in source.rows():
                rejects.header = source.header
                summary.read += 1
                code = clean(row.values.get("コード", "")).replace(" ", "")
                name = clean_name(row.values.get("名称", ""))
                reason = row.problem or (None if code else "コードが空です") or (None if name else "名称が空です")
                values = {"code": code, "name": name}
                if not reason and model is Institution:
                    values.update(name_kana=clean(row.values.get("名称カナ", "")),
                                  address=clean_name(row.values.get("住所", "")),
                                  phone=clean(row.values.get("電話番号", "")))
                    institutions.add(code)
                if not reason and model is Doctor:
                    inst = clean(row.values.get("医療機関コード", "")) or None
                    if inst and inst not in institutions:
                        reason = f"医療機関コード「{inst}」はマスタに登録されていません"
                    values["institution_code"] = inst
                if reason:
                    summary.rejected += 1
                    rejects.write(row.line_no, "エラー", reason, row.raw)
                    continue
                current = s.get(model, code)
                if current is None:
                    s.add(model(**values))
                    summary.accepted += 1
                elif any(getattr(current, k) != v for k, v in values.items()):
                    for k, v in values.items():
                        setattr(current, k, v)
                    summary.accepted += 1
                else:
                    summary.unchanged += 1
                s.flush()
            close_batch(batch, summary)
            audit.record(s, actor, "master.import", purpose=f"{label}マスタの取込",
                         detail={"kind": kind, "batch_id": batch.id, "accepted": summary.accepted,
                                 "rejected": summary.rejected})
    finally:
        rejects.close()
    return summary


def master_names(db: Database, *, limit: int = 2000) -> dict[str, dict[str, str]]:
    """{kind: {code: name}} of the active masters, for the entry form's suggestions (no personal data)."""
    with db.transaction() as s:
        out = {}
        for kind, (model, _label) in KINDS.items():
            q = select(model.code, model.name)
            if hasattr(model, "active"):
                q = q.where(model.active)
            out[kind] = dict(s.execute(q.order_by(model.code).limit(limit)).all())
        return out
