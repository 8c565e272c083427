"""Generate the golden fixture of the schedule engine (golden_schedule.json.xz).

The committed fixture was written by the engine before the performance work (2026-11-26);
regenerate it only for an intended change of the engine's answers, after reviewing the
differences: ``.venv/bin/python -m tests.unit.schedule.golden_gen`` writes it from the CURRENT
engine; test_golden.py then asserts the engine reproduces every output exactly.  The
fixture stores inputs and outputs, so changing this generator does not change the test until
the fixture is rewritten.  Persons are randomised with a fixed seed but realistic: age-based
schedules with jitter (so intervals, windows, skips and paths are exercised), missed and
duplicated doses, noise doses of every code (and unknown codes), doses before birth and after
as_of, product names (matching, mismatched, unknown), edge birth dates (month ends, 2/29,
4/1, 4/2), several as_of dates, both sexes and conditions.  A small part uses the pandemic rules.
"""

from __future__ import annotations

import json
import lzma
import random
from datetime import date, timedelta
from pathlib import Path

FIXTURE = Path(__file__).with_name("golden_schedule.json.xz")
SEED = 20261126
N_DEFAULT = 3000
N_PANDEMIC = 200

CODES = ("HIB", "PCV", "HEPB", "ROTA1", "ROTA5", "DPTIPVHIB", "DPTIPV", "DPT", "IPV", "BCG", "MR",
         "MEASLES", "RUBELLA", "VAR", "JE", "DT", "HPV2", "HPV4", "HPV9", "FLU_ELDER", "PPSV23",
         "COVID", "ZOSTER_LIVE", "ZOSTER_RZV")
PRODUCTS = {
    "HIB": ["アクトヒブ", "ActHIB"], "PCV": ["プレベナー13", "プレベナー20", "PCV15", "バクニュバンス"],
    "HEPB": ["ビームゲン", "ヘプタバックス-II"], "ROTA1": ["ロタリックス"], "ROTA5": ["ロタテック", "RotaTeq"],
    "DPTIPVHIB": ["ゴービック", "クイントバック"], "DPTIPV": ["テトラビック", "スクエアキッズ"],
    "DPT": ["トリビック"], "IPV": ["イモバックスポリオ", "IMOVAX POLIO"], "BCG": ["乾燥BCGワクチン（経皮用）"],
    "MR": ["ミールビック", "はしか風しん混合生ワクチン"], "MEASLES": ["はしか生ワクチン"],
    "RUBELLA": ["乾燥弱毒生風しんワクチン"], "VAR": ["乾燥弱毒生水痘ワクチン「ビケン」"],
    "JE": ["ジェービックV", "エンセバック"], "HPV2": ["サーバリックス"], "HPV4": ["ガーダシル", "Gardasil"],
    "HPV9": ["シルガード9", "Gardasil 9", "silgard-9"], "PPSV23": ["ニューモバックスNP", "Pneumovax"],
    "ZOSTER_LIVE": ["乾燥弱毒生水痘ワクチン「ビケン」"], "ZOSTER_RZV": ["シングリックス", "Shingrix"],
}
AS_OFS = (date(2026, 11, 1), date(2025, 3, 31), date(2024, 4, 1), date(2026, 1, 31),
          date(2025, 10, 1), date(2023, 4, 2), date(2029, 2, 28))


def _clamp(y, m, d):
    while True:
        try:
            return date(y, m, d)
        except ValueError:
            d -= 1


def _months(b: date, n: int, extra: int = 0) -> date:
    k = b.year * 12 + b.month - 1 + n
    return _clamp(k // 12, k % 12 + 1, b.day) + timedelta(days=extra)


def _birth(rng: random.Random, as_of: date) -> date:
    r = rng.random()
    if r < 0.45:
        age_days = rng.randint(0, 15 * 366)
    elif r < 0.55:
        age_days = rng.randint(15 * 365, 30 * 365)
    elif r < 0.68:
        age_days = rng.randint(30 * 365, 60 * 365)
    else:
        age_days = rng.randint(60 * 365, 100 * 365)
    b = as_of - timedelta(days=age_days)
    if rng.random() < 0.2:  # edge dates
        kind = rng.randrange(5)
        if kind == 0:
            b = _clamp(b.year, b.month, 31)
        elif kind == 1:
            b = date(b.year, 4, rng.choice((1, 2)))
        elif kind == 2:
            y = b.year - b.year % 4
            b = date(y if y % 100 or y % 400 == 0 else y - 4, 2, 29)
        elif kind == 3:
            b = date(b.year, 3, 31)
        else:
            b = date(b.year, b.month, 1)
    if rng.random() < 0.01:
        b = as_of + timedelta(days=rng.randint(1, 60))  # born after as_of
    return b


def _jit(rng: random.Random, d: date) -> date:
    r = rng.random()
    if r < 0.55:
        return d + timedelta(days=rng.randint(0, 20))
    if r < 0.85:
        return d + timedelta(days=rng.randint(-10, 60))
    return d + timedelta(days=rng.randint(-120, 400))


def _child(rng, b: date, sex: str) -> list[tuple[str, date]]:
    out = []
    five = b >= date(2024, 1, 1) and rng.random() < 0.85
    old = b < date(2012, 6, 1) and rng.random() < 0.7
    sched = [("HIB", [2, 3, 4, 13]), ("PCV", [2, 3, 4, 13]), ("HEPB", [2, 3, 8]), ("BCG", [5]),
             ("MR", [12]), ("VAR", [12, 19]), ("JE", [36, 37, 48, 110]), ("DT", [134])]
    if rng.random() < 0.15:  # late starters
        sched[0] = ("HIB", [rng.choice((8, 10, 15, 30)), 20])
        sched[1] = ("PCV", [rng.choice((8, 13, 26, 40)), 20, 30])
    if five:
        sched.append(("DPTIPVHIB", [2, 3, 4, 13]))
        sched = [s for s in sched if s[0] != "HIB"] if rng.random() < 0.9 else sched
    elif old:
        sched += [("DPT", [3, 4, 5, 17]), ("IPV", [3, 4, 5, 17])]
    else:
        sched.append(("DPTIPV", [2, 3, 4, 13]))
    if rng.random() < 0.5:
        sched.append(("ROTA1", [2, 3]))
    else:
        sched.append(("ROTA5", [2, 3, 4]))
    if rng.random() < 0.05:
        sched.append(("MEASLES", [12]))
        sched.append(("RUBELLA", [12]))
    for code, months in sched:
        for m in months:
            if rng.random() < 0.08:
                continue  # missed
            d = _jit(rng, _months(b, m))
            out.append((code, d))
            if rng.random() < 0.01:
                out.append((code, d + timedelta(days=rng.randint(0, 10))))
    # MR 2期: the year before school
    r6 = _months(b, 72) - timedelta(days=1)
    entry = date(r6.year + 1 if (r6.month, r6.day) >= (4, 1) else r6.year, 4, 1)
    if rng.random() < 0.9:
        out.append(("MR", _jit(rng, date(entry.year - 1, 4, 1) + timedelta(days=rng.randint(0, 200)))))
    if sex == "F" or rng.random() < 0.05:
        kind = rng.choice(("HPV2", "HPV4", "HPV9", "HPV9", "HPV9"))
        start = _months(b, rng.choice((144, 150, 160, 170, 185)))
        if b.year in range(1997, 2009) and rng.random() < 0.6:
            start = date(rng.choice((2022, 2023, 2024, 2025)), rng.randint(1, 12), rng.randint(1, 28))
        gaps = [0, 1, 6] if kind != "HPV9" or rng.random() < 0.5 else [0, 6]
        if kind == "HPV2":
            gaps = [0, 1, 6]
        elif kind == "HPV4" and rng.random() < 0.5:
            gaps = [0, 2, 6]
        for g in gaps:
            if rng.random() < 0.9:
                code = kind if rng.random() < 0.95 else rng.choice(("HPV2", "HPV4", "HPV9"))
                out.append((code, _jit(rng, _months(start, g))))
    return out


def _elder(rng, b: date, as_of: date) -> list[tuple[str, date]]:
    out = []
    eager = rng.random()
    for fy in range(max(2010, b.year + 58), as_of.year + 1):
        if rng.random() < eager:
            out.append(("FLU_ELDER", date(fy, rng.choice((9, 10, 10, 11, 11, 12, 1 + 11 * 0)),
                                          rng.randint(1, 28)) if rng.random() < 0.95
                        else date(fy + 1, rng.choice((1, 2, 3)), rng.randint(1, 28))))
    for fy in range(2021, as_of.year + 1):
        if rng.random() < eager * 0.8:
            out.append(("COVID", date(fy, rng.choice((5, 10, 11, 12)), rng.randint(1, 28))))
    if rng.random() < 0.4:
        out.append(("PPSV23", _jit(rng, _months(b, 65 * 12 + rng.randint(0, 24)))))
        if rng.random() < 0.1:
            out.append(("PPSV23", _jit(rng, _months(b, 71 * 12))))
    if rng.random() < 0.3:
        if rng.random() < 0.5:
            out.append(("ZOSTER_LIVE", date(2025, rng.randint(1, 12), rng.randint(1, 28))))
        else:
            d = date(rng.choice((2024, 2025, 2026)), rng.randint(1, 12), rng.randint(1, 28))
            out += [("ZOSTER_RZV", d), ("ZOSTER_RZV", _jit(rng, _months(d, 2)))]
    return out


def _noise(rng, b: date, as_of: date, codes) -> list[tuple[str, date]]:
    out = []
    for _ in range(rng.choice((0, 0, 0, 1, 1, 2, 4))):
        code = rng.choice(codes) if rng.random() < 0.97 else rng.choice(("XYZ", "hib", "FLU"))
        lo, hi = b - timedelta(days=30), as_of + timedelta(days=30)
        if hi < lo:
            lo, hi = hi, lo
        out.append((code, lo + timedelta(days=rng.randint(0, (hi - lo).days))))
    return out


def person(rng: random.Random, codes=CODES, conditions=("designated_disability",)) -> dict:
    as_of = rng.choice(AS_OFS) if rng.random() < 0.8 else \
        date(2020, 1, 1) + timedelta(days=rng.randint(0, 3650))
    b = _birth(rng, as_of)
    sex = rng.choice("MF")
    age = (as_of - b).days / 365.25
    doses = []
    if age < 25:
        doses += _child(rng, b, sex)
    if age > 55:
        doses += _elder(rng, b, as_of)
    doses += _noise(rng, b, as_of, codes)
    doses = [(c, d) for c, d in doses if d <= as_of or rng.random() < 0.1]
    if rng.random() < 0.5:
        rng.shuffle(doses)
    else:
        doses.sort(key=lambda x: x[1])
    out = []
    for c, d in doses:
        x = {"vaccine": c, "date": d.isoformat()}
        r = rng.random()
        if r < 0.1 and c in PRODUCTS:
            x["product"] = rng.choice(PRODUCTS[c])
        elif r < 0.12:
            x["product"] = rng.choice(PRODUCTS[rng.choice(list(PRODUCTS))])
        elif r < 0.125:
            x["product"] = "不明な製剤"
        elif r < 0.13:
            x["product"] = ""
        out.append(x)
    p = {"birth_date": b.isoformat(), "sex": sex, "as_of": as_of.isoformat(), "doses": out}
    if rng.random() < 0.12:
        p["conditions"] = list(rng.sample(conditions, rng.randint(1, len(conditions))))
    return p


def cases() -> list[dict]:
    """The inputs: {"rules": "default"|"pandemic", "payload": …}."""
    rng = random.Random(SEED)
    out = [{"rules": "default", "payload": person(rng)} for _ in range(N_DEFAULT)]
    pand_codes = CODES + ("PANDEMIC_EXAMPLE",) * 6
    conds = ("designated_disability", "medical_high_risk", "healthcare_worker")
    for _ in range(N_PANDEMIC):
        p = person(rng, pand_codes, conds)
        p["as_of"] = rng.choice(("2028-03-01", "2027-12-15", "2028-10-01", "2029-01-01"))
        for _k in range(rng.choice((0, 1, 2, 2, 3))):
            p["doses"].append({"vaccine": "PANDEMIC_EXAMPLE", "date": (
                date(2027, 10, 1) + timedelta(days=rng.randint(0, 400))).isoformat()})
        out.append({"rules": "pandemic", "payload": p})
    return out


def rulesets():
    from sesshu.domain.schedule import PANDEMIC_DIR, load_rules
    return {"default": load_rules(), "pandemic": load_rules([PANDEMIC_DIR / "example.yaml"])}


def main() -> None:
    from sesshu.domain.schedule import evaluate, evaluate_json
    from sesshu.domain.schedule.contract import parse_payload
    rs = rulesets()
    data = []
    for c in cases():
        c["output"] = evaluate_json(c["payload"], rs[c["rules"]])
        # DoseResult.series is Python-API only (not in the JSON contract): keep it too.
        ev = evaluate(*parse_payload(c["payload"]), rs[c["rules"]])
        c["series"] = [list(r.series) for r in ev.doses]
        data.append(c)
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    FIXTURE.write_bytes(lzma.compress(raw.encode("utf-8"), preset=9 | lzma.PRESET_EXTREME))
    print(f"{len(data)} cases, {len(raw):,} bytes JSON, {FIXTURE.stat().st_size:,} bytes xz "
          f"-> {FIXTURE}")


if __name__ == "__main__":
    main()
