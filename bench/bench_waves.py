"""接種券 in waves at scale: `sesshu tickets wave` (a real child process) on the load test's PostgreSQL city,
for waves of two sizes, with wall time, the child's CPU time and peak RSS — memory should not grow with the
wave (one PDF file of `--per-file` persons at a time); the plan's share grows with the city (the schedule
engine lists every resident of the line once).

    .venv/bin/python bench/bench_waves.py --residents 200000 --sizes 10000 40000 --vaccine COVID

The city is `sesshu_load_<residents>` (bench/load.py builds it). Each run is a new wave number of the line,
as of today; the persons already holding a ticket of the line are left out by the plan, so run it on a
line with enough persons left (COVID: residents aged 65 or over, 10/1–3/31).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_notices import run_measured  # noqa: E402  (wall, CPU and peak RSS of a child `sesshu` process)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--residents", type=int, default=200_000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 40_000])
    ap.add_argument("--vaccine", default="COVID")
    ap.add_argument("--per-file", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "waves")
    args = ap.parse_args()
    url = f"postgresql://postgres@127.0.0.1:5432/sesshu_load_{args.residents}"
    env = dict(os.environ, SESSHU_DATABASE_URL=url, SESSHU_VAR_DIR=f"/tmp/sesshu-load-{args.residents}")
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as c:
        done = c.execute(text("SELECT count(*) FROM batch_job WHERE kind = 'ticket_waves'")).scalar_one()
    engine.dispose()
    figures = []
    for i, size in enumerate(args.sizes):
        wave = done + i + 1
        load_before = os.getloadavg()[0]
        stdout, secs, cpu, peak = run_measured(
            ["tickets", "wave", "--vaccine", args.vaccine, "--wave", str(wave), "--size", str(size),
             "--out", str(args.out / f"wave{wave:03d}"), "--per-file", str(args.per_file), "--json"], env)
        result = json.loads(stdout)
        persons = result["persons"]
        f = {"wave": wave, "size": size, "persons": persons, "files": len(result["files"]), "seconds": round(secs, 1),
             "cpu_seconds": round(cpu, 1), "persons_per_s": round(persons / secs, 1) if secs else None,
             "cpu_ms_per_person": round(cpu * 1000 / max(persons, 1), 2), "peak_rss_mb": round(peak),
             "load_average_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)], "cpus": os.cpu_count()}
        figures.append(f)
        print(json.dumps(f, ensure_ascii=False), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"waves-{args.residents}.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
