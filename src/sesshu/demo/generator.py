"""Synthetic demo city: households, residents and vaccination histories for 埼玉県熊谷市.

Everything is drawn from one seeded ``random.Random`` (names from Faker ja_JP's name tables), so a
given seed always gives the same city. Nothing here touches the database: rows come out as dicts
whose keys are the column names of ``person`` and ``vaccination_record`` (persons carry their
個人番号 in clear under ``my_number``; the service encrypts it).

Histories follow the schedule of DOMAIN.md and stay inside the legal windows with margins, so a
correct schedule engine finds them valid; about one child in ten misses part of a series. Every
person is generated independently of the others' records, household by household, so a city of
any size streams in flat memory.
"""
from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Iterator

import jpholiday
from faker import Faker

from sesshu.domain.jdates import (
    after_days_interval,
    after_months_interval,
    fiscal_year,
    hpv_window,
    mr2_window,
    reach_age,
    reach_months,
    reach_weeks_days,
)
from sesshu.domain.my_number import check_digit
from sesshu.domain.text import clean_name, kana_key
from sesshu.registry.rows import normalize_kana

CITY = "埼玉県熊谷市"

# 2020 国勢調査 (Japan), population by 5-year age group in thousands: 0–4, 5–9, …, 95–99, 100+.
CENSUS_2020_5Y = (
    4541, 5114, 5376, 5706, 6320, 6384, 6714, 7498, 8476, 9868,
    8799, 7926, 7395, 8216, 9157, 7000, 5290, 3720, 1800, 540, 80,
)
MAX_AGE = 100

# (町名, highest 丁目 or 0 for 大字 with 番地, postal code, relative size). Postal codes are
# illustrative: real-looking 360-xxxx codes, not checked against Japan Post's table.
TOWNS = (
    ("筑波", 3, "360-0037", 8), ("宮町", 2, "360-0041", 5), ("本町", 2, "360-0042", 4),
    ("仲町", 0, "360-0046", 2), ("弥生", 2, "360-0044", 4), ("末広", 4, "360-0031", 6),
    ("銀座", 6, "360-0032", 6), ("桜木町", 2, "360-0033", 5), ("石原", 3, "360-0816", 6),
    ("曙町", 5, "360-0812", 5), ("箱田", 7, "360-0014", 7), ("肥塚", 4, "360-0017", 5),
    ("上之", 0, "360-0012", 6), ("久下", 0, "360-0004", 4), ("佐谷田", 0, "360-0023", 4),
    ("河原町", 2, "360-0043", 3), ("万平町", 2, "360-0036", 3), ("新堀", 0, "360-0843", 3),
    ("籠原南", 3, "360-0845", 8), ("籠原中央", 2, "360-0846", 3), ("美土里町", 3, "360-0844", 3),
    ("三ケ尻", 0, "360-0843", 5), ("玉井", 0, "360-0851", 4), ("別府", 5, "360-0856", 5),
    ("西別府", 0, "360-0855", 2), ("柿沼", 0, "360-0856", 2), ("拾六間", 0, "360-0847", 2),
    ("妻沼", 0, "360-0201", 5), ("妻沼東", 2, "360-0204", 2), ("弥藤吾", 0, "360-0212", 1),
    ("葛和田", 0, "360-0225", 1), ("江波", 0, "360-0232", 1), ("津田", 0, "360-0101", 2),
    ("大里", 0, "360-0102", 2), ("玉作", 0, "360-0105", 1), ("押切", 0, "360-0111", 2),
    ("千代", 0, "360-0113", 2), ("小江川", 0, "360-0103", 1),
)
ELSEWHERE = ("埼玉県深谷市上柴町西", "埼玉県行田市持田", "埼玉県鴻巣市本町", "群馬県太田市飯田町",
             "東京都板橋区高島平", "埼玉県さいたま市大宮区桜木町")
BUILDINGS = ("ハイツ", "コーポ", "メゾン", "レジデンス", "グランコート", "アーバン")

# Real manufacturers of the vaccines given in Japan; codes are ours.
MANUFACTURERS = (
    ("BIKEN", "一般財団法人阪大微生物病研究会"), ("KMB", "KMバイオロジクス株式会社"),
    ("DAIICHI", "第一三共株式会社"), ("TAKEDA", "武田薬品工業株式会社"), ("MSD", "MSD株式会社"),
    ("PFIZER", "ファイザー株式会社"), ("GSK", "グラクソ・スミスクライン株式会社"), ("SANOFI", "サノフィ株式会社"),
    ("JBCG", "日本ビーシージー製造株式会社"), ("DENKA", "デンカ株式会社"), ("MODERNA", "モデルナ・ジャパン株式会社"),
    ("MEIJI", "Meiji Seika ファルマ株式会社"),
)


@dataclass(frozen=True)
class ProductSpec:
    code: str
    vaccine_code: str
    name: str  # the product (brand) name, as 初回ワクチン区分 and the schedule rules name it
    manufacturer_code: str
    lot_prefix: str
    volume_ml: Decimal | None
    from_date: date
    to_date: date = date(2099, 12, 31)


P = ProductSpec
PRODUCTS = (
    P("HIB", "HIB", "アクトヒブ", "SANOFI", "HB", Decimal("0.5"), date(2008, 12, 1)),
    P("PCV13", "PCV", "プレベナー13", "PFIZER", "PC", Decimal("0.5"), date(2013, 11, 1), date(2024, 3, 31)),
    P("PCV15", "PCV", "バクニュバンス", "MSD", "PV", Decimal("0.5"), date(2024, 4, 1), date(2024, 9, 30)),
    P("PCV20", "PCV", "プレベナー20", "PFIZER", "PT", Decimal("0.5"), date(2024, 10, 1)),
    P("HEPB_MSD", "HEPB", "ヘプタバックス-II", "MSD", "HM", Decimal("0.25"), date(2016, 4, 1)),
    P("HEPB_KMB", "HEPB", "ビームゲン", "KMB", "HK", Decimal("0.25"), date(2016, 4, 1)),
    P("ROTA1", "ROTA1", "ロタリックス", "GSK", "RX", Decimal("1.5"), date(2011, 11, 1)),
    P("ROTA5", "ROTA5", "ロタテック", "MSD", "RT", Decimal("2.0"), date(2012, 7, 1)),
    P("DPT_BIKEN", "DPT", "トリビック", "BIKEN", "TB", Decimal("0.5"), date(2000, 1, 1)),
    P("DPTIPV_BIKEN", "DPTIPV", "テトラビック", "BIKEN", "4B", Decimal("0.5"), date(2012, 11, 1)),
    P("DPTIPV_KMB", "DPTIPV", "クアトロバック", "KMB", "4K", Decimal("0.5"), date(2012, 11, 1)),
    P("DPTIPVHIB_BIKEN", "DPTIPVHIB", "ゴービック", "BIKEN", "5B",
      Decimal("0.5"), date(2024, 4, 1)),
    P("DPTIPVHIB_KMB", "DPTIPVHIB", "クイントバック", "KMB", "5K",
      Decimal("0.5"), date(2024, 4, 1)),
    P("BCG", "BCG", "乾燥BCGワクチン（経皮用）", "JBCG", "BG", None, date(2000, 1, 1)),
    P("MR_TAKEDA", "MR", "ミールビック", "TAKEDA", "MT", Decimal("0.5"), date(2006, 4, 1)),
    P("MR_BIKEN", "MR", "はしか風しん混合生ワクチン", "BIKEN", "MB", Decimal("0.5"), date(2006, 4, 1)),
    P("VAR", "VAR", "乾燥弱毒生水痘ワクチン「ビケン」", "BIKEN", "VB", Decimal("0.5"), date(2000, 1, 1)),
    P("JE_BIKEN", "JE", "ジェービックV", "BIKEN", "JB", Decimal("0.5"), date(2009, 6, 1)),
    P("JE_KMB", "JE", "エンセバック", "KMB", "JK", Decimal("0.5"), date(2011, 4, 1)),
    P("DT", "DT", "DTビック", "BIKEN", "DB", Decimal("0.1"), date(2000, 1, 1)),
    P("HPV2", "HPV2", "サーバリックス", "GSK", "CV", Decimal("0.5"), date(2013, 4, 1)),
    P("HPV4", "HPV4", "ガーダシル", "MSD", "GD", Decimal("0.5"), date(2013, 4, 1)),
    P("HPV9", "HPV9", "シルガード9", "MSD", "SG", Decimal("0.5"), date(2023, 4, 1)),
    P("FLU_BIKEN", "FLU_ELDER", "インフルエンザHAワクチン「ビケンHA」", "BIKEN", "FB", Decimal("0.5"), date(2000, 1, 1)),
    P("FLU_KMB", "FLU_ELDER", "インフルエンザHAワクチン「KMB」", "KMB", "FK", Decimal("0.5"), date(2000, 1, 1)),
    P("FLU_DENKA", "FLU_ELDER", "インフルエンザHAワクチン「生研」", "DENKA", "FD", Decimal("0.5"), date(2000, 1, 1)),
    P("FLU_DAIICHI", "FLU_ELDER", "インフルエンザHAワクチン「第一三共」", "DAIICHI", "FS", Decimal("0.5"), date(2000, 1, 1)),
    P("PPSV23", "PPSV23", "ニューモバックスNP", "MSD", "NP", Decimal("0.5"), date(2000, 1, 1)),
    P("PCV20_ELDER", "PCV20_ELDER", "プレベナー20", "PFIZER", "PE", Decimal("0.5"), date(2026, 4, 1)),
    P("COVID_PFIZER", "COVID", "コミナティ", "PFIZER", "CP", Decimal("0.3"), date(2021, 2, 1)),
    P("COVID_MODERNA", "COVID", "スパイクバックス", "MODERNA", "CM", Decimal("0.5"), date(2021, 5, 1)),
    P("COVID_DAIICHI", "COVID", "ダイチロナ", "DAIICHI", "CD", Decimal("0.6"), date(2023, 12, 1)),
    P("COVID_MEIJI", "COVID", "コスタイベ", "MEIJI", "CR", Decimal("0.5"),
      date(2024, 10, 1)),
)
_PRODUCTS_BY_VACCINE: dict[str, tuple[ProductSpec, ...]] = {}
for _p in PRODUCTS:
    _PRODUCTS_BY_VACCINE[_p.vaccine_code] = _PRODUCTS_BY_VACCINE.get(_p.vaccine_code, ()) + (_p,)
PRODUCTS_BY_CODE = {p.code: p for p in PRODUCTS}

# When each series became 定期 (so older children have none of it on the ledger).
ROUTINE_FROM = {
    "HIB": date(2013, 4, 1), "PCV": date(2013, 4, 1), "HEPB_BORN": date(2016, 4, 1),
    "ROTA_BORN": date(2020, 8, 1), "VAR": date(2014, 10, 1), "DPTIPV": date(2012, 11, 1),
    "DPTIPVHIB": date(2024, 4, 1), "HPV_RESUMED": date(2022, 4, 1), "HPV9": date(2023, 4, 1),
    "COVID_B": date(2024, 10, 1),
}
CHILD_MAX_AGE = 17  # the ledger keeps children's histories; adults' only B類 doses
ELDER_HISTORY_YEARS = 5  # B類 doses of the last five fiscal years (the retention period)
PRE_MOVE_IN_REMARK = "転入前の接種（母子健康手帳により登録）"

INSTITUTION_KINDS = (
    # (kind, how many, name patterns, treats children, treats adults)
    ("peds", 10, ("{town}こどもクリニック", "{surname}小児科医院", "{town}小児科", "こども診療所{town}"), True, False),
    ("mixed", 12, ("{surname}内科小児科", "{town}ファミリークリニック", "{surname}医院", "{town}診療所"), True, True),
    ("internal", 15, ("{surname}内科クリニック", "{town}内科", "{surname}内科医院", "{town}駅前内科"), False, True),
    ("hospital", 3, ("熊谷{town}病院", "{town}記念病院", "{surname}総合病院"), True, True),
)


@dataclass
class DemoMasters:
    institutions: list[dict]
    doctors: list[dict]
    venues: list[dict]
    manufacturers: list[dict]
    products: list[dict]
    child_clinics: list[int] = field(default_factory=list)  # indexes into institutions
    adult_clinics: list[int] = field(default_factory=list)
    doctors_of: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class DemoHousehold:
    household_no: str  # "" for a 住登外 person, who has no household in the registry
    persons: list[dict]
    records: list[dict]


class _Names:
    """Faker ja_JP's name tables with their weights, sampled with our own Random (fast, seeded)."""

    def __init__(self, fake: Faker):
        provider = next(p for p in fake.get_providers() if hasattr(p, "last_name_pairs"))
        last = provider.last_name_pairs
        self.last = list(last)
        self.last_cum = list(itertools.accumulate(last.values())) if isinstance(last, dict) else None
        self.male = list(provider.first_name_male_pairs)
        self.female = list(provider.first_name_female_pairs)

    def surname(self, rng: random.Random) -> tuple[str, str]:
        if self.last_cum:
            pair = self.last[bisect.bisect(self.last_cum, rng.random() * self.last_cum[-1])]
        else:
            pair = rng.choice(self.last)
        return pair[0], pair[1]

    def given(self, rng: random.Random, sex: str) -> tuple[str, str]:
        pair = rng.choice(self.male if sex == "M" else self.female)
        return pair[0], pair[1]


class _Ages:
    """Single-year ages drawn from the 2020 census pyramid, optionally within [lo, hi]."""

    def __init__(self):
        self.weights = [CENSUS_2020_5Y[min(a // 5, len(CENSUS_2020_5Y) - 1)] / (5 if a < 100 else 1)
                        for a in range(MAX_AGE + 1)]
        self._cum: dict[tuple[int, int], list[float]] = {}

    def draw(self, rng: random.Random, lo: int = 0, hi: int = MAX_AGE) -> int:
        cum = self._cum.get((lo, hi))
        if cum is None:
            cum = self._cum[(lo, hi)] = list(itertools.accumulate(self.weights[lo:hi + 1]))
        return lo + bisect.bisect(cum, rng.random() * cum[-1])


def make_faker(seed: int) -> Faker:
    fake = Faker("ja_JP")
    fake.seed_instance(seed)
    return fake


def my_number_for(index: int, salt: int) -> str:
    """A unique valid 個人番号 per index: an affine bijection of the 11-digit space plus check digit."""
    base = (index * 7_919_336_471 + salt) % 100_000_000_000
    base11 = f"{base:011d}"
    return base11 + str(check_digit(base11))


def generate_masters(seed: int) -> DemoMasters:
    rng = random.Random(f"sesshu-demo-masters-{seed}")
    fake = make_faker(seed)
    names = _Names(fake)
    institutions, doctors, venues = [], [], []
    child, adult, doctors_of = [], [], {}
    n = 0
    used_names: set[str] = set()
    for kind, count, patterns, children, adults in INSTITUTION_KINDS:
        for _ in range(count):
            n += 1
            town, chome, postal, _w = rng.choice(TOWNS)
            while True:
                surname = names.surname(rng)[0]
                pattern = rng.choice(patterns)
                name = pattern.format(town=town, surname=surname)
                if name not in used_names:
                    used_names.add(name)
                    break
                town = rng.choice(TOWNS)[0]
            code = f"111020{n:04d}"
            institutions.append(dict(code=code, name=name, name_kana="", address=_address(rng, town, chome),
                                     phone=f"048-5{rng.randint(20, 99):02d}-{rng.randint(0, 9999):04d}", active=True))
            venues.append(dict(code=f"V{code}", name=name, active=True))
            doctor_codes = []
            for k in range(1, (3 if kind == "hospital" else rng.choice((1, 1, 2))) + 1):
                sex = "M" if rng.random() < 0.7 else "F"
                last = surname if k == 1 and "{surname}" in pattern else names.surname(rng)[0]
                doctor_codes.append(f"{code}{k:02d}")
                doctors.append(dict(code=doctor_codes[-1], name=clean_name(f"{last} {names.given(rng, sex)[0]}"),
                                    institution_code=code, active=True))
            doctors_of[code] = doctor_codes
            if children:
                child.append(len(institutions) - 1)
            if adults:
                adult.append(len(institutions) - 1)
    return DemoMasters(
        institutions=institutions, doctors=doctors, venues=venues,
        manufacturers=[dict(code=c, name=nm) for c, nm in MANUFACTURERS],
        products=[dict(code=p.code, vaccine_code=p.vaccine_code, name=p.name, manufacturer_code=p.manufacturer_code)
                  for p in PRODUCTS],
        child_clinics=child, adult_clinics=adult, doctors_of=doctors_of,
    )


def _address(rng: random.Random, town: str, chome: int) -> str:
    if chome:
        return f"{CITY}{town}{rng.randint(1, chome)}丁目{rng.randint(1, 30)}番{rng.randint(1, 25)}号"
    return f"{CITY}{town}{rng.randint(1, 3500)}番地{rng.randint(1, 20)}" if rng.random() < 0.6 \
        else f"{CITY}{town}{rng.randint(1, 3500)}番地"


def lot_no(product: ProductSpec, on: date, k: int) -> str:
    """Lot numbers change every half year; three lots of a product are in use at a time."""
    block = (on.year - 2000) * 2 + (on.month > 6)
    return f"{product.lot_prefix}{block:03d}{'ABC'[k]}"


def lot_expiry(lot: str, product: ProductSpec) -> date:
    block = int(lot[len(product.lot_prefix):-1])
    return date(2000 + block // 2 + 2, 7 if block % 2 else 1, 1)


@lru_cache(maxsize=None)
def _closed_days(year: int) -> frozenset[date]:
    holidays = {d for d, _ in jpholiday.year_holidays(year)}
    return frozenset(holidays | {date(year, 12, 31), date(year, 1, 2), date(year, 1, 3)})


@lru_cache(maxsize=None)
def clinic_day(d: date) -> date:
    """Clinics vaccinate Monday to Saturday, not on national holidays or the New Year break."""
    while d.weekday() == 6 or d in _closed_days(d.year):
        d += timedelta(days=1)
    return d


def _birth_for_age(rng: random.Random, as_of: date, age: int) -> date:
    try:
        anniversary = as_of.replace(year=as_of.year - age)
    except ValueError:  # as_of is 2/29
        anniversary = date(as_of.year - age, 2, 28)
    return anniversary - timedelta(days=rng.randrange(365))


class CityGenerator:
    """Streams the demo city household by household. Same seed, same city."""

    def __init__(self, *, seed: int, as_of: date, masters: DemoMasters):
        self.rng = random.Random(seed)
        self.as_of = as_of
        self.masters = masters
        self.names = _Names(make_faker(seed))
        self.ages = _Ages()
        self.town_cum = list(itertools.accumulate(t[3] for t in TOWNS))
        self.salt = random.Random(f"sesshu-demo-mynumber-{seed}").randrange(100_000_000_000)
        self.person_index = 0
        self.atena_seq = 1_000_000_000 + self.rng.randrange(1_000_000)
        self.household_seq = 5_000_000_000 + self.rng.randrange(1_000_000)
        self.ticket_seq = 1_200_000_000 + self.rng.randrange(1_000_000)
        self.elder_first_fy = fiscal_year(as_of) - ELDER_HISTORY_YEARS

    # --- households and persons -------------------------------------------------------------
    def households(self, residents: int) -> Iterator[DemoHousehold]:
        made = 0
        while made < residents:
            if self.rng.random() < 0.004:
                hh = self._non_resident()
            else:
                hh = self._household(residents - made)
            made += len(hh.persons)
            yield hh

    def _household(self, room: int) -> DemoHousehold:
        rng = self.rng
        head_age = self.ages.draw(rng, 20, MAX_AGE)
        if head_age < 40 and rng.random() < 0.3:
            # Young adults more often live in their parents' household than head their own.
            head_age = self.ages.draw(rng, 40, MAX_AGE)
        members = self._members(rng.random(), head_age)[:room]
        self.household_seq += rng.randint(1, 7)
        household_no = f"{self.household_seq:010d}"
        surname, surname_kana = self.names.surname(rng)
        r = rng.random()
        town, chome, postal, _ = TOWNS[bisect.bisect(self.town_cum, r * self.town_cum[-1])]
        address = _address(rng, town, chome)
        if chome and rng.random() < 0.25:
            address += f"　{rng.choice(BUILDINGS)}{town}{rng.randint(1, 3)}0{rng.randint(1, 8)}"
        landline = f"048-5{rng.randint(20, 99):02d}-{rng.randint(0, 9999):04d}" if rng.random() < 0.6 else ""
        births = [_birth_for_age(rng, self.as_of, age) for age, _, _ in members]
        # 転入 of the whole household some time ago; children born since are 出生 in the city.
        moved_in = self.as_of - timedelta(days=rng.randint(30, 20 * 365)) if rng.random() < 0.3 else None
        moved_out = None
        if rng.random() < 0.025:
            moved_out = self.as_of - timedelta(days=rng.randint(10, 4 * 365))
            if max(births) > moved_out - timedelta(days=60) or (moved_in and moved_in >= moved_out):
                moved_out = None
        hesitant = rng.random() < 0.02
        peds = self.masters.child_clinics[rng.randrange(len(self.masters.child_clinics))]
        internal = self.masters.adult_clinics[rng.randrange(len(self.masters.adult_clinics))]
        persons, records = [], []
        householder_name = ""
        for (age, sex, relationship), birth in zip(members, births):
            given, given_kana = self.names.given(rng, sex)
            name = f"{surname}\u3000{given}"
            if not householder_name:
                householder_name = name
            phone = landline or f"0{rng.choice((7, 8, 9))}0-{rng.randint(1000, 9999)}-{rng.randint(0, 9999):04d}"
            person = self._person(name, f"{surname_kana} {given_kana}", sex, birth, postal, address,
                                  phone if age >= 15 or landline else "", household_no, relationship, householder_name)
            if moved_in and birth < moved_in:
                person.update(change_reason="転入", changed_on=moved_in, moved_in_on=moved_in)
            elif birth > self.as_of - timedelta(days=20 * 365) and (moved_in or rng.random() < 0.7):
                person.update(change_reason="出生", changed_on=birth)
            end = None
            if moved_out:
                person.update(registry_status="moved_out", change_reason="転出", changed_on=moved_out,
                              moved_out_on=moved_out)
                end = moved_out
            elif age >= 65 and rng.random() < 0.035:
                died = self.as_of - timedelta(days=rng.randint(1, 5 * 365))
                if died > reach_age(birth, 65) + timedelta(days=1):
                    person.update(registry_status="deceased", change_reason="死亡", changed_on=died, died_on=died)
                    end = died
            persons.append(person)
            if not hesitant:
                records.extend(self._history(person, end, moved_in, peds, internal))
        return DemoHousehold(household_no=household_no, persons=persons, records=records)

    def _members(self, r: float, h: int) -> list[tuple[int, str, str]]:
        """(age, sex, 続柄) of the members; the first is the 世帯主."""
        rng = self.rng
        male_head = rng.random() < 0.8
        head = (h, "M" if male_head else "F", "世帯主")
        if h < 30:
            shares = (0.55, 0.15, 0.25, 0.05, 0.0)
        elif h < 45:
            shares = (0.25, 0.10, 0.55, 0.07, 0.03)
        elif h < 60:
            shares = (0.24, 0.25, 0.38, 0.06, 0.07)
        elif h < 75:
            shares = (0.28, 0.55, 0.17, 0.0, 0.0)
        else:
            shares = (0.45, 0.50, 0.05, 0.0, 0.0)
        kind = 0
        acc = shares[0]
        while r > acc and kind < 4:
            kind += 1
            acc += shares[kind]
        if kind == 0:
            return [(h, rng.choice("MF"), "世帯主")]
        if kind == 3:  # single parent: mostly mothers
            head = (h, "F" if rng.random() < 0.85 else "M", "世帯主")
            return [head, *self._children(h)]
        spouse_age = max(18, min(MAX_AGE, h + (rng.randint(-6, 2) if male_head else rng.randint(-2, 6))))
        spouse = (spouse_age, "F" if male_head else "M", "妻" if male_head else "夫")
        members = [head, spouse]
        if kind in (2, 4):
            members += self._children(min(h, spouse_age))
        if kind == 4:
            for sex, rel in (("M", "父"), ("F", "母")):
                if rng.random() < 0.6:
                    members.append((min(MAX_AGE, h + rng.randint(24, 36)), sex, rel))
        return members

    def _children(self, parent_age: int) -> list[tuple[int, str, str]]:
        rng = self.rng
        n = rng.choices((1, 2, 3, 4), (35, 45, 17, 3))[0]
        first = parent_age - rng.randint(22, 36)
        kids = []
        for i in range(n):
            age = first - i * rng.randint(1, 4)
            if age < 0:
                break
            kids.append((age, "M" if rng.random() < 0.51 else "F", "子"))
        return kids

    def _non_resident(self) -> DemoHousehold:
        rng = self.rng
        sex = rng.choice("MF")
        surname, surname_kana = self.names.surname(rng)
        given, given_kana = self.names.given(rng, sex)
        person = self._person(f"{surname}\u3000{given}", f"{surname_kana} {given_kana}", sex,
                              _birth_for_age(rng, self.as_of, self.ages.draw(rng, 20, 90)),
                              f"3{rng.randint(60, 79)}-{rng.randint(0, 9999):04d}",
                              f"{rng.choice(ELSEWHERE)}{rng.randint(1, 5)}丁目{rng.randint(1, 30)}番{rng.randint(1, 20)}号",
                              f"090-{rng.randint(1000, 9999)}-{rng.randint(0, 9999):04d}", "", "", "")
        person["registry_status"] = "non_resident"
        return DemoHousehold(household_no="", persons=[person], records=[])

    def _person(self, name, kana, sex, birth, postal, address, phone, household_no, relationship,
                householder_name) -> dict:
        self.person_index += 1
        self.atena_seq += self.rng.randint(1, 9)
        kana = normalize_kana(kana)
        return dict(
            atena_no=f"{self.atena_seq:010d}", my_number=my_number_for(self.person_index, self.salt),
            name=name, name_key=name.replace("\u3000", ""), name_kana=kana, kana_key=kana_key(kana),
            sex=sex, birth_date=birth, postal_code=postal, address=address, phone=phone,
            household_no=household_no, relationship=relationship, householder_name=householder_name,
            registry_status="resident", change_reason="", changed_on=None, moved_in_on=None,
            moved_out_on=None, died_on=None,
        )

    # --- vaccination histories --------------------------------------------------------------
    def history_for(self, person: dict) -> list[dict]:
        """A fresh schedule-following history for a person already on file (atena_no, birth_date,
        sex), at a clinic drawn from this generator's Random."""
        m = self.masters
        return self._history(person, None, None, m.child_clinics[self.rng.randrange(len(m.child_clinics))],
                             m.adult_clinics[self.rng.randrange(len(m.adult_clinics))])

    def _history(self, person: dict, end: date | None, moved_in: date | None, peds: int, internal: int) -> list[dict]:
        birth = person["birth_date"]
        last_day = min(self.as_of, end - timedelta(days=1)) if end else self.as_of
        age = self.as_of.year - birth.year - ((self.as_of.month, self.as_of.day) < (birth.month, birth.day))
        h = _History(self, person, last_day, moved_in, peds if age <= CHILD_MAX_AGE else internal)
        if age <= CHILD_MAX_AGE:
            h.childhood()
        elif age >= 60:
            h.elderly()
        return h.records


class _History:
    """One person's doses. A dose after the last day (today, 転出, 死亡) ends its series."""

    def __init__(self, city: CityGenerator, person: dict, last_day: date, moved_in: date | None, clinic: int):
        self.city = city
        self.rng = city.rng
        self.person = person
        self.birth: date = person["birth_date"]
        self.last_day = last_day
        self.moved_in = moved_in
        inst = city.masters.institutions[clinic]
        self.institution = inst["code"]
        self.doctors = city.masters.doctors_of[self.institution]
        self.records: list[dict] = []

    # Each series: decide up front how many doses this person will get (most get all of them).
    def _planned(self, n: int, complete: float = 0.9) -> int:
        return n if self.rng.random() < complete else self.rng.randrange(n)

    def _days(self, lo: int, hi: int) -> timedelta:
        # random() rather than randint(): this runs for every dose of a million residents.
        return timedelta(days=lo + int(self.rng.random() * (hi - lo + 1)))

    def _dose(self, vaccine: str, on: date, latest: date | None, *, term: str = "", dose_no: int | None = None,
              product: ProductSpec | None = None, first_product: str = "", category: str = "routine_a",
              ticket: bool = False) -> date | None:
        """Record one dose on the next clinic day on or after ``on``; None if it cannot be given."""
        on = clinic_day(on)
        if on > self.last_day or (latest is not None and on > latest):
            return None
        rng = self.rng
        if product is None:
            product = self.pick_product(vaccine, on)
        before_move = self.moved_in is not None and on < self.moved_in
        self.records.append(dict(
            atena_no=self.person["atena_no"], vaccine_code=vaccine, term=term, dose_no=dose_no, category=category,
            vaccinated_on=on, vaccination_time=None, screening_result="vaccinated",
            institution_code=None if before_move else self.institution,
            doctor_code=None if before_move else self.doctors[int(rng.random() * len(self.doctors))],
            screening_institution_code=None, screening_doctor_code=None,
            venue_code=None if before_move else f"V{self.institution}",
            manufacturer_code=product.manufacturer_code, lot_no=lot_no(product, on, int(rng.random() * 3)),
            dose_volume_ml=product.volume_ml, billing_month="" if before_move else _next_month(on),
            first_product=first_product, dt_kind="", former_municipality="",
            ticket_no=self._ticket() if ticket and not before_move else "",
            remarks=PRE_MOVE_IN_REMARK if before_move else "",
        ))
        rec = self.records[-1]
        rec["screening_institution_code"], rec["screening_doctor_code"] = rec["institution_code"], rec["doctor_code"]
        return on

    def _ticket(self) -> str:
        self.city.ticket_seq += 1
        return f"{self.city.ticket_seq:010d}"

    def pick_product(self, vaccine: str, on: date, prefer: str = "") -> ProductSpec:
        options = [p for p in _PRODUCTS_BY_VACCINE[vaccine] if p.from_date <= on <= p.to_date]
        for p in options:
            if p.code == prefer:
                return p
        return options[int(self.rng.random() * len(options))] if options else _PRODUCTS_BY_VACCINE[vaccine][-1]

    # --- 定期A類 (children) ---------------------------------------------------------------
    def childhood(self) -> None:
        b = self.birth
        start = reach_months(b, 2) + self._days(1, 21)  # the 2-month visit starts the infant series
        self.hib_pcv(start)
        self.combined(start)
        if b >= ROUTINE_FROM["HEPB_BORN"]:
            self.hepb(start)
        if b >= ROUTINE_FROM["ROTA_BORN"]:
            self.rota(start)
        self.bcg()
        self.mr_var()
        self.je()
        if self._planned(1, 0.8):
            self._dose("DT", reach_age(b, 11) + self._days(1, 330), reach_age(b, 13), term="2期", dose_no=1)
        if self.person["sex"] == "F":
            self.hpv()

    def hib_pcv(self, start: date) -> None:
        """Started at 2 months: three primary doses ≥27 days apart; booster after 1歳 and ≥7月 (Hib) /
        ≥60 days (PCV) after the primary."""
        b = self.birth
        one = reach_age(b, 1)
        combined_hib = clinic_day(start) >= ROUTINE_FROM["DPTIPVHIB"]
        for vaccine in (("PCV",) if combined_hib else ("HIB", "PCV")):
            if start < ROUTINE_FROM[vaccine]:
                continue
            first = self.pick_product(vaccine, clinic_day(start))
            n = self._planned(4)
            prev = start
            for i in range(min(n, 3)):
                on = prev if i == 0 else prev + self._days(28, 45)
                prev = self._dose(vaccine, on, one - timedelta(days=1), term="初回", dose_no=i + 1,
                                  product=self.pick_product(vaccine, clinic_day(on), first.code),
                                  first_product=first.name)
                if prev is None:
                    return
            if n == 4:
                if vaccine == "HIB":
                    on = max(after_months_interval(prev, 7), one + timedelta(days=1)) + self._days(0, 120)
                else:
                    on = max(after_days_interval(prev, 60), one + timedelta(days=1)) + self._days(0, 120)
                self._dose(vaccine, on, reach_months(b, 60) - timedelta(days=7), term="追加", dose_no=4,
                           product=self.pick_product(vaccine, clinic_day(on), first.code), first_product=first.name)

    def combined(self, start: date) -> None:
        """四種混合 (五種混合 from 2024-04; 三種混合 before 2012-11): 3 primary 20–56 days apart, booster ≥6月."""
        b = self.birth
        on = clinic_day(start)
        vaccine = ("DPTIPVHIB" if on >= ROUTINE_FROM["DPTIPVHIB"]
                   else "DPTIPV" if on >= ROUTINE_FROM["DPTIPV"] else "DPT")
        first = self.pick_product(vaccine, on)
        latest = reach_months(b, 90) - timedelta(days=7)
        n = self._planned(4, 0.93)
        prev = start
        for i in range(min(n, 3)):
            prev = self._dose(vaccine, prev if i == 0 else prev + self._days(28, 42), latest, term="1期初回",
                              dose_no=i + 1, product=self.pick_product(vaccine, prev, first.code),
                              first_product=first.name if vaccine == "DPTIPVHIB" else "")
            if prev is None:
                return
        if n == 4:
            on = after_months_interval(prev, 6) + self._days(14, 240)
            self._dose(vaccine, on, latest, term="1期追加", dose_no=4, product=self.pick_product(vaccine, on, first.code),
                       first_product=first.name if vaccine == "DPTIPVHIB" else "")

    def hepb(self, start: date) -> None:
        """3 doses before 1歳: dose 2 ≥27 days after 1, dose 3 ≥139 days after dose 1."""
        latest = reach_age(self.birth, 1) - timedelta(days=3)
        n = self._planned(3, 0.93)
        first = self.pick_product("HEPB", clinic_day(start))
        d1 = self._dose("HEPB", start, latest, dose_no=1, product=first) if n >= 1 else None
        d2 = self._dose("HEPB", d1 + self._days(28, 40), latest, dose_no=2, product=first) if d1 and n >= 2 else None
        if d2 and n >= 3:
            self._dose("HEPB", max(after_days_interval(d1, 139), d2 + timedelta(days=7)) + self._days(0, 60), latest,
                       dose_no=3, product=first)

    def rota(self, start: date) -> None:
        """1価 (2 doses by 24週) or 5価 (3 doses by 32週), ≥27 days apart, same product throughout."""
        vaccine = "ROTA1" if self.rng.random() < 0.6 else "ROTA5"
        doses, weeks = (2, 24) if vaccine == "ROTA1" else (3, 32)
        latest = reach_weeks_days(self.birth, weeks) - timedelta(days=3)
        first = self.pick_product(vaccine, clinic_day(start))
        prev = start
        for i in range(self._planned(doses, 0.92)):
            prev = self._dose(vaccine, prev if i == 0 else prev + self._days(28, 32), latest, dose_no=i + 1,
                              product=first, first_product=first.name)
            if prev is None:
                return

    def bcg(self) -> None:
        if self._planned(1, 0.97):
            self._dose("BCG", reach_months(self.birth, 5) + self._days(1, 80),
                       reach_age(self.birth, 1) - timedelta(days=3), dose_no=1)

    def mr_var(self) -> None:
        """MR 1期 at 1歳 with 水痘 the same day or ≥27 days later; 水痘 2nd ≥6月; MR 2期 in 年長."""
        b = self.birth
        mr1 = None
        if self._planned(1, 0.95):
            mr1 = self._dose("MR", reach_age(b, 1) + self._days(1, 75), reach_months(b, 24) - timedelta(days=7),
                             term="1期", dose_no=1)
        if clinic_day(reach_age(b, 1) + timedelta(days=1)) >= ROUTINE_FROM["VAR"]:
            n = self._planned(2, 0.9)
            v1 = None
            if n >= 1:
                on = mr1 if mr1 and self.rng.random() < 0.6 else (mr1 or reach_age(b, 1)) + self._days(28, 60)
                v1 = self._dose("VAR", on, reach_months(b, 36) - timedelta(days=7), dose_no=1)
            if v1 and n >= 2:
                self._dose("VAR", after_months_interval(v1, 6) + self._days(0, 150),
                           reach_months(b, 36) - timedelta(days=7), dose_no=2)
        if mr1 and self._planned(1, 0.93):
            lo, hi = mr2_window(b)
            self._dose("MR", lo + self._days(1, 200), hi - timedelta(days=7), term="2期", dose_no=2)

    def je(self) -> None:
        """日本脳炎 1期: 2 doses 7–28 days apart at 3歳, booster about a year later; 2期 at 9歳."""
        b = self.birth
        latest = reach_months(b, 90) - timedelta(days=7)
        n = self._planned(3, 0.88)
        prev = reach_age(b, 3) + self._days(1, 150)
        for i in range(min(n, 2)):
            prev = self._dose("JE", prev if i == 0 else prev + self._days(7, 28), latest, term="1期初回", dose_no=i + 1)
            if prev is None:
                return
        if n < 3:
            return
        if self._dose("JE", after_months_interval(prev, 6) + self._days(150, 220), latest,
                      term="1期追加", dose_no=3) and self._planned(1, 0.8):
            self._dose("JE", reach_age(b, 9) + self._days(1, 500), reach_age(b, 13) - timedelta(days=7),
                       term="2期", dose_no=4)

    def hpv(self) -> None:
        """Some girls since the recommendation resumed (2022-04): 9価 from 2023-04 (2 doses if begun
        before 15歳), else 2価/4価 in 3 doses."""
        if self.rng.random() >= 0.35:
            return
        lo, hi = hpv_window(self.birth)
        lo = max(lo, ROUTINE_FROM["HPV_RESUMED"])
        if lo >= hi:
            return
        d1 = clinic_day(lo + self._days(0, max(0, min(700, (hi - lo).days - 60))))
        age15 = reach_age(self.birth, 15)
        if abs((d1 - age15).days) <= 10:  # keep clear of the 15歳 boundary of the 2-dose schedule
            d1 = clinic_day(age15 + timedelta(days=11))
        if d1 >= ROUTINE_FROM["HPV9"] and self.rng.random() < 0.85:
            vaccine = "HPV9"
        else:
            vaccine = "HPV4" if self.rng.random() < 0.7 else "HPV2"
        latest = hi - timedelta(days=3)
        two_dose = vaccine == "HPV9" and d1 < reach_age(self.birth, 15)
        n = self._planned(2 if two_dose else 3, 0.8)
        first = self.pick_product(vaccine, d1)
        prev = self._dose(vaccine, d1, latest, dose_no=1, product=first, first_product=first.name) if n else None
        if not prev or n < 2:
            return
        if two_dose:
            self._dose(vaccine, after_months_interval(prev, 6) + self._days(0, 60), latest, dose_no=2, product=first,
                       first_product=first.name)
            return
        d2 = self._dose(vaccine, after_months_interval(prev, 1) + self._days(0, 30), latest, dose_no=2, product=first,
                        first_product=first.name)
        if d2 and n >= 3:
            # 2価: ≥5月 after 1 and ≥2.5月 after 2; 4価/9価: ≥3月 after 2. Six months after dose 1 meets both.
            on = max(after_months_interval(prev, 6), after_months_interval(d2, 3)) + self._days(0, 45)
            self._dose(vaccine, on, latest, dose_no=3, product=first, first_product=first.name)

    # --- 定期B類 (elderly) ------------------------------------------------------------------
    def elderly(self) -> None:
        b = self.birth
        turned_65 = reach_age(b, 65) + timedelta(days=1)  # the birthday itself: inside either convention
        rng = self.rng
        flu_habit = 0.88 if rng.random() < 0.7 else 0.08
        covid_habit = 0.45 if rng.random() < 0.5 else 0.03
        for fy in range(self.city.elder_first_fy, fiscal_year(self.city.as_of) + 1):
            season_start = date(fy, 10, 1)
            if rng.random() < flu_habit:
                on = season_start + self._days(0, 91) if rng.random() < 0.95 else date(fy + 1, 1, 5) + self._days(0, 22)
                on = max(on, turned_65)
                if on <= date(fy + 1, 1, 31) - timedelta(days=3) and (self.moved_in is None or on >= self.moved_in):
                    if rng.random() < 0.004:  # 予診のみ: fever on the day, vaccinated a week or two later
                        self._screened_only("FLU_ELDER", on)
                        on += self._days(7, 14)
                    self._dose("FLU_ELDER", on, date(fy + 1, 1, 31), dose_no=1, category="routine_b")
            if season_start >= ROUTINE_FROM["COVID_B"] and rng.random() < covid_habit:
                on = max(season_start + self._days(0, 100), turned_65)
                if self.moved_in is None or on >= self.moved_in:
                    self._dose("COVID", on, date(fy + 1, 3, 31) - timedelta(days=3), dose_no=1, category="routine_b",
                               ticket=True)
        # 高齢者肺炎球菌 in the year of 65: between the 65th and 66th birthdays (and, until FY2023, in the
        # fiscal year of reach(65)); PPSV23 until 2026-03-31, PCV20 from 2026-04-01.
        lo = turned_65
        fy65 = fiscal_year(reach_age(b, 65))
        hi = reach_age(b, 66) - timedelta(days=1)
        if fy65 <= 2023:
            hi = min(hi, date(fy65 + 1, 3, 31))
        if fy65 >= self.city.elder_first_fy and rng.random() < 0.35 and lo < hi - timedelta(days=5):
            on = lo + self._days(0, min(120, (hi - lo).days - 5))
            if self.moved_in is None or on >= self.moved_in:
                self._dose("PCV20_ELDER" if on >= date(2026, 4, 1) else "PPSV23", on, hi, dose_no=1,
                           category="routine_b")

    def _screened_only(self, vaccine: str, on: date) -> None:
        on = clinic_day(on)
        if self._dose(vaccine, on, None, category="routine_b") is None:
            return
        self.records[-1].update(screening_result="screened_only", manufacturer_code=None, lot_no="",
                                dose_volume_ml=None, remarks="発熱のため予診のみ")


def _next_month(d: date) -> str:
    """請求月: clinics claim in the month after the vaccination."""
    return f"{d.year + 1:04d}-01" if d.month == 12 else f"{d.year:04d}-{d.month + 1:02d}"


def generate_city(*, residents: int, seed: int, as_of: date,
                  masters: DemoMasters | None = None) -> Iterator[DemoHousehold]:
    """The demo city, household by household: exactly ``residents`` persons in all."""
    masters = masters or generate_masters(seed)
    yield from CityGenerator(seed=seed, as_of=as_of, masters=masters).households(residents)
