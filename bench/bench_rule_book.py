"""Cost of the run-time rule accessor (sesshu.rulesets.active.rule_book) on the database in SESSHU_*:
a cache hit (one small query), a compile after an activation, and a `campaign check` preview.

    SESSHU_VAR_DIR=var .venv/bin/python bench/bench_rule_book.py [FILE.yaml]

Run it on a demo city loaded with `sesshu demo load --campaign covid-2021`; FILE defaults to the
covid-2021 version 2 file renumbered as version 3 (so the check has something to compare)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from sesshu.actor import os_actor
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.domain.schedule import PANDEMIC_DIR
from sesshu.domain.schedule.book import compile_book
from sesshu.rulesets import active
from sesshu.rulesets.service import preview


def main() -> None:
    text = (Path(sys.argv[1]).read_text(encoding="utf-8") if len(sys.argv) > 1 else
            (PANDEMIC_DIR / "covid-2021-v2.yaml").read_text(encoding="utf-8").replace("version: 2", "version: 3"))
    db = make_database(load_settings())
    with db.transaction() as s:
        active.rule_book(s)
        n = 1000
        t = time.perf_counter()
        for _ in range(n):
            active.rule_book(s)
        hit = (time.perf_counter() - t) / n
        uploads = active.active_uploads(s)
    t = time.perf_counter()
    compile_book(uploads)
    miss = time.perf_counter() - t
    t = time.perf_counter()
    p = preview(db, actor=os_actor(), raw=text)
    check = time.perf_counter() - t
    print(f"rule_book() cache hit: {hit * 1000:.3f} ms/call; compile of {len(uploads)} active uploads: "
          f"{miss * 1000:.0f} ms; campaign check: {check:.2f} s (persons judged {p.persons_judged}, "
          f"verdicts changed {p.changed})")


if __name__ == "__main__":
    main()
