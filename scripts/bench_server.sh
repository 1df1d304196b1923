# Sourced by the load scripts (load_mixed.sh, load_recommend.sh, mem_per_write.sh): the
# 100k-job bench data dir of benches/recommend.rs and the release binary serving it on
# 127.0.0.1. Reads JF_BENCH_JOBS (N), SKIP_BUILD, BIN, SERVER_LOG, RUST_LOG, CARGO_TARGET_DIR.
N=${JF_BENCH_JOBS:-100000}
TARGET=${CARGO_TARGET_DIR:-target}
BIN=${BIN:-$TARGET/release/jobfirst-ai}
SERVER_LOG=${SERVER_LOG:-/dev/stderr}

# Builds the bench data dir and the release binary (unless SKIP_BUILD); sets SRC to the dir.
bench_data() {
  if [ -z "${SKIP_BUILD:-}" ]; then
    JF_BENCH_JOBS=$N JF_BENCH_BUILD_ONLY=1 cargo bench --bench recommend >/dev/null
    cargo build --release --quiet
  fi
  SRC="$TARGET/bench-data/recommend-$N"
  [ -d "$SRC" ] || { echo "no bench data dir at $SRC (run without SKIP_BUILD)" >&2; exit 2; }
}

# serve DATA PORT: starts $BIN on DATA at 127.0.0.1:PORT in the background (PID set; the
# caller sets its own trap) and waits until /health answers (exits 1 if it never does).
serve() {
  AI_SAMPLE_DATA=false AI_TASK_WORKERS=0 RUST_LOG=${RUST_LOG:-warn} "$BIN" serve \
    --data-dir "$1" --port "$2" --host 127.0.0.1 >>"$SERVER_LOG" 2>&1 &
  PID=$!
  for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:$2/health" >/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "server did not start" >&2
  exit 1
}
