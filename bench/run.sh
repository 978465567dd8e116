#!/usr/bin/env bash
# cityhub against the bare-HTTP floor, in ONE run on this machine, with the shared NGSI-LD load
# generator (../shared/tools/bench). Quote the ratios this prints, never a single absolute time.
#
#   bench/run.sh [OUTDIR] [DURATION] [CONCURRENCY] [SCENARIOS]
#
# Needs: wrk (apt-get install wrk) and a venv with the generator's client deps:
#   python3 -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install aiohttp orjson uvloop uvicorn httptools
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOOLS=${BENCH_TOOLS:-$HERE/../../shared/tools/bench}
VENV=${VENV:-/tmp/benchvenv}
OUT=${1:-/tmp/cityhub-bench}; DUR=${2:-10}; CONC=${3:-10}; SCEN=${4:-retrieve,query,geo,patch,upsert,create}
mkdir -p "$OUT"
[[ -f $TOOLS/ngsild_bench.py ]] || { echo "no load generator at $TOOLS (set BENCH_TOOLS)" >&2; exit 2; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

# 1. the floor: a bare ASGI app under the same server cityhub uses (uvicorn, 1 worker)
(cd "$TOOLS" && exec "$VENV/bin/uvicorn" floor_app:app --port 8011 --log-level warning --no-access-log) &
pids+=($!); wait_up http://127.0.0.1:8011/ping
"$VENV/bin/python" "$TOOLS/ngsild_bench.py" --base-url http://127.0.0.1:8011 --label floor \
  --scenarios raw-get,raw-post --concurrency "$CONC" --duration "$DUR" --warmup 1 --out "$OUT/floor.json" >/dev/null
kill "${pids[0]}"; pids=()

# 2. cityhub on a fresh SQLite file
rm -f "$OUT"/bench.db*
(cd "$OUT" && exec cityhub serve --db "$OUT/bench.db" --port 1026) > "$OUT/cityhub.log" 2>&1 &
pids+=($!); wait_up http://127.0.0.1:1026/health
"$VENV/bin/python" "$TOOLS/ngsild_bench.py" --base-url http://127.0.0.1:1026 --label cityhub \
  --scenarios "$SCEN" --concurrency "$CONC" --duration "$DUR" --warmup 1 --dataset "${DATASET:-10000}" \
  --out "$OUT/cityhub.json" >/dev/null

"$VENV/bin/python" "$HERE/ratios.py" "$OUT/floor.json" "$OUT/cityhub.json" | tee "$OUT/ratios.md"
