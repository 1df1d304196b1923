#!/usr/bin/env bash
# Resident memory the server keeps per re-analysis until the next full rebuild (the slope of
# the soak's RSS in RELIABILITY.md), measured directly: the release binary serves a copy of
# the 100k-job bench data dir of benches/recommend.rs on 127.0.0.1; a warm-up of re-analyses
# (so the redb cache, the delta graph and the allocator are past their first growth), then
# $WRITES re-analyses at $RATE/s (oha), then the RSS difference divided by the writes, split
# into anonymous memory and mapped file pages. Fails if a full rebuild fell inside the
# measurement (it resets what writes hold; keep WRITES below a quarter of the jobs).
#
#   scripts/mem_per_write.sh                  # 12,000 writes at 300/s (the soak's count)
#   BIN=/path/to/jobfirst-ai WRITES=6000 RATE=200 scripts/mem_per_write.sh
#   SKIP_BUILD=1 ...                          # reuse target/release and the bench data dir
#
# Needs oha (cargo install oha). Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-18208}
WRITES=${WRITES:-12000}
RATE=${RATE:-300}
WARM=${WARM:-3000}
SERVER_LOG=${SERVER_LOG:-/dev/null}
. scripts/bench_server.sh
command -v oha >/dev/null || { echo "oha not found (cargo install oha)" >&2; exit 2; }
bench_data
WORK=$(mktemp -d)
cp -r "$SRC" "$WORK/data"
trap 'kill ${PID:-} 2>/dev/null; wait ${PID:-} 2>/dev/null || true; rm -rf "$WORK"' EXIT
serve "$WORK/data" "$PORT"
BASE="http://127.0.0.1:$PORT"
metric() { curl -s "$BASE/metrics" | awk -v m="$1" '$1 == m "{collection=\"jobs\"}" {print $2}'; }
# anon kB, file kB
mem() { awk '/RssAnon/{a=$2} /RssFile/{f=$2} END{print a, f}' /proc/$PID/status; }
# Waits until no background build runs and the delta graph covers all but the scanned tail.
settle() {
  for _ in $(seq 1 300); do
    [ "$(metric vector_rebuilding)" = 0 ] && break
    sleep 1
  done
  sleep 2
}
# Distinct jobs, each re-analysed once per pass (ids spread over 1..N).
for i in $(seq 1 20000); do
  echo "{\"job_id\": $(( (i * 104729) % N + 1 )), \"job_data\": {\"title\": \"后端工程师\", \"company\": \"星河科技\", \"location\": \"深圳\", \"description\": \"负责服务端开发与性能优化，第${i}次更新\", \"requirements\": \"3-5年经验，熟悉Go、MySQL\", \"salary_min\": 20000, \"salary_max\": 35000}}"
done >"$WORK/analyze"
analyze() { # COUNT RATE
  oha --no-tui -n "$1" -c 4 -q "$2" -m POST -H 'content-type: application/json' \
    -Z "$WORK/analyze" "$BASE/api/v1/analyze/job" >"$WORK/out" 2>&1
  if grep -E "^\s+\[[0-9]{3}\] [0-9]+ responses" "$WORK/out" | grep -vq "\[200\]"; then
    cat "$WORK/out" >&2; echo "failed requests" >&2; exit 1
  fi
}
echo "machine: $(nproc) cores; binary $BIN; RSS after start: anon/file kB $(mem)"
analyze "$WARM" 1000
settle
read -r a0 f0 < <(mem)
t0=$(metric vector_tail_points) r0=$(metric vector_rebuilds_total)
echo "after $WARM warm-up writes: anon $a0 kB, file $f0 kB; tail $t0; delta $(metric vector_delta_points)"
analyze "$WRITES" "$RATE"
settle
read -r a1 f1 < <(mem)
t1=$(metric vector_tail_points) r1=$(metric vector_rebuilds_total)
echo "after $WRITES writes at $RATE/s: anon $a1 kB, file $f1 kB; tail $t1; delta $(metric vector_delta_points)"
[ "$r0" = "$r1" ] || { echo "a full rebuild fell inside the measurement; lower WRITES" >&2; exit 1; }
w=$((t1 - t0))
awk -v a0="$a0" -v a1="$a1" -v f0="$f0" -v f1="$f1" -v w="$w" 'BEGIN {
  printf "per write (%d writes): %.2f KiB resident (anon %.2f KiB, file %.2f KiB)\n", w, (a1+f1-a0-f0)/w, (a1-a0)/w, (f1-f0)/w
  printf "RSS %d -> %d kB: %+.1f%%\n", a0+f0, a1+f1, (a1+f1-a0-f0)*100/(a0+f0)
}'
