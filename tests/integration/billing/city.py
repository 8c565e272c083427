"""A small city for the billing tests: two clinics with bank accounts, residents, and two months of claims
through the real import paths (registry, 予診票 with the schedule engine, bank accounts, tax data).

Month 2026-10 pays a BCG (P8) and a PCV (P9) at clinic 1; after it is closed, the PCV is voided and the
BCG is claimed again in 2026-11. Month 2026-11 holds the deliberately bad claims. Hand-computed totals
(fee table of FY2026, billing/data/fees.yaml):

  clinic 1 (1110200001): MR 12,100 (P1) + Hib 10,560 (P2 dose 1) + 五種混合 予診のみ 3,740 (P7)
                         = 26,400; 過誤調整 −12,980 (P9's voided PCV)   → 13,420
  clinic 2 (1110200002): インフル 5,280 − 自己負担 1,600 (P3) = 3,680 + インフル 5,280 免除 (P4) → 8,960
  returned: P2 Hib dose 2 (E_INTERVAL_TOO_SHORT), P5 MR at 3 years (W_OUTSIDE_LEGAL_WINDOW),
            P6 水痘 without a clinic (R_NO_INSTITUTION), P8 BCG claimed again (R_ALREADY_PAID)
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select

from sesshu.actor import Actor
from sesshu.billing.imports import import_bank_accounts, import_tax_status
from sesshu.billing.subsidy import decide_by_matching
from sesshu.ledger.models import Institution, VaccinationRecord
from sesshu.ledger.service import evaluate_pending, import_records
from sesshu.registry.service import import_registry
from tests.helpers import RECORD_HEADER, REGISTRY_HEADER, write

ACTOR = Actor(login_id="billing-test", kind="os", role="operator")
C1, C2 = "1110200001", "1110200002"
OCT, NOV = "2026-10", "2026-11"
TRANSFER = date(2026, 12, 25)

PERSONS = {  # atena: (name, kana, sex, birth, household)
    "2001": ("山田　一郎", "ヤマダ　イチロウ", "男", "2025-06-10", "8001"),
    "2002": ("佐藤　花子", "サトウ　ハナコ", "女", "2026-04-15", "8002"),
    "2003": ("鈴木　三郎", "スズキ　サブロウ", "男", "1950-05-01", "8003"),
    "2004": ("高橋　四郎", "タカハシ　シロウ", "男", "1955-03-03", "8004"),
    "2014": ("高橋　和子", "タカハシ　カズコ", "女", "1957-07-07", "8004"),
    "2005": ("田中　五月", "タナカ　サツキ", "女", "2023-05-10", "8005"),
    "2006": ("伊藤　六太", "イトウ　ロクタ", "男", "2025-01-05", "8006"),
    "2007": ("渡辺　七海", "ワタナベ　ナナミ", "女", "2026-03-01", "8007"),
    "2008": ("中村　八雲", "ナカムラ　ヤクモ", "男", "2026-03-20", "8008"),
    "2009": ("小林　九", "コバヤシ　キュウ", "男", "2026-05-01", "8009"),
}

# 宛名番号, 接種種別, 期, 回数, 接種区分, 接種年月日, 予診区分, 接種医療機関コード, 請求月
OCT_RECORDS = [
    ("2008", "BCG", "", "1", "定期A類", "2026-09-15", "接種", C1, OCT),
    ("2009", "PCV", "初回", "1", "定期A類", "2026-07-05", "接種", C1, OCT),
]
NOV_RECORDS = [
    ("2001", "MR", "1期", "1", "定期A類", "令和8年10月5日", "接種", C1, NOV),
    ("2002", "HIB", "初回", "1", "定期A類", "2026-06-20", "接種", C1, NOV),
    ("2002", "HIB", "初回", "2", "定期A類", "2026-07-01", "接種", C1, NOV),  # 11 days after dose 1
    ("2003", "FLU_ELDER", "", "1", "定期B類", "2026-10-20", "接種", C2, NOV),
    ("2004", "FLU_ELDER", "", "1", "定期B類", "2026-10-21", "接種", C2, NOV),  # copay exempt
    ("2005", "MR", "1期", "1", "定期A類", "2026-10-05", "接種", C1, NOV),  # 3 years old: over age (born after the 1期 特例 cohort of FY2024)
    ("2006", "VAR", "", "1", "定期A類", "2026-10-07", "接種", "", NOV),  # no clinic on the form
    ("2007", "DPTIPVHIB", "1期初回", "1", "定期A類", "2026-10-10", "予診のみ", C1, NOV),
]

ACCOUNTS = ("医療機関コード,銀行コード,銀行名,支店コード,支店名,預金種目,口座番号,口座名義カナ\n"
            f"{C1},0009,ミツイスミトモ,038,クマガヤ,普通,1234567,医療法人社団やまだこどもクリニック\n"
            f"{C2},２１６７,サイタマシンクミ,００１,ホンテン,当座,７６５４３,スズキ　ナイカ\n")
TAX = ("年度,宛名番号,世帯番号,課税区分,生活保護\n"
       "令和8年度,2004,8004,非課税,無\n"
       "R8,2014,8004,非課税,\n"
       "2026,2003,8003,課税,無\n")


@dataclass
class City:
    records: dict[str, int]  # "atena:vaccine:dose" → record id


def _csv(rows) -> str:
    cols = RECORD_HEADER.split(",")
    out = [RECORD_HEADER]
    for atena, vaccine, term, dose, cat, on, screening, inst, month in rows:
        values = dict.fromkeys(cols, "")
        values.update({"宛名番号": atena, "接種種別": vaccine, "期": term, "回数": dose, "接種区分": cat,
                       "接種年月日": on, "予診区分": screening, "接種医療機関コード": inst, "請求月": month})
        out.append(",".join(values[c] for c in cols))
    return "\n".join(out) + "\n"


def record_ids(db) -> dict[str, int]:
    with db.transaction() as s:
        return {f"{r.atena_no}:{r.vaccine_code}:{r.dose_no}": r.id for r in s.execute(select(VaccinationRecord)).scalars()}


def build_city(db, settings, tmp: Path) -> City:
    rows = [f"{a},,{n},{k},{sex},{b},360-0001,熊谷市宮町一丁目{i}番地,,{h},世帯員,,住民,,"
            for i, (a, (n, k, sex, b, h)) in enumerate(PERSONS.items(), start=1)]
    assert import_registry(db, settings, path=write(tmp / "registry.csv", REGISTRY_HEADER + "\n" + "\n".join(rows) + "\n"),
                           actor=ACTOR).accepted == len(PERSONS)
    with db.transaction() as s:
        s.add(Institution(code=C1, name="やまだこどもクリニック", address="熊谷市宮町一丁目1番地", active=True))
        s.add(Institution(code=C2, name="鈴木内科", address="熊谷市筑波二丁目2番地", active=True))
    assert import_bank_accounts(db, actor=ACTOR, path=write(tmp / "accounts.csv", ACCOUNTS)).accepted == 2
    for name, rows in (("oct.csv", OCT_RECORDS), ("nov.csv", NOV_RECORDS)):
        summary = import_records(db, settings, path=write(tmp / name, _csv(rows), "cp932"), actor=ACTOR)
        assert summary.accepted == len(rows), summary
    evaluate_pending(db, actor=ACTOR)
    assert import_tax_status(db, actor=ACTOR, path=write(tmp / "tax.csv", TAX, "cp932")).accepted == 3
    assert decide_by_matching(db, actor=ACTOR, atena_no="2004", fiscal_year=2026).outcome == "exempt"
    assert decide_by_matching(db, actor=ACTOR, atena_no="2003", fiscal_year=2026).outcome == "not_exempt"
    return City(records=record_ids(db))
