#!/usr/bin/env bash
# Rebuild-from-PostgreSQL benchmark (issue: databases): N jobs (default 100000), 4 named vectors
# each, 384 dims (built-in embedder), rule-based analysis.
#   1. generate N job bodies (scripts/gen_jobs.py),
#   2. `jobfirst-ai import --no-llm` into data dir A with PostgreSQL configured (waits until the
#      outbox is delivered),
#   3. start `jobfirst-ai serve` on an EMPTY data dir B with the same PostgreSQL and time from
#      process start until /health answers 200 (load + index build; the log has rows/s and
#      the graph build's steps; the index file is written after /health, in the background).
# Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust). Creates and drops jfai_bench_rebuild
# (KEEP=1 keeps it; REUSE=1 reuses a kept one of the same size instead of importing again).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
WORK=${WORK:-/tmp/jfai-bench-rebuild}
DB=jfai_bench_rebuild
URL="postgres://postgres@127.0.0.1:5432/$DB"
PORT=${PORT:-18206}
cargo build --release --quiet
BIN=target/release/jobfirst-ai
mkdir -p "$WORK"
[ -s "$WORK/jobs-$N.jsonl" ] || python3 scripts/gen_jobs.py --n "$N" --out "$WORK/jobs-$N.jsonl"
have=$(psql -h 127.0.0.1 -U postgres -d "$DB" -tA -c "SELECT count(*) FROM ai_entities" 2>/dev/null || echo 0)
if [ "${REUSE:-0}" = 1 ] && [ "$have" = "$N" ]; then
    echo "== reusing $DB with $N jobs (REUSE=1)"
else
    psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
    rm -rf "$WORK/a"
    echo "== import $N jobs into PostgreSQL (through the outbox)"
    t0=$(date +%s.%N)
    AI_DATA_DIR="$WORK/a" POSTGRES_URL="$URL" RUST_LOG=warn "$BIN" import --no-llm --jobs "$WORK/jobs-$N.jsonl"
    t1=$(date +%s.%N)
    echo "import + delivery: $(echo "$t1 - $t0" | bc) s"
fi
rm -rf "$WORK/b"
psql -q -h 127.0.0.1 -U postgres -d "$DB" -tA -c "SELECT 'ai_entities ' || count(*) FROM ai_entities" \
    -c "SELECT 'job_embeddings ' || count(*) FROM job_embeddings"
echo "== rebuild into an empty data dir"
t0=$(date +%s.%N)
AI_DATA_DIR="$WORK/b" POSTGRES_URL="$URL" AI_SERVICE_PORT=$PORT \
    RUST_LOG=info,jobfirst_ai::vector::graph=debug "$BIN" serve > "$WORK/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until [ "$(curl -s -o /dev/null -w '%{http_code}' "localhost:$PORT/health")" = 200 ]; do
    kill -0 $pid 2>/dev/null || { cat "$WORK/serve.log"; exit 1; }
    sleep 0.2
done
t1=$(date +%s.%N)
echo "rebuild from PostgreSQL until /health 200: $(echo "$t1 - $t0" | bc) s"
grep -E "loaded from PostgreSQL|hnsw_rs insert|refine|rebuilt graphs|engine rebuilt" "$WORK/serve.log" | sed 's/\x1b\[[0-9;]*m//g'
curl -s -X POST "localhost:$PORT/api/v1/search/jobs" -H 'content-type: application/json' \
    -d '{"query": "算法工程师", "limit": 3}'
echo
kill $pid; wait $pid 2>/dev/null || true
# The index file is written in the background after /health; shutdown waits for it.
grep -E "index file written" "$WORK/serve.log" | sed 's/\x1b\[[0-9;]*m//g' || true
ls -l "$WORK/b/index"
[ "${KEEP:-0}" = 1 ] || psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
