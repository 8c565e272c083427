"""個別通知 speed: `sesshu notices` for N persons of a demo city (SQLite), peak RSS of the process.

    .venv/bin/python bench/bench_notices.py 10000          # the issue's size (a city of ~67,000 residents)
    .venv/bin/python bench/bench_notices.py 1000           # quick

The demo city (sesshu.demo) is built once under bench/out/notices/ and re-used; 高齢者インフルエンザ
(FLU_ELDER, as of 2026-12-01, in season) lists about 15% of its residents, so the city is sized from N.
Each run starts from a copy of the city (no ticket issued yet) and runs the real CLI in a child process,
with 1,000 persons per PDF file. Prints persons, files, pages, wall time, the child's CPU time (user + system),
peak RSS and the machine's load average (on a shared machine the wall time says more about the neighbours
than about sesshu); run it for two sizes to see that memory does not grow with the run. Beside it, a
baseline measured in the same run (`raw_pages`): the same number of pages written by plain reportlab
with a dozen strings each and no database — the ratio holds on a busy machine where the seconds do not. The peak RSS has a
part that grows with the *city* (planning evaluates every resident's schedule) and one PDF file's pages
(1,000 persons) on top; it does not grow with the number of notices.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from sesshu.actor import Actor
from sesshu.config import load_settings
from sesshu.db import make_database
from sesshu.demo.service import load_demo
from sesshu.ledger.reference import sync_reference_data
from sesshu.migrate import upgrade

BENCH = Actor(login_id="bench", kind="os", role="operator")
AS_OF = date(2026, 12, 1)
SHARE = 0.15  # FLU_ELDER targets per resident in the demo city (measured: 600 of 3,903)


def run_measured(args: list[str], env: dict) -> tuple[str, float, float, float]:
    """`python -m sesshu ARGS`: stdout, wall seconds, the child's CPU seconds (user + system) and its own
    peak RSS (MB). CPU time is reported too because the wall time depends on what else the machine runs."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "sesshu", *args], env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        secs = time.perf_counter() - t
        if os.waitstatus_to_exitcode(status):
            err.seek(0)
            raise SystemExit(err.read().decode())
        out.seek(0)
        return out.read().decode(), secs, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def city(residents: int, root: Path) -> Path:
    var = root / f"city-{residents}"
    if (var / "done").exists():
        return var
    if var.exists():
        shutil.rmtree(var)
    var.mkdir(parents=True)
    settings = load_settings(var_dir=var)
    upgrade(settings)
    db = make_database(settings)
    sync_reference_data(db)
    t = time.perf_counter()
    s = load_demo(db, settings, actor=BENCH, residents=residents, seed=1, as_of=AS_OF)
    print(f"demo city: {s.persons} residents, {s.records} records in {time.perf_counter() - t:.0f}s", flush=True)
    db.dispose()
    (var / "done").touch()
    return var


def raw_pages(persons: int, out: Path) -> tuple[float, float]:
    """The baseline measured in the same run: plain reportlab, no database — two A4 pages per person, each with
    a dozen strings of a letter's length in the embedded Japanese font, 1,000 persons per file as the run
    writes them. Returns (wall seconds, CPU seconds)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from sesshu.printing.fonts import GOTHIC, register_fonts

    register_fonts()
    out.mkdir(parents=True, exist_ok=True)
    strings = ["〒360-0001", "埼玉県熊谷市宮町二丁目47番地1", "熊谷　太郎　様", "令和8年12月1日", "宛名番号 0000012345",
               "高齢者インフルエンザ 予防接種のお知らせ", "熊谷　太郎（クマガヤ　タロウ）", "昭和25年1月1日（男）",
               "令和8年10月1日 〜 令和9年1月31日", "11 202011 1234567890", "有効期限 令和9年1月31日", "熊谷市"]
    t, cpu = time.perf_counter(), time.process_time()
    for first in range(0, persons, 1000):
        c = canvas.Canvas(str(out / f"raw-{first // 1000 + 1:03d}.pdf"), pagesize=A4, invariant=1, pageCompression=1)
        for n in range(first, min(persons, first + 1000)):
            for _page in range(2):
                c.setFont(GOTHIC, 10.5)
                for k, value in enumerate(strings):
                    c.drawString(60, 780 - 20 * k, f"{value}{n % 10}")
                c.showPage()
        c.save()
    return time.perf_counter() - t, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("persons", type=int, nargs="?", default=1000)
    ap.add_argument("--residents", type=int, default=0, help="city size (default: from the number of persons)")
    ap.add_argument("--vaccine", default="FLU_ELDER")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "notices")
    args = ap.parse_args()
    residents = args.residents or int(args.persons / SHARE) + 200
    source = city(residents, args.out)
    run = args.out / "run"
    if run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True)
    shutil.copy(source / "sesshu.db", run / "sesshu.db")
    if (source / "keys").exists():
        shutil.copytree(source / "keys", run / "keys")
    env = dict(os.environ, SESSHU_VAR_DIR=str(run))
    env.pop("SESSHU_DATABASE_URL", None)
    load_before = os.getloadavg()[0]
    stdout, secs, cpu, peak = run_measured(["notices", "--vaccine", args.vaccine, "--as-of", AS_OF.isoformat(),
                                       "--out", str(run / "pdf"), "--per-file", "1000", "--json"], env)
    result = json.loads(stdout)
    pages = 0
    for f in result["files"]:
        info = subprocess.run(["pdfinfo", str(run / "pdf" / f["name"])], capture_output=True, text=True).stdout
        pages += int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    size = sum(p.stat().st_size for p in (run / "pdf").glob("*.pdf")) / 1e6
    raw_s, raw_cpu = raw_pages(result["persons"], run / "raw")
    figures = {"persons": result["persons"], "files": len(result["files"]), "pages": pages, "seconds": round(secs, 1),
               "persons_per_s": round(result["persons"] / secs), "cpu_seconds": round(cpu, 1), "peak_rss_mb": round(peak), "pdf_mb": round(size, 1),
               "residents": residents, "cpu_ms_per_person": round(cpu * 1000 / max(result["persons"], 1), 2),
               "load_average_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
               "raw_pages_seconds": round(raw_s, 1), "raw_pages_cpu_seconds": round(raw_cpu, 1)}
    print(f"notices {args.vaccine} as of {AS_OF}: {result['persons']} persons, {len(result['files'])} files, "
          f"{pages} pages ({size:.0f} MB) in {secs:.1f}s wall ({cpu:.1f}s CPU) = {result['persons'] / secs:.0f} persons/s; "
          f"peak RSS {peak:.0f} MB; {cpu * 1000 / max(result['persons'], 1):.2f} ms CPU per person; "
          f"load average {load_before:.1f} → {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    print(f"baseline in the same run: plain reportlab, {pages} pages of a dozen strings each, no database: "
          f"{raw_s:.1f}s wall ({raw_cpu:.1f}s CPU) — the run is {secs / raw_s:.1f}× that ({cpu / raw_cpu:.1f}× in CPU)",
          flush=True)
    (args.out / f"notices-{result['persons']}.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
