#!/usr/bin/env bash
# HTTP load test of POST /api/v1/recommend/jobs on loopback with wrk (from another process):
# builds (or reuses) the 100k-job bench data dir of benches/recommend.rs, serves it with the
# release binary on 127.0.0.1:$PORT, warms it up, then runs wrk for $DURATION with $CONN
# connections and prints its latency distribution (p50/p75/p90/p99) and errors.
#
#   scripts/load_recommend.sh                 # 100k jobs, 32 connections, 30 s
#   CONN=64 DURATION=60s FILTER_CITY=北京市 scripts/load_recommend.sh
#
# Needs wrk (apt-get install wrk). Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${JF_BENCH_JOBS:-100000}
PORT=${PORT:-18206}
CONN=${CONN:-32}
THREADS=${THREADS:-1}
DURATION=${DURATION:-30s}
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 2; }

JF_BENCH_JOBS=$N JF_BENCH_BUILD_ONLY=1 cargo bench --bench recommend >/dev/null
cargo build --release --quiet
DATA="${CARGO_TARGET_DIR:-target}/bench-data/recommend-$N"

AI_SAMPLE_DATA=false RUST_LOG=warn target/release/jobfirst-ai serve \
  --data-dir "$DATA" --port "$PORT" --host 127.0.0.1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  if curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; then break; fi
  sleep 0.2
done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { echo "server did not start" >&2; exit 1; }
RSS0=$(awk '/VmRSS/{print $2}' /proc/$PID/status)

URL="http://127.0.0.1:$PORT/api/v1/recommend/jobs"
echo "warm-up (10 s, every user's features read once)..." >&2
wrk -t1 -c8 -d10s -s scripts/wrk_recommend.lua "$URL" >/dev/null
echo "wrk -t$THREADS -c$CONN -d$DURATION --latency ${FILTER_CITY:+(FILTER_CITY=$FILTER_CITY)} $URL"
wrk -t"$THREADS" -c"$CONN" -d"$DURATION" --latency -s scripts/wrk_recommend.lua "$URL"
RSS1=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
echo "server RSS: ${RSS0} kB after start, ${RSS1} kB after the run"
