"""Keeping the eligibility table true: evaluate persons over the table's period and store their open spans.

``refresh_persons(s, atena_nos)`` is the one entry point writers reach (through the before-commit hook
in ``eligibility.hook``, never by hand): one batch per transaction, each touched person evaluated
once per sampled day, the old spans deleted and the new ones inserted in bulk. ``rebuild`` does
the same for every resident and non-resident and records the period and the rules it used.
Neither commits: the caller's transaction (the write that changed the facts) holds the change.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Iterable, Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from sesshu.clock import utcnow
from sesshu.conditions.facts import ConditionSpan, conditions_on, load_spans
from sesshu.domain.schedule import DoseFacts, EligibilityResult, PersonFacts, evaluate, evaluate_many
from sesshu.domain.schedule.book import RuleBook, group_of
from sesshu.domain.schedule.rules import RULES_DIR
from sesshu.domain.schedule.timeline import answer_points, fact_points, points_by_line, relevant_vaccines
from sesshu.eligibility.models import EligibilityDirty, EligibilitySpan, EligibilityState
from sesshu.ledger.evaluation import SCREENED_ONLY
from sesshu.ledger.models import VaccinationRecord
from sesshu.pregnancy.facts import load_pregnancies
from sesshu.registry.models import Person
from sesshu.rulesets.active import rule_book

# Bump when the engine's answers change without a rule file changing: a table built by older code
# is then ignored (full evaluation) until `sesshu eligibility rebuild`.
TABLE_VERSION = "1"
# The persons a target list can name: 特定接種 lists 住登外者 too (ledger.targets).
LISTED = ("resident", "non_resident")
OPEN = ("eligible", "not_yet")
REBUILD_ALL = "*"
_BATCH = 2000
# The default period of as_of dates the table answers for: a month back, about seven months ahead
# (this and next month's notices, a campaign's waves); `sesshu eligibility rebuild` each month moves it.
DEFAULT_BEFORE_DAYS = 31
DEFAULT_AFTER_DAYS = 214

_SHIPPED_KEY: list[str] = []


def _shipped_key() -> str:
    if not _SHIPPED_KEY:
        h = hashlib.sha256()
        for p in sorted(RULES_DIR.rglob("*.yaml")):
            h.update(p.name.encode())
            h.update(p.read_bytes())
        _SHIPPED_KEY.append(h.hexdigest())
    return _SHIPPED_KEY[0]


def book_key(book: RuleBook) -> str:
    """What the table's answers depend on besides the persons: the rule files (shipped and active
    uploads, with their effective dates) and the table's own version."""
    h = hashlib.sha256(f"{TABLE_VERSION}|{_shipped_key()}".encode())
    for u in sorted(book.uploads, key=lambda u: u.id):
        h.update(f"|{u.id}:{u.sha256}:{u.effective_from.isoformat()}".encode())
    return h.hexdigest()


@dataclass
class _Facts:
    atena_no: str
    birth: date
    sex: str
    rows: list
    spans: tuple[ConditionSpan, ...]
    pregnancies: tuple[date, ...]
    doses: list = field(default_factory=list)  # the rows that are doses (not 予診のみ), as DoseFacts
    vaccines: frozenset[str] = frozenset()  # their vaccine codes

    def __post_init__(self) -> None:
        # as ledger.evaluation.evaluate_people reads rows: 予診のみ visits are not doses and never
        # change a forecast (they only get a verdict); records carry no product here
        self.doses = [DoseFacts(vaccine=r.vaccine_code, date=r.vaccinated_on) for r in self.rows
                      if r.screening_result != SCREENED_ONLY]
        self.vaccines = frozenset(d.vaccine for d in self.doses)


def _lines(book: RuleBook, first: date, last: date) -> tuple[list, list[str], set[str]]:
    """The rule sets in force during the period, every line they know, and the pregnancy lines."""
    days = [first] + [date.fromordinal(x) for x in book.starts if first.toordinal() < x <= last.toordinal()]
    sets = list({id(rs): rs for rs in (book.at(d) for d in days)}.values())
    lines = list(dict.fromkeys(e.code for rs in sets for e in rs.entries))
    pregnancy = {e.code for rs in sets for e in rs.entries if e.pregnancy}
    return sets, lines, pregnancy


def _samples(f: _Facts, book: RuleBook, sets: list, lines: list[str], first: date, last: date,
             cache: dict) -> dict[str, set[int]]:
    """Per line, the days to evaluate: the period's first day and every point where the answer may change.

    A dose's date is a point only of the lines its vaccine can change (timeline.relevant_vaccines
    under any rule set of the period): for the others the dose changes nothing, on its day or later.
    The rules' points depend only on birth date, sex and 妊娠届: ``cache`` keeps them per batch."""
    lo, hi = first.toordinal(), last.toordinal()
    edges = [(sp.valid_from, sp.valid_until) for sp in f.spans]
    common = fact_points((), edges, book.starts, lo, hi) | {lo}
    key = (f.birth, f.sex, f.pregnancies, tuple(lines))
    rule_points = cache.get(key)
    if rule_points is None:
        facts = PersonFacts(birth_date=f.birth, sex=f.sex, pregnancies=f.pregnancies)
        rule_points = {line: set() for line in lines}
        for rs in sets:
            for line, pts in points_by_line(facts, rs, lines, lo, hi).items():
                rule_points[line] |= pts
        cache[key] = rule_points
    out = {line: common | pts for line, pts in rule_points.items()}
    by_vaccine: dict[str, set[int]] = defaultdict(set)
    for d in f.doses:
        x = d.date.toordinal()
        if lo < x <= hi:
            by_vaccine[d.vaccine].add(x)
    if by_vaccine:
        for line in lines:
            for v in _relevant_in(sets, line) & by_vaccine.keys():
                out[line] |= by_vaccine[v]
    return out


def _relevant_in(sets: list, line: str) -> frozenset[str]:
    """The vaccines whose doses can change ``line`` under any of these rule sets."""
    if len(sets) == 1:
        return _relevant(sets[0], line)
    return frozenset().union(*(_relevant(rs, line) for rs in sets))


def evaluate_spans(s: Session, facts: Sequence[_Facts], book: RuleBook, first: date, last: date,
                   only: dict[str, frozenset[str]] | None = None) -> list[dict]:
    """The open spans (rows of eligibility_span) of these persons over [first, last] — for each person
    only the lines in ``only[atena_no]`` when given.

    A person with no record, condition or 妊娠届 has the answers of everyone born the same day with the
    same sex: such persons are evaluated once per (birth date, sex) and their spans copied."""
    only = only or {}
    plain: dict[tuple, list[_Facts]] = defaultdict(list)
    own: list[_Facts] = []
    for f in facts:
        if f.rows or f.spans or f.pregnancies:
            own.append(f)
        else:
            plain[(f.birth, f.sex, only.get(f.atena_no))].append(f)
    out = _evaluate_spans(s, own + [group[0] for group in plain.values()], book, first, last, only)
    by_person: dict[str, list[dict]] = defaultdict(list)
    for r in out:
        by_person[r["atena_no"]].append(r)
    for group in plain.values():
        out.extend({**r, "atena_no": f.atena_no} for f in group[1:] for r in by_person.get(group[0].atena_no, ()))
    return out


def _evaluate_spans(s: Session, facts: Sequence[_Facts], book: RuleBook, first: date, last: date,
                    only: dict[str, frozenset[str]]) -> list[dict]:
    sets, lines, pregnancy_lines = _lines(book, first, last)
    lo, hi = first.toordinal(), last.toordinal()
    # (person index, line) → {sample ordinal: answer or None}
    answers: dict[tuple[int, str], dict[int, tuple]] = {}
    todo: dict[int, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))  # day → person → lines
    point_cache: dict = {}
    for i, f in enumerate(facts):
        # no 妊娠届: a pregnancy line is never open (targets read only pregnant residents)
        mine = [ln for ln in lines if (ln not in pregnancy_lines or (f.sex == "F" and f.pregnancies))
                and (f.atena_no not in only or ln in only[f.atena_no])]
        for line, days in _samples(f, book, sets, mine, first, last, point_cache).items():
            answers[(i, line)] = {}
            for d in days:
                todo[d][i].add(line)
    probes: dict = {}  # shared by persons of the same birth date, sex and conditions
    while todo:
        found: dict[int, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
        for day, per_person in todo.items():
            as_of = date.fromordinal(day)
            for i, line, e, probe in _evaluate_day(facts, per_person, as_of, book, pregnancy_lines, probes):
                answers[(i, line)][day] = (e, probe)
                for x in (x for r in (e, *probe) if r is not None for x in answer_points(r)):
                    if lo < x <= hi and x not in answers[(i, line)] and line not in found[x][i]:
                        found[x][i].add(line)
        todo = {d: {i: {ln for ln in ls if d not in answers[(i, ln)]} for i, ls in pp.items()}
                for d, pp in found.items()}
        todo = {d: {i: ls for i, ls in pp.items() if ls} for d, pp in todo.items()}
        todo = {d: pp for d, pp in todo.items() if pp}
    out = []
    for (i, line), by_day in answers.items():
        out.extend(_spans_of(facts[i], line, by_day, book, hi))
    return out


def _evaluate_day(facts: Sequence[_Facts], per_person: dict[int, set[str]], as_of: date, book: RuleBook,
                  pregnancy_lines: set[str], probes: dict) -> Iterable[tuple[int, str, EligibilityResult | None, tuple]]:
    """Answers on ``as_of`` for each (person, line) asked, the way target selection evaluates: the
    active records without products, conditions by date, pregnancies only for pregnancy lines and only
    those not yet delivered on as_of (pregnancy.facts.load_resident_pregnancies) — and, for the other
    lines, the *probes* target selection asks first (ledger.targets._probe_birth_groups and
    _condition_holders): the line for an empty history with no conditions, and with the conditions held
    on as_of. A person is listed only when a probe is open too (see docs/eligibility.md)."""
    groups: dict[tuple[frozenset[str], bool], list[int]] = defaultdict(list)
    for i, lines in per_person.items():
        plain = frozenset(ln for ln in lines if ln not in pregnancy_lines)
        preg = frozenset(lines) - plain
        if plain:
            groups[(plain, False)].append(i)
        if preg:
            groups[(preg, True)].append(i)
    rules = book.at(as_of)
    for (lines, preg), idx in groups.items():
        # The forecast ledger.evaluation.evaluate_people gives (its PersonEvaluation.eligibility): the
        # doses judged by the rules and conditions of as_of (the other keys it evaluates only judge
        # doses, whose verdicts the table does not keep); 予診のみ visits are not doses.
        held_of = [conditions_on(facts[i].spans, as_of) for i in idx]
        items = [(PersonFacts(birth_date=facts[i].birth, sex=facts[i].sex, conditions=held,
                              pregnancies=tuple(d for d in facts[i].pregnancies if d > as_of) if preg else ()),
                  facts[i].doses) for i, held in zip(idx, held_of)]
        results = evaluate_many(items, as_of, rules, lines=lines)
        for i, held, r in zip(idx, held_of, results):
            got = {e.vaccine: e for e in r.eligibility}
            f = facts[i]
            if preg:
                for line in lines:
                    yield i, line, got.get(line), ()
                continue
            # A probe only matters where the person's own answer is open (a span starts there). For a
            # line none of the person's doses can change (timeline.relevant_vaccines), the own answer
            # *is* the probe with the conditions held on as_of (no doses, same facts), and that probe
            # opens no later than the others: the probe is the own answer, not evaluated again.
            need = frozenset(ln for ln in lines if (e := got.get(ln)) is not None and e.status in OPEN
                             and f.vaccines & _relevant(rules, ln))
            probe: tuple = ()
            if need:
                probe = (_probe(probes, f.birth, f.sex, frozenset(), as_of, rules, need),
                         _probe(probes, f.birth, f.sex, held, as_of, rules, need) if held else {})
            for line in lines:
                e = got.get(line)
                if e is None or e.status not in OPEN:
                    yield i, line, e, ()
                elif line in need:
                    yield i, line, e, tuple(p.get(line) for p in probe)
                else:
                    yield i, line, e, (e,)


def _probe(cache: dict, birth: date, sex: str, held: frozenset[str], as_of: date, rules, lines) -> dict:
    key = (birth, sex, held, as_of, lines)
    hit = cache.get(key)
    if hit is None:
        ev = evaluate(PersonFacts(birth_date=birth, sex=sex, conditions=held), [], as_of, rules, lines=lines)
        hit = cache[key] = {e.vaccine: e for e in ev.eligibility}
    return hit


def _opens(e: EligibilityResult | None, day: date) -> date | None:
    """The first day the answer is open from ``day`` on: that day when eligible, earliest when not yet."""
    if e is None or e.status not in OPEN:
        return None
    return day if e.status == "eligible" else e.earliest


def _spans_of(f: _Facts, line: str, by_day: dict[int, tuple], book: RuleBook, hi: int) -> list[dict]:
    days = sorted(by_day)
    out: list[dict] = []
    prev_same: tuple = ()  # the answer of out[-1], every column but the days (atena_no and line are fixed)
    for k, day in enumerate(days):
        e, probe = by_day[day]
        end = days[k + 1] - 1 if k + 1 < len(days) else hi
        as_of = date.fromordinal(day)
        opens = _opens(e, as_of)
        if opens is None:
            continue
        if len(probe) == 1 and probe[0] is e:
            probe_opens = opens  # the probe is the own answer (_evaluate_day)
        elif probe:
            # the earliest day a probe opens (none open: target selection never reaches this person)
            probe_opens = min((d for d in (_opens(p, as_of) for p in probe) if d is not None), default=None)
            if probe_opens is None:
                continue
        else:
            probe_opens = as_of  # pregnancy lines: every resident with a 妊娠届 is evaluated
        rules = book.at(as_of)
        group = group_of(book, rules, line, f.birth, f.sex, conditions_on(f.spans, as_of), e.earliest or as_of)
        version = _version(rules, line)
        row = {"atena_no": f.atena_no, "line": line, "valid_from": as_of, "valid_to": date.fromordinal(end),
               "opens_on": max(opens, probe_opens), "status": e.status,
               "next_dose": e.next_dose, "earliest": e.earliest, "standard_from": e.standard_from,
               "standard_until": e.standard_until, "legal_until": e.legal_until, "priority_group": group,
               "rule_version": version}
        same = (e.status, e.next_dose, e.earliest, e.standard_from, e.standard_until, e.legal_until, group, version)
        if out and prev_same == same and out[-1]["valid_to"] == as_of - timedelta(days=1) and (
                out[-1]["opens_on"] == row["opens_on"] or (out[-1]["opens_on"] <= out[-1]["valid_from"]
                                                           and row["opens_on"] <= row["valid_from"])):
            out[-1]["valid_to"] = row["valid_to"]  # the same answer on the next day: one span
        else:
            out.append(row)
            prev_same = same
    return out


def _version(rules, line: str) -> str:
    """The rule file version behind a line (its own code's file, else its first vaccine's)."""
    cache = rules.__dict__.setdefault("_eligibility_versions", {})
    hit = cache.get(line)
    if hit is None:
        hit = cache[line] = rules.version_of(line) or next(
            (rules.version_of(v) for en in rules.entries if en.code == line for v in en.vaccines), "")
    return hit


def _load_facts(s: Session, atena_nos: Sequence[str]) -> list[_Facts]:
    persons = []
    for i in range(0, len(atena_nos), _BATCH):
        persons.extend(s.execute(select(Person.atena_no, Person.birth_date, Person.sex)
                                 .where(Person.atena_no.in_(atena_nos[i:i + _BATCH]),
                                        Person.registry_status.in_(LISTED))))
    ids = [p.atena_no for p in persons]
    history: dict[str, list] = defaultdict(list)
    for i in range(0, len(ids), _BATCH):
        for r in s.execute(select(VaccinationRecord.id, VaccinationRecord.atena_no, VaccinationRecord.vaccine_code,
                                  VaccinationRecord.vaccinated_on, VaccinationRecord.screening_result)
                           .where(VaccinationRecord.atena_no.in_(ids[i:i + _BATCH]),
                                  VaccinationRecord.status == "active")):
            history[r.atena_no].append(r)
    spans: dict = {}
    pregnancies: dict = {}
    for i in range(0, len(ids), _BATCH):
        part = ids[i:i + _BATCH]
        spans.update(load_spans(s, part))
        # 妊娠届 count for residents only (target selection reads load_resident_pregnancies)
        pregnancies.update(load_pregnancies(s, [p.atena_no for p in persons[i:i + _BATCH]
                                                if p.sex == "F"]))
    status = {}
    if pregnancies:
        for i in range(0, len(ids), _BATCH):
            status.update(s.execute(select(Person.atena_no, Person.registry_status)
                                    .where(Person.atena_no.in_(ids[i:i + _BATCH]))).all())
    return [_Facts(p.atena_no, p.birth_date, p.sex, history.get(p.atena_no, []), spans.get(p.atena_no, ()),
                   pregnancies.get(p.atena_no, ()) if status.get(p.atena_no) == "resident" else ())
            for p in persons]


def state(s: Session) -> EligibilityState | None:
    return s.get(EligibilityState, 1)


def lines_changed_by(book: RuleBook, first: date, last: date, vaccines: Iterable[str]) -> frozenset[str]:
    """The lines whose answers doses of these vaccines can change, under any rule set of the period."""
    sets, lines, _preg = _lines(book, first, last)
    wanted = set(vaccines)
    return frozenset(ln for rs in sets for ln in lines if wanted & _relevant(rs, ln))


def _relevant(rs, line: str) -> frozenset[str]:
    # kept on the rule set itself (like its person_cache): an id() key could outlive a replaced set
    cache = rs.__dict__.setdefault("_eligibility_relevant", {})
    hit = cache.get(line)
    if hit is None:
        hit = cache[line] = relevant_vaccines(rs, line)
    return hit


def refresh_persons(s: Session, atena_nos: Iterable[str], *, book: RuleBook | None = None,
                    vaccines: dict[str, set[str]] | None = None) -> int:
    """Replace these persons' spans with a fresh evaluation (persons no longer listed, or erased, lose
    theirs). ``vaccines``: for a person whose only change is records of these vaccine codes, just the
    lines those doses can change are refreshed (timeline.relevant_vaccines); absent or "*": every line.
    Does nothing while the table is not built. Returns the spans written."""
    st = state(s)
    nos = sorted(set(atena_nos) - {REBUILD_ALL})
    if st is None or not nos:
        return 0
    book = book or rule_book(s)
    vaccines = vaccines or {}
    only = {a: lines_changed_by(book, st.horizon_from, st.horizon_to, vaccines[a])
            for a in nos if a in vaccines and "*" not in vaccines[a]}
    nos = [a for a in nos if a not in only or only[a]]
    written = 0
    for i in range(0, len(nos), _BATCH):
        part = nos[i:i + _BATCH]
        rows = evaluate_spans(s, _load_facts(s, part), book, st.horizon_from, st.horizon_to, only)
        whole = [a for a in part if a not in only]
        if whole:
            s.execute(delete(EligibilitySpan).where(EligibilitySpan.atena_no.in_(whole)))
        by_lines: dict[frozenset[str], list[str]] = defaultdict(list)
        for a in part:
            if a in only:
                by_lines[only[a]].append(a)
        for lines, who in by_lines.items():
            s.execute(delete(EligibilitySpan).where(EligibilitySpan.atena_no.in_(who),
                                                    EligibilitySpan.line.in_(sorted(lines))))
        if rows:
            _insert(s, rows)
        written += len(rows)
    if st.book_key != (key := book_key(book)):
        # a person refreshed under other rules than the rest: the table no longer answers
        st.book_key = "stale:" + key
    return written


def rebuild(s: Session, *, first: date, last: date, book: RuleBook | None = None) -> tuple[int, int]:
    """Evaluate every listed person over [first, last] and mark the table built with the current rules.
    Returns (persons, spans)."""
    if last < first:
        raise ValueError("period ends before it starts")
    book = book or rule_book(s)
    s.execute(delete(EligibilitySpan))
    st = state(s)
    if st is None:
        st = EligibilityState(id=1)
        s.add(st)
    st.book_key, st.horizon_from, st.horizon_to, st.built_at = book_key(book), first, last, utcnow()
    s.flush()
    persons = spans = 0
    for part in _by_birth_date(s):
        rows = evaluate_spans(s, _load_facts(s, part), book, first, last)
        if rows:
            _insert(s, rows)
        persons += len(part)
        spans += len(rows)
    s.execute(delete(EligibilityDirty))
    return persons, spans


def _insert(s: Session, rows: list[dict]) -> None:
    """The rows in one executemany of a Core insert (no ORM bulk bookkeeping)."""
    s.connection().execute(insert(EligibilitySpan.__table__), rows)


def _by_birth_date(s: Session) -> Iterable[list[str]]:
    """Every listed person, in batches of about _BATCH of consecutive birth dates (every person of a
    birth date in the same batch): persons born the same day share their evaluations within a batch
    (the plain persons' spans in evaluate_spans, the probes, the rule points, the engine's evaluate_many
    groups), which batches in 宛名番号 order would scatter over the whole city."""
    listed = Person.registry_status.in_(LISTED)
    after: date | None = None
    while True:
        cond = [listed] if after is None else [listed, Person.birth_date > after]
        upto = s.execute(select(Person.birth_date).where(*cond).order_by(Person.birth_date)
                         .offset(_BATCH - 1).limit(1)).scalar()
        if upto is not None:
            cond.append(Person.birth_date <= upto)
        part = list(s.execute(select(Person.atena_no).where(*cond).order_by(Person.birth_date, Person.atena_no))
                    .scalars())
        if part:
            yield part
        if upto is None:
            return
        after = upto


def default_period(today: date) -> tuple[date, date]:
    return today - timedelta(days=DEFAULT_BEFORE_DAYS), today + timedelta(days=DEFAULT_AFTER_DAYS)


def settle(s: Session) -> int:
    """Bring the table up to date with every write of this transaction so far: the persons the
    triggers marked are refreshed once each (a rule change rebuilds all), and the marks removed."""
    marked = s.execute(select(EligibilityDirty.atena_no, EligibilityDirty.vaccine_code)).all()
    if not marked:
        return 0
    s.execute(delete(EligibilityDirty))
    st = state(s)
    if st is None:
        return 0
    vaccines: dict[str, set[str]] = defaultdict(set)
    for a, v in marked:
        vaccines[a].add(v)
    if REBUILD_ALL in vaccines:
        return rebuild(s, first=st.horizon_from, last=st.horizon_to)[0]
    refresh_persons(s, list(vaccines), vaccines=vaccines)
    return len(vaccines)
