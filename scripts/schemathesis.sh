#!/usr/bin/env bash
# Property-based API test: schemathesis (pinned, from PyPI) against the service's own
# `/openapi.json`, every operation, all phases (examples, coverage, fuzzing, stateful via the
# document's links), on 127.0.0.1 only.
#
# Three runs, each on a fresh temp data dir with the sample data on and no LLM (analyses are the
# rule-based fallbacks; chat answers its documented 503 `llm_unavailable`):
#   open  — JWT_SECRET unset (auth off);
#   auth  — JWT_SECRET set (random), every request carrying a valid `admin` token minted here
#           (HS256 computed in Python, the same bytes as `JwtKey::sign`);
#   user  — the same with a plain `user` token for user 900001 (the owner of sample resume
#           900001): the ownership checks, 403s and the scoping of resume searches.
#
# Checks: not_a_server_error, status_code_conformance, content_type_conformance,
# response_schema_conformance, plus `chat_5xx_is_llm_unavailable` (below). The only 5xx allowed
# anywhere is 503 `llm_unavailable` from the two chat turns (POST /api/v1/chat, /api/v1/ai/chat):
# documented in docs/API.md ("503 ... e.g. chat without an LLM"); any other 5xx fails the run.
#
# The service binary is the debug build (`cargo build --bin jobfirst-ai`: the dev profile, our
# crate at opt-level 1 and dependencies at 3), in the shared target dir unless CARGO_TARGET_DIR
# says otherwise.
#
# Usage: scripts/schemathesis.sh
# Environment (all optional):
#   ST_MAX_EXAMPLES  test cases per operation and phase (default 200)
#   ST_MAX_TIME      hard bound per run in seconds (default 1500); a run cut short fails
#   ST_RUNS          which runs, in order (default "open auth user")
#   ST_PHASES        schemathesis phases (default examples,coverage,fuzzing,stateful)
#   ST_WORKERS       concurrent schemathesis workers (default 2)
#   ST_SEED          schemathesis seed (default: random, printed by schemathesis)
#   ST_STRICT=1      also exit non-zero when another check fails (default: only server errors)
#   ST_SKIP_BUILD=1  use the binary already built
# Reports (JUnit, JSON, NDJSON events, service log, /metrics) land in
# target/schemathesis-report/<UTC time>/<run>/.
#
# Exit status: 0 when no server error was seen (and, with ST_STRICT=1, no check failed);
# 1 on a server error or a failed/cut-short run; 2 on a setup failure.

set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

MAX_EXAMPLES=${ST_MAX_EXAMPLES:-200}
MAX_TIME=${ST_MAX_TIME:-1500}
RUNS=${ST_RUNS:-open auth user}
PHASES=${ST_PHASES:-examples,coverage,fuzzing,stateful}
WORKERS=${ST_WORKERS:-2}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=$ROOT/target/schemathesis-venv
BIN=$TARGET_DIR/debug/jobfirst-ai
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
REPORT_ROOT=$ROOT/target/schemathesis-report/$STAMP

say() { printf '\n== %s\n' "$*" >&2; }
die() {
    printf 'schemathesis.sh: %s\n' "$*" >&2
    exit 2
}

command -v curl >/dev/null || die "curl is needed"

# The venv's Python: the newest of ST_PYTHON, a pyenv 3.13 or 3.12, python3.13, python3.12,
# python3. (CPython before 3.12.4/3.13 can raise "AST constructor recursion depth mismatch"
# inside Hypothesis, which schemathesis reports as an error of the operation it was testing.)
pick_python() {
    if [[ -n ${ST_PYTHON:-} ]]; then
        command -v "$ST_PYTHON" || die "ST_PYTHON=$ST_PYTHON not found"
        return
    fi
    local c best= best_v=0 v
    for c in "$(pyenv root 2>/dev/null)"/versions/3.1[23]*/bin/python3 python3.13 python3.12 python3; do
        command -v "$c" >/dev/null 2>&1 || continue
        v=$("$c" -c 'import sys; print(sys.version_info[0] * 100 + sys.version_info[1])' 2>/dev/null) ||
            continue
        if ((v >= 310 && v > best_v)); then
            best=$(command -v "$c")
            best_v=$v
        fi
    done
    [[ -n $best ]] || die "python3 (3.10 or newer) is needed"
    echo "$best"
}
PYTHON=$(pick_python)
py_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

# --- (a) the venv -----------------------------------------------------------------------------
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION" ||
    [[ $(py_version "$VENV/bin/python") != $(py_version "$PYTHON") ]]; then
    say "creating $VENV ($PYTHON) with schemathesis==$SCHEMATHESIS_VERSION"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" || die "cannot create the venv"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION" || die "cannot install schemathesis"
fi
ST_VERSION=$("$VENV/bin/schemathesis" --version)
PY=$VENV/bin/python

# --- (b) the service --------------------------------------------------------------------------
if [[ ${ST_SKIP_BUILD:-0} != 1 ]]; then
    say "cargo build --bin jobfirst-ai (debug, target dir $TARGET_DIR)"
    cargo build --bin jobfirst-ai || die "build failed"
fi
[[ -x $BIN ]] || die "no binary at $BIN"

mkdir -p "$REPORT_ROOT"

# schemathesis configuration and hooks, shared by the runs.
cat >"$REPORT_ROOT/schemathesis.toml" <<'EOF'
# Chat turns answer 503 llm_unavailable without an LLM (docs/API.md); the hook
# `chat_5xx_is_llm_unavailable` fails any other 5xx of theirs.
[[operations]]
include-name = ["POST /api/v1/chat", "POST /api/v1/ai/chat"]
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]

# Stateful testing follows the document's links (analyse → get/delete, start-analysis → result,
# sessions → messages) and the inferred ones, in scenarios of up to 12 calls.
[phases.stateful]
max-steps = 12
EOF
cat >"$REPORT_ROOT/st_hooks.py" <<'EOF'
import schemathesis

CHAT_TURNS = {"/api/v1/chat", "/api/v1/ai/chat"}


@schemathesis.check
def chat_5xx_is_llm_unavailable(ctx, response, case):
    """A chat turn's only 5xx is the documented 503 llm_unavailable (no LLM configured)."""
    if case.operation.path not in CHAT_TURNS or response.status_code < 500:
        return None
    code = None
    try:
        code = response.json().get("code")
    except Exception:
        pass
    if response.status_code != 503 or code != "llm_unavailable":
        raise AssertionError(
            f"{case.operation.label}: {response.status_code} {code!r}, "
            "only 503 llm_unavailable is expected without an LLM"
        )
    return None
EOF

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# mint_token <secret> <user_id> <role>: an HS256 token with the claims the service reads (the
# same encoding as JwtKey::sign), valid for six hours.
mint_token() {
    "$PY" - "$@" <<'EOF'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(b'{"alg":"HS256","typ":"JWT"}')
claims = {"user_id": int(sys.argv[2]), "username": "schemathesis", "role": sys.argv[3],
          "exp": int(time.time()) + 6 * 3600}
body = b64(json.dumps(claims, separators=(",", ":")).encode())
sig = b64(hmac.new(sys.argv[1].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
EOF
}

SERVICE_PID=
DATA_DIR=
stop_service() {
    if [[ -n $SERVICE_PID ]]; then
        kill "$SERVICE_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVICE_PID" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "$SERVICE_PID" 2>/dev/null || true
        wait "$SERVICE_PID" 2>/dev/null || true
        SERVICE_PID=
    fi
    if [[ -n $DATA_DIR ]]; then
        rm -rf "$DATA_DIR"
        DATA_DIR=
    fi
}
trap stop_service EXIT
trap 'stop_service; exit 130' INT TERM

# start_service <report dir> [jwt secret]: sets PORT, SERVICE_PID, DATA_DIR.
start_service() {
    local dir=$1 secret=${2:-}
    DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/jobfirst-st.XXXXXX")
    PORT=$(free_port)
    local -a envs=(
        "PATH=$PATH" "HOME=${HOME:-/root}" "RUST_LOG=${RUST_LOG:-info}"
        "AI_DATA_DIR=$DATA_DIR" "AI_SERVICE_PORT=$PORT" "AI_SERVICE_HOST=127.0.0.1"
        "AI_SAMPLE_DATA=true" "LLM_PROVIDER=none" "EMBEDDING_PROVIDER=builtin"
    )
    [[ -n $secret ]] && envs+=("JWT_SECRET=$secret")
    # A clean environment: no database, LLM or secret the caller's shell may have set.
    env -i "${envs[@]}" "$BIN" serve >"$dir/service.log" 2>&1 &
    SERVICE_PID=$!
    local t0=$SECONDS
    until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health") == 200 ]]; do
        kill -0 "$SERVICE_PID" 2>/dev/null || {
            tail -20 "$dir/service.log" >&2
            die "the service exited at start"
        }
        ((SECONDS - t0 < 600)) || die "the service was not ready within 600 s"
        sleep 0.5
    done
    echo "service ready on 127.0.0.1:$PORT in $((SECONDS - t0)) s (pid $SERVICE_PID)" >&2
}

# summarise <report dir> <exit code> <seconds> <timed out 0|1>: prints one run's figures and
# returns 1 when the run must fail.
summarise() {
    "$PY" - "$@" "${ST_STRICT:-0}" <<'EOF'
import collections, json, re, sys
from pathlib import Path

d, code, secs = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
timed_out, strict = sys.argv[4] == "1", sys.argv[5] == "1"

# Server side: every response the service sent, by route and status (its own /metrics).
fivexx, requests = collections.Counter(), 0
metrics = d / "metrics.txt"
for line in metrics.read_text().splitlines() if metrics.exists() else []:
    m = re.match(r'http_requests_total\{method="(\w+)",route="([^"]*)",status="(\d+)"\} (\d+)', line)
    if m:
        requests += int(m[4])
        if int(m[3]) >= 500:
            fivexx[(m[1], m[2], int(m[3]))] += int(m[4])
allowed = {("POST", "/api/v1/chat", 503), ("POST", "/api/v1/ai/chat", 503)}
unexpected = sum(c for k, c in fivexx.items() if k not in allowed)

# Client side: schemathesis' check results per check (NDJSON events) and its run report.
checks = collections.defaultdict(collections.Counter)
ndjson = d / "events.ndjson"
for line in ndjson.read_text().splitlines() if ndjson.exists() else []:
    body = json.loads(line).get("ScenarioFinished")
    if body:
        for case_checks in body.get("recorder", {}).get("checks", {}).values():
            for ch in case_checks:
                checks[ch["name"]][ch["status"].lower()] += 1
try:
    report = json.loads((d / "report.json").read_text())
except (OSError, ValueError):
    report = {}
ops = report.get("operations") or {}
cases = report.get("test_cases") or {}
failed = {name: c["failure"] for name, c in checks.items() if c["failure"]}
errors = sum(e["count"] for e in report.get("errors", []))
print(f"  schemathesis exit code:  {code}{' (cut short by the time bound)' if timed_out else ''}")
print(f"  wall time:               {secs} s")
print(f"  operations tested:       {ops.get('tested', '?')} of {ops.get('total', '?')} (errored {ops.get('errored', '?')})")
print(f"  test cases generated:    {cases.get('generated', '?')} ({cases.get('with_failures', '?')} with failures)")
print(f"  requests served:         {requests} (the service's /metrics)")
print("  checks (failed/run):     " + ", ".join(f"{n} {c['failure']}/{sum(c.values())}" for n, c in sorted(checks.items())))
for f in report.get("failures", []):
    print(f"    {f['code']} {f['title']}: {f['count']} in {', '.join(f['operations'])}")
print(f"  errors:                  {errors}" + "".join(f"\n    {e['title']}: {e['count']}" for e in report.get("errors", [])))
print(f"  5xx responses:           {sum(fivexx.values())} ({unexpected} not documented)" + "".join(
    f"\n    {m} {r} {s}: {c}{'  (documented: 503 llm_unavailable, no LLM configured)' if (m, r, s) in allowed else ''}"
    for (m, r, s), c in sorted(fivexx.items())))
server_error = unexpected or failed.get("not_a_server_error") or failed.get("chat_5xx_is_llm_unavailable")
# Errors are schemathesis' own (an operation it could not finish): reported, fatal with ST_STRICT=1.
bad = timed_out or not report.get("complete") or server_error or (strict and (failed or errors or code != 0))
sys.exit(1 if bad else 0)
EOF
}

overall=0
TOTAL_T0=$SECONDS
declare -a SUMMARIES=()
for run in $RUNS; do
    dir=$REPORT_ROOT/$run
    mkdir -p "$dir"
    secret=
    headers=()
    case $run in
    open) ;;
    auth | user)
        secret=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')
        if [[ $run == auth ]]; then
            token=$(mint_token "$secret" 1 admin)
        else
            token=$(mint_token "$secret" 900001 user)
        fi
        headers=(-H "Authorization: Bearer $token")
        ;;
    *) die "unknown run '$run' (open, auth, user)" ;;
    esac
    say "run '$run': starting the service"
    start_service "$dir" "$secret"
    say "run '$run': schemathesis against http://127.0.0.1:$PORT/openapi.json"
    t0=$SECONDS
    set +e
    # --output-sanitize false: the token is random per run and reports stay in target/.
    # From the run's directory: schemathesis keeps its crash cache in ./.schemathesis.
    (cd "$dir" && timeout --signal=INT --kill-after=30 "$MAX_TIME" \
        env PYTHONPATH="$REPORT_ROOT" SCHEMATHESIS_HOOKS=st_hooks \
        "$VENV/bin/schemathesis" --config-file "$REPORT_ROOT/schemathesis.toml" run \
        "http://127.0.0.1:$PORT/openapi.json" \
        --checks "$CHECKS,chat_5xx_is_llm_unavailable" \
        --phases "$PHASES" \
        --max-examples "$MAX_EXAMPLES" \
        --workers "$WORKERS" \
        --request-timeout 30 \
        --continue-on-failure \
        --suppress-health-check too_slow,filter_too_much,data_too_large \
        --generation-database none \
        --output-sanitize false \
        --no-color \
        ${ST_SEED:+--seed "$ST_SEED"} \
        --report junit,ndjson,json \
        --report-junit-path "$dir/junit.xml" \
        --report-ndjson-path "$dir/events.ndjson" \
        --report-json-path "$dir/report.json" \
        "${headers[@]}") 2>&1 | tee "$dir/schemathesis.log"
    code=${PIPESTATUS[0]}
    set -e
    secs=$((SECONDS - t0))
    timed_out=0
    ((code == 124 || code == 130 || code == 137)) && timed_out=1
    curl -s "http://127.0.0.1:$PORT/metrics" >"$dir/metrics.txt" || true
    stop_service
    say "run '$run' summary"
    set +e
    summary=$(summarise "$dir" "$code" "$secs" "$timed_out")
    rc=$?
    set -e
    echo "$summary"
    SUMMARIES+=("run '$run' ($([[ $rc == 0 ]] && echo PASS || echo FAIL)):"$'\n'"$summary")
    ((rc == 0)) || overall=1
done

say "summary ($ST_VERSION, max $MAX_EXAMPLES examples per operation, phases $PHASES, total $((SECONDS - TOTAL_T0)) s; reports in $REPORT_ROOT)"
printf '%s\n' "${SUMMARIES[@]}"
exit $overall
