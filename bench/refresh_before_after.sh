#!/bin/bash
# The eligibility refresh before and after a change, in the same run, on copies of one pristine city:
# bench/bench_targets.py (writes without the table, rebuild, writes with the table, targets vs the full
# re-evaluation) with the sources of BASE (a commit), then with the working tree's.
#
#   bench/refresh_before_after.sh 20000 c990e19              # SQLite
#   PG=postgresql+psycopg://postgres@127.0.0.1:5432 bench/refresh_before_after.sh 20000 c990e19
set -e
N=${1:-20000}; BASE=${2:?base commit}; ROWS=${ROWS:-10000}; VACCINES=${VACCINES:-MR,HIB,FLU_ELDER,JE}
AS_OF=${AS_OF:-2026-12-06}
HERE=$(cd "$(dirname "$0")/.." && pwd); PY=${PY:-$HERE/.venv/bin/python}; [ -x "$PY" ] || PY=python
WORK=$HERE/bench/out/before-after; mkdir -p "$WORK"
rm -rf "$WORK/base-src"; mkdir -p "$WORK/base-src"; git -C "$HERE" archive "$BASE" src | tar -x -C "$WORK/base-src"
P=$WORK/pristine-$N${PG:+-pg}
if [ ! -f "$P/done" ]; then
  rm -rf "$P"; mkdir -p "$P"
  PYTHONPATH=$HERE/src "$PY" -c "
import sys, argparse; from datetime import date; from pathlib import Path
sys.path.insert(0, '$HERE/bench'); import bench_targets as bt
from sesshu.config import load_settings
url = '${PG:+$PG/sesshu_ba_pristine}' or None
a = argparse.Namespace(residents=$N, out=Path('$P'), database_url=url, as_of=date.fromisoformat('$AS_OF'))
bt._city(a, load_settings(var_dir=a.out, **({'database_url': url} if url else {})))"
  touch "$P/done"
fi
for which in base new; do
  src=$WORK/base-src/src; [ $which = new ] && src=$HERE/src
  out=$WORK/$which-$N${PG:+-pg}; rm -rf "$out"
  if [ -n "$PG" ]; then
    psql "postgresql://${PG#postgresql+psycopg://}/postgres" -qc "DROP DATABASE IF EXISTS sesshu_ba_$which WITH (FORCE)" \
      -c "CREATE DATABASE sesshu_ba_$which TEMPLATE sesshu_ba_pristine"
    mkdir -p "$out"; touch "$out/city-$N-pg.done"; extra=(--database-url "$PG/sesshu_ba_$which")
  else
    cp -r "$P" "$out"; extra=()
  fi
  echo "=== $which ($src) load: $(cut -d' ' -f1-3 /proc/loadavg)"
  PYTHONPATH=$src "$PY" "$HERE/bench/bench_targets.py" --residents "$N" --out "$out" --as-of "$AS_OF" \
    --import-rows "$ROWS" --vaccines "$VACCINES" "${extra[@]}"
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
