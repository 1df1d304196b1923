#!/usr/bin/env bash
# Reproduces the vector-engine table of BENCHMARKS.md: generates the shared 100k x 384 set
# (numpy + faiss in a venv), then runs `jobfirst-ai eval-ann` and hnswlib on it, interleaved,
# ROUNDS times. Output: one JSON line per (engine, round, ef, selectivity) in $OUT.
# Usage: scripts/bench_ann.sh ; takes ~10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-/tmp/bench/d384_n100000}
VENV=${VENV:-/tmp/bench-venv}
ROUNDS=${ROUNDS:-2}
OUT=${OUT:-/tmp/bench/results.jsonl}
EF=${EF:-10,16,24,32,48,64,128}

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q numpy faiss-cpu hnswlib
fi
if [ ! -f "$DATA/gt.ivecs" ]; then
    "$VENV/bin/python" scripts/bench/gen_clustered.py --n 100000 --d 384 --out "$DATA"
    "$VENV/bin/python" scripts/bench/to_fvecs.py "$DATA"
fi
cargo build --release --bin jobfirst-ai
: > "$OUT"
for round in $(seq "$ROUNDS"); do
    ./target/release/jobfirst-ai eval-ann --base "$DATA/base.fvecs" --queries "$DATA/query.fvecs" \
        --gt "$DATA/gt.ivecs" --ef "$EF" --filter-selectivity 1,0.1,0.01,0.001 \
        | sed "s/^{/{\"engine\":\"jobfirst-ai\",\"round\":$round,/" >> "$OUT"
    "$VENV/bin/python" scripts/compare_hnswlib.py --base "$DATA/base.fvecs" \
        --queries "$DATA/query.fvecs" --gt "$DATA/gt.ivecs" --ef "$EF" \
        | sed "s/^{/{\"round\":$round,/" >> "$OUT"
done
echo "results in $OUT"
