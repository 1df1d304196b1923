#!/usr/bin/env bash
# The load scenario of the reliability suite (RELIABILITY.md): recommendations, searches and
# analyses mixed, sent from other processes to the release binary serving the 100k-job bench
# data dir of benches/recommend.rs on 127.0.0.1. Three phases, each selectable:
#
#   throughput  wrk, closed loop, $CONN connections for $DURATION, 70% recommendations, 20%
#               searches, 10% re-analyses (scripts/wrk_mixed.lua): throughput, latency
#               percentiles (p50/p99/p99.9) of the mix, non-2xx responses and socket errors.
#   rate        three oha processes at once, each at a fixed rate with latency correction:
#               recommendations at $REC_RATE/s, searches at $SEARCH_RATE/s, re-analyses at
#               $ANALYZE_RATE/s, for $DURATION — the recommendations' own p50/p99/p99.9 under
#               the mixed load (the target is p99 ≤ 5 ms), and each stream's errors.
#   soak        the rate phase's mix at $SOAK_FACTOR of its rates for $SOAK (default 10m), the
#               server's RSS sampled every 30 s; prints the series and the growth from the
#               first sample after warm-up to the last (the target is ≤ 5%). Its warm-up
#               ($SOAK_WARM): "rebuild" (default) starts it from the bottom of the
#               saw, its bounded caches full — a burst of re-analyses until a full rebuild
#               is due, recommendations only until that rebuild is done, then one
#               recommendation per user;
#               "short" only the script's 10 s warm-up (the method of the runs before
#               2026-12-06: redb's 64 MiB cache then fills during the soak).
#   rebuild     a closed-loop burst of re-analyses (wrk, 4 connections, alone) until a full
#               rebuild of the jobs index is due, then the rate phase's mix for
#               $REBUILD_WINDOW (default 4m) while it is built, swapped in, written to its
#               index file and compacted out of redb (the phase fails if that has not
#               finished within the window): the latencies of the requests served meanwhile.
#
#   scripts/load_mixed.sh                     # all three phases (about 13 minutes)
#   PHASES="throughput rate" scripts/load_mixed.sh
#   SKIP_BUILD=1 ...                          # reuse target/release and the bench data dir
#   BIN=/path/to/jobfirst-ai SERVER_LOG=f RUST_LOG=... # another binary, its log kept in f
#   OHA_DB_DIR=dir ...                        # every answered request of stream NAME, with
#                                             # its start and end, in the sqlite dir/NAME.db
#
# Re-analyses rewrite existing jobs (ids 1..100000), so the data size stays the same. The data
# dir is copied first, so the bench's own copy is never modified. Needs wrk (apt-get install
# wrk) and oha (cargo install oha). Traffic goes to 127.0.0.1 only. Exits non-zero if any
# request failed.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-18207}
CONN=${CONN:-64}
DURATION=${DURATION:-60s}
SOAK=${SOAK:-10m}
REC_RATE=${REC_RATE:-2000}
SEARCH_RATE=${SEARCH_RATE:-500}
ANALYZE_RATE=${ANALYZE_RATE:-50}
SOAK_FACTOR=${SOAK_FACTOR:-0.5}
PHASES=${PHASES:-throughput rate soak}
REBUILD_WINDOW=${REBUILD_WINDOW:-4m}
SOAK_WARM=${SOAK_WARM:-rebuild}
. scripts/bench_server.sh

need() { command -v "$1" >/dev/null || { echo "$1 not found ($2)" >&2; exit 2; }; }
need wrk "apt-get install wrk"
need oha "cargo install oha"

bench_data
WORK=$(mktemp -d)
DATA="$WORK/data"
cp -r "$SRC" "$DATA"
trap 'kill ${PID:-} 2>/dev/null; wait ${PID:-} 2>/dev/null || true; rm -rf "$WORK"' EXIT
serve "$DATA" "$PORT"
rss() { awk '/VmRSS/{print $2}' /proc/$PID/status; }
# Anonymous memory and mapped index-file pages, in MB.
rss_split() { awk '/RssAnon/{a=$2} /RssFile/{f=$2} END{printf "anon %d MB, file %d MB", a/1024, f/1024}' /proc/$PID/status; }
# redb's page cache (MB; empty on a binary without that metric).
store_cache() {
  curl -s "http://127.0.0.1:$PORT/metrics" | awk '
    $1 == "store_cache_bytes" {c=$2}
    END {if (c != "") printf "store cache %d MB", c/1048576}'
}
jobs_metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m "{collection=\"jobs\"}" {print $2}'; }
tail_points() { jobs_metric vector_tail_points; }
frozen_points() { jobs_metric vector_frozen_points; }
tombstones() { jobs_metric vector_tombstones; }
rebuilds() { jobs_metric vector_rebuilds_total; }
rebuilding() { jobs_metric vector_rebuilding; }
# rebuilt_since N: a full rebuild after the Nth has finished (built, swapped, persisted).
rebuilt_since() { [ "$(rebuilds)" != "$1" ] && [ "$(rebuilding)" = 0 ]; }
# The jobs index: graph points, tail (of which in the delta graph), tombstones, rebuilds.
index() {
  curl -s "http://127.0.0.1:$PORT/metrics" | grep 'collection="jobs"' |
    grep -E '^vector_(frozen_points|tail_points|delta_points|delta_inserts_total|tombstones|rebuilds_total|rebuilding|memory_bytes|file_bytes)' |
    sed 's/{collection="jobs"}//' | tr '\n' ' '
  echo
}
BASE="http://127.0.0.1:$PORT"
echo "machine: $(nproc) cores; server pid $PID; RSS after start $(rss) kB"

# Bodies for oha (-Z: one body per line, cycled).
for i in $(seq 1 20000); do
  echo "{\"user_id\": $(( (i * 7919) % 20000 + 1 )), \"limit\": 10}"
done >"$WORK/rec"
for q in "Java后端工程师 微服务" "前端开发 React" "数据分析师 SQL" "产品经理 B端" \
  "Rust系统工程师" "算法工程师 推荐系统" "运维工程师 Kubernetes" "测试工程师 自动化"; do
  echo "{\"query\": \"$q\", \"limit\": 10}"
done >"$WORK/search"
for i in $(seq 1 5000); do
  echo "{\"job_id\": $(( (i * 104729) % N + 1 )), \"job_data\": {\"title\": \"后端工程师\", \"company\": \"星河科技\", \"location\": \"深圳\", \"description\": \"负责服务端开发与性能优化，第${i}次更新\", \"requirements\": \"3-5年经验，熟悉Go、MySQL\", \"salary_min\": 20000, \"salary_max\": 35000}}"
done >"$WORK/analyze"

# Each stream's first body must be answered 200 before any load is sent.
for f in rec:/api/v1/recommend/jobs search:/api/v1/search/jobs analyze:/api/v1/analyze/job; do
  code=$(head -n1 "$WORK/${f%%:*}" | curl -s -o "$WORK/probe" -w '%{http_code}' -X POST \
    -H 'content-type: application/json' --data-binary @- "$BASE${f#*:}")
  [ "$code" = 200 ] || { echo "probe of ${f#*:} answered $code: $(cat "$WORK/probe")" >&2; exit 1; }
done
echo "warm-up (10 s)..." >&2
wrk -t1 -c8 -d10s -s scripts/wrk_mixed.lua "$BASE" >/dev/null
echo "RSS after warm-up: $(rss) kB"
echo "jobs index: $(index)"

FAILED=0
# oha_run NAME RATE CONN DURATION PATH BODIES: one fixed-rate stream, report in $WORK/out_NAME.
oha_run() {
  local db=()
  [ -z "${OHA_DB_DIR:-}" ] || db=(--db-url "$OHA_DB_DIR/$1.db")
  oha --no-tui -z "$4" -c "$3" -q "$2" --latency-correction "${db[@]}" -m POST \
    -H 'content-type: application/json' -Z "$6" "$BASE$5" >"$WORK/out_$1" 2>&1
}
# summary NAME: the lines of oha's report that matter, and a failure if any request failed.
summary() {
  echo "--- $1"
  grep -E "Success rate|Requests/sec|Total:|Slowest|Fastest|Average|^ +(50|90|99|99.9|99.99)(\.00)?% in|^\s+\[[0-9]{3}\] [0-9]+ responses|Error distribution|^\s+\[[0-9]+\] " "$WORK/out_$1" || cat "$WORK/out_$1"
  if grep -qE "^\s+\[[0-9]+\] .*(error|refused|reset|timed out)" "$WORK/out_$1" ||
    grep -E "^\s+\[[0-9]{3}\] [0-9]+ responses" "$WORK/out_$1" | grep -vq "\[200\]"; then
    echo "!!! $1 had failed requests"
    FAILED=1
  fi
}

# mix PREFIX DURATION REC SEARCH ANALYZE: the three fixed-rate streams at once (their pids in
# A, B, C; reports in $WORK/out_PREFIXrec etc.). mix_summary PREFIX: their reports.
mix() {
  oha_run "${1}rec" "$3" 32 "$2" /api/v1/recommend/jobs "$WORK/rec" &
  A=$!
  oha_run "${1}search" "$4" 16 "$2" /api/v1/search/jobs "$WORK/search" &
  B=$!
  oha_run "${1}analyze" "$5" 8 "$2" /api/v1/analyze/job "$WORK/analyze" &
  C=$!
}
mix_summary() {
  summary "${1}rec"
  summary "${1}search"
  summary "${1}analyze"
}

# The burst, alone: re-analyses (wrk, 4 connections) until a full rebuild of the jobs index
# is due (the tail past a quarter of the frozen graph, or tombstones past a fifth of the
# positions; EngineOptions). At most 10 minutes.
burst_until_due() {
  ONLY=analyze wrk -t1 -c4 -d10m -s scripts/wrk_mixed.lua "$BASE" >"$WORK/burst" 2>&1 &
  local w=$!
  while kill -0 $w 2>/dev/null; do
    local tp fp ts
    tp=$(tail_points) fp=$(frozen_points) ts=$(tombstones)
    if awk -v t="$tp" -v f="$fp" -v d="$ts" 'BEGIN{exit !(t > f/4 + 64 || d*5 > (f+t) + 64)}'; then
      kill $w
      break
    fi
    sleep 1
  done
  wait $w 2>/dev/null || true
}

for phase in $PHASES; do
  case $phase in
  throughput)
    echo "=== throughput: wrk -t2 -c$CONN -d$DURATION --latency -s scripts/wrk_mixed.lua (70% recommend, 20% search, 10% analyze)"
    wrk -t2 -c"$CONN" -d"$DURATION" --latency -s scripts/wrk_mixed.lua "$BASE" | tee "$WORK/wrk"
    if grep -qE "Non-2xx|Socket errors" "$WORK/wrk"; then
      echo "!!! wrk saw errors"
      FAILED=1
    fi
    echo "RSS after throughput: $(rss) kB"
    echo "jobs index: $(index)"
    ;;
  rate)
    echo "=== rate: recommendations $REC_RATE/s (c32), searches $SEARCH_RATE/s (c16), analyses $ANALYZE_RATE/s (c8), $DURATION, oha --latency-correction"
    mix "" "$DURATION" "$REC_RATE" "$SEARCH_RATE" "$ANALYZE_RATE"
    wait $A $B $C
    mix_summary ""
    echo "RSS after rate: $(rss) kB"
    echo "jobs index: $(index)"
    ;;
  soak)
    r1=$(awk "BEGIN{print int($REC_RATE*$SOAK_FACTOR)}")
    r2=$(awk "BEGIN{print int($SEARCH_RATE*$SOAK_FACTOR)}")
    r3=$(awk "BEGIN{print int($ANALYZE_RATE*$SOAK_FACTOR)}")
    if [ "$SOAK_WARM" = rebuild ]; then
      # Start from the bottom of the saw with the bounded caches full: a burst of re-analyses
      # until a full rebuild is due (it writes through redb's page cache far more than its
      # 64 MiB), then recommendations only — no writes, so the soak starts with an empty tail —
      # until that rebuild is built, swapped in, written out and compacted, then a pass of
      # recommendations over every user (the feature cache refills what the burst changed).
      before=$(rebuilds)
      t0=$(date +%s)
      burst_until_due
      echo "soak warm-up: a burst of re-analyses made a full rebuild due in $(( $(date +%s) - t0 )) s; RSS $(rss) kB"
      until rebuilt_since "$before"; do
        [ $(( $(date +%s) - t0 )) -lt 1200 ] || { echo "!!! the warm-up's rebuild did not finish in 20 minutes"; exit 1; }
        ONLY=recommend wrk -t1 -c8 -d5s -s scripts/wrk_mixed.lua "$BASE" >/dev/null
      done
      echo "soak warm-up: the full rebuild done at $(( $(date +%s) - t0 )) s; RSS $(rss) kB"
      oha --no-tui -n 20000 -c 8 -m POST -H 'content-type: application/json' -Z "$WORK/rec" \
        "$BASE/api/v1/recommend/jobs" >/dev/null
      echo "soak warm-up done in $(( $(date +%s) - t0 )) s; RSS $(rss) kB ($(rss_split); $(store_cache)); jobs index: $(index)"
    fi
    echo "=== soak: $SOAK at recommendations $r1/s, searches $r2/s, analyses $r3/s; RSS every 30 s"
    mix soak_ "$SOAK" "$r1" "$r2" "$r3"
    SAMPLES=()
    AFTER_REBUILD=()
    seen=$(rebuilds)
    while kill -0 $A 2>/dev/null; do
      SAMPLES+=("$(rss)")
      echo "  t=$(( (${#SAMPLES[@]} - 1) * 30 ))s RSS $(rss) kB ($(rss_split); $(store_cache)); $(index)"
      # The first sample after each full rebuild is done: the bottom of the saw (the writes
      # since the last rebuild are what the process holds above its base).
      if rebuilt_since "$seen"; then
        AFTER_REBUILD+=("t=$(( (${#SAMPLES[@]} - 1) * 30 ))s $(rss) kB")
        seen=$(rebuilds)
      fi
      sleep 30
    done
    wait $A $B $C
    mix_summary soak_
    first=${SAMPLES[1]:-${SAMPLES[0]}}
    last=$(rss)
    echo "soak RSS: first sample after warm-up $first kB, last $last kB, growth $(awk "BEGIN{printf \"%.1f\", ($last-$first)*100/$first}")%"
    [ ${#AFTER_REBUILD[@]} = 0 ] || echo "soak RSS right after each full rebuild: ${AFTER_REBUILD[*]}"
    ;;
  rebuild)
    before=$(rebuilds)
    t0=$(date +%s)
    burst_until_due
    echo "=== rebuild: a burst of re-analyses made a full rebuild due in $(( $(date +%s) - t0 )) s ($(index))"
    echo "    then $REBUILD_WINDOW at recommendations $REC_RATE/s, searches $SEARCH_RATE/s, analyses $ANALYZE_RATE/s while it is built, swapped in and persisted"
    t0=$(date +%s)
    mix rb_ "$REBUILD_WINDOW" "$REC_RATE" "$SEARCH_RATE" "$ANALYZE_RATE"
    while kill -0 $A 2>/dev/null; do
      if rebuilt_since "$before"; then
        echo "full rebuild and persist done at t=$(( $(date +%s) - t0 )) s; RSS $(rss) kB ($(rss_split))"
        break
      fi
      sleep 1
    done
    [ "$(rebuilds)" != "$before" ] || {
      echo "!!! the rebuild had not finished when the window ended"
      FAILED=1
    }
    wait $A $B $C
    mix_summary rb_
    echo "jobs index: $(index)"
    ;;
  *) echo "unknown phase $phase" >&2; exit 2 ;;
  esac
done
[ "$FAILED" = 0 ] || { echo "FAILED: some requests failed" >&2; exit 1; }
echo "all phases: 0 failed requests"
