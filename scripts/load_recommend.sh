#!/usr/bin/env bash
# HTTP load test of POST /api/v1/recommend/jobs on loopback, from another process: builds (or
# reuses) the 100k-job bench data dir of benches/recommend.rs, serves it with the release
# binary on 127.0.0.1:$PORT, warms it up, then either
#   * RATE unset: wrk, closed loop, $CONN connections for $DURATION — the maximum throughput
#     (latency is then queueing: $CONN / throughput on average), or
#   * RATE=4000: oha at a fixed rate of $RATE requests/s over $CONN connections with
#     coordinated-omission correction — the latency at that load,
# cycling through the 20,000 users, and prints throughput, latency percentiles and errors.
#
#   scripts/load_recommend.sh                       # wrk, 32 connections, 30 s
#   RATE=4000 scripts/load_recommend.sh             # oha, 4,000 req/s, 32 connections
#   SKIP_BUILD=1 ...                                # use the existing target/release binary
#   BIN=/path/to/jobfirst-ai SKIP_BUILD=1 ...        # serve with another binary
#
# Needs wrk (apt-get install wrk) or oha (cargo install oha). Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench_server.sh
PORT=${PORT:-18206}
CONN=${CONN:-32}
THREADS=${THREADS:-1}
DURATION=${DURATION:-30s}
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 2; }
if [ -n "${RATE:-}" ]; then
  command -v oha >/dev/null || { echo "oha not found (cargo install oha)" >&2; exit 2; }
fi

bench_data
trap 'kill ${PID:-} 2>/dev/null; wait ${PID:-} 2>/dev/null || true' EXIT
serve "$SRC" "$PORT"
RSS0=$(awk '/VmRSS/{print $2}' /proc/$PID/status)

URL="http://127.0.0.1:$PORT/api/v1/recommend/jobs"
echo "warm-up (10 s, every user's features read once)..." >&2
wrk -t1 -c8 -d10s -s scripts/wrk_recommend.lua "$URL" >/dev/null
if [ -n "${RATE:-}" ]; then
  BODIES=$(mktemp)
  for i in $(seq 1 20000); do
    echo "{\"user_id\": $(( (i * 7919) % 20000 + 1 )), \"limit\": 10}"
  done >"$BODIES"
  echo "oha -z $DURATION -c $CONN -q $RATE --latency-correction -m POST -Z <20,000 user bodies> $URL"
  oha --no-tui -z "$DURATION" -c "$CONN" -q "$RATE" --latency-correction -m POST \
    -H 'content-type: application/json' -Z "$BODIES" "$URL"
  rm -f "$BODIES"
else
  echo "wrk -t$THREADS -c$CONN -d$DURATION --latency ${FILTER_CITY:+(FILTER_CITY=$FILTER_CITY)} $URL"
  wrk -t"$THREADS" -c"$CONN" -d"$DURATION" --latency -s scripts/wrk_recommend.lua "$URL"
fi
RSS1=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
echo "server RSS: ${RSS0} kB after start, ${RSS1} kB after the run"
