# Shared by the integration tests: each test starts a real coordinator (lorafleetd) and real
# `mpirun ... lorafleet-worker` ranks through `lorafleet up`, in its own home under a temp folder,
# on ports the kernel picks, so tests run in parallel. Whatever happens, the EXIT trap runs
# `lorafleet down` and then SIGKILLs what is left of the sessions this test started (by pid).
#
# usage, at the top of a test:  source "$(dirname "$0")/lib.sh"; lf_begin BIN_DIR NAME
# JSON is read with python3 (CI has it; the CLI tests use it too): `... --json | jget EXPR`.
set -uo pipefail

# How long a test may run before it fails itself (below ctest's TIMEOUT, so the trap still runs).
: "${LF_IT_DEADLINE:=240}"

lf_begin() {
  bin=$(cd "$1" && pwd) || { echo "FAIL: no bin dir '$1'"; exit 1; }
  lf_name=$2
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/lf_it_${lf_name}.XXXXXX")
  home=$tmp/home
  unset LORAFLEET_URL LORAFLEET_HOME
  lf_sessions=()  # session ids (setsid leaders) of the daemons and mpiruns this test started
  lf_t0=$SECONDS
  cd "$repo" || exit 1  # sweep paths are relative to where `lorafleet submit` runs
  trap lf_cleanup EXIT
  trap 'fail "interrupted (SIGINT or SIGTERM)"' INT TERM
  # A watchdog: fail (and clean up) before ctest kills the script and its trap with it.
  local me=$$
  (
    end=$((SECONDS + LF_IT_DEADLINE))
    while ((SECONDS < end)); do
      sleep 1
      kill -0 "$me" 2>/dev/null || exit 0
    done
    echo "FAIL: $lf_name ran longer than ${LF_IT_DEADLINE}s"
    kill -TERM "$me"
  ) &
  lf_watchdog=$!
  echo "== integration.$lf_name: home $home"
}

# ---- reporting -------------------------------------------------------------------------------

ok() { echo "ok   $*"; }

lf_dump_logs() {
  local f
  for f in "$home"/logs/*.log "$tmp/cli-errors.log"; do
    [[ -f $f ]] || continue
    echo "---- last 40 lines of $f"
    tail -n 40 "$f"
  done
}

fail() {
  echo "FAIL: $*"
  lf_dump_logs
  exit 1
}

# expect_eq ACTUAL WANT WHAT
expect_eq() {
  [[ "$1" == "$2" ]] || fail "$3: got '$1', want '$2'"
  ok "$3: $1"
}

# expect_true WHAT COMMAND...: COMMAND must succeed.
expect_true() {
  local what=$1
  shift
  "$@" || fail "$what"
  ok "$what"
}

# run_ok WHAT COMMAND...: runs COMMAND (a function such as lf, or `timeout N program ...`); it
# must exit 0. Its stdout is left in $out, its stderr in $err.
run_ok() {
  local what=$1 rc
  shift
  out=$("$@" 2>"$tmp/stderr")
  rc=$?
  err=$(cat "$tmp/stderr")
  if ((rc != 0)); then
    echo "$out" | tail -n 20
    echo "$err" | tail -n 20
    fail "$what: exit code $rc (command: $*)"
  fi
  ok "$what"
}

# ---- JSON ------------------------------------------------------------------------------------

# jget EXPR: evaluates the Python expression EXPR with `j` bound to the JSON document on stdin;
# strings print as they are, anything else as JSON (true, null, 3, [..]). A list or generator
# with `lines:` in front prints one element per line: jget 'lines:[t["id"] for t in j["trials"]]'.
jget() {
  python3 -c '
import json, sys
expr = sys.argv[1]
each = expr.startswith("lines:")
if each:
    expr = expr[len("lines:"):]
j = json.load(sys.stdin)
v = eval(expr, {"j": j, "json": json})
show = lambda x: x if isinstance(x, str) else json.dumps(x)
print("\n".join(show(x) for x in v) if each else show(v))
' "$1"
}

# ---- the fleet -------------------------------------------------------------------------------

# lf ARGS...: the CLI against this test's home (at most 60 s a call).
lf() { timeout 60 "$bin/lorafleet" "$@" --home "$home"; }

# lfj EXPR ARGS...: `lf ARGS... --json | jget EXPR`; fails quietly (status 1) when the call does.
lfj() {
  local expr=$1 json
  shift
  json=$(lf "$@" --json 2>>"$tmp/cli-errors.log") || return 1
  jget "$expr" <<<"$json"
}

lf_track_session() {
  [[ -n $1 && $1 != 0 ]] && lf_sessions+=("$1")
}

# fleet_up [ARGS...]: `lorafleet up` on any free ports (unless ARGS name them); sets url,
# coordinator_pid, mpirun_pid, workers_endpoint.
fleet_up() {
  local args=(--http 127.0.0.1:0 --worker-endpoint tcp://127.0.0.1:0 "$@")
  local json rc
  echo "  lorafleet up ${args[*]}"
  json=$(timeout 120 "$bin/lorafleet" up --home "$home" --json "${args[@]}" 2>"$tmp/up.err")
  rc=$?
  # Track what was started even when `up` failed, so the trap stops it.
  lf_track_session "$(cat "$home/coordinator.pid" 2>/dev/null)"
  lf_track_session "$(cat "$home/workers.pid" 2>/dev/null)"
  ((rc == 0)) || fail "lorafleet up: exit code $rc: $(cat "$tmp/up.err") $json"
  url=$(jget 'j["url"]' <<<"$json")
  coordinator_pid=$(jget 'j["coordinator_pid"]' <<<"$json")
  mpirun_pid=$(jget 'j["mpirun_pid"]' <<<"$json")
  workers_endpoint=$(jget 'j["workers_endpoint"]' <<<"$json")
  lf_track_session "$coordinator_pid"
  lf_track_session "$mpirun_pid"
  local want connected
  want=$(jget 'j["workers_requested"]' <<<"$json")
  connected=$(jget 'j["workers_connected"]' <<<"$json")
  [[ $url =~ ^http://127\.0\.0\.1:[1-9][0-9]*$ ]] || fail "up --json: url '$url' has no real port"
  [[ $workers_endpoint =~ ^tcp://127\.0\.0\.1:[1-9][0-9]*$ ]] ||
    fail "up --json: workers_endpoint '$workers_endpoint' has no real port"
  expect_eq "$connected" "$want" "workers connected after up ($url, $workers_endpoint)"
}

# The processes of the sessions this test started that are still alive (one pid a line).
fleet_processes() {
  local sid
  for sid in "${lf_sessions[@]}"; do
    ps -o pid= -s "$sid" 2>/dev/null
  done | sort -un | while read -r pid; do
    # A zombie is gone for our purposes (its parent has not reaped it yet).
    [[ $(ps -o stat= -p "$pid" 2>/dev/null) == Z* ]] || echo "$pid"
  done
}

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
  local s
  s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n $s && $s != Z* ]]
}

fleet_down() {
  run_ok "lorafleet down" timeout 120 "$bin/lorafleet" down --home "$home"
  echo "$out" | sed 's/^/    /'
}

lf_cleanup() {
  local rc=$? pids
  trap - EXIT INT TERM
  [[ -n ${lf_watchdog:-} ]] && kill "$lf_watchdog" 2>/dev/null
  if [[ -d ${home:-} ]]; then
    timeout 100 "$bin/lorafleet" down --home "$home" >"$tmp/cleanup-down.log" 2>&1
    pids=$(fleet_processes | tr '\n' ' ')
    if [[ -n ${pids// /} ]]; then
      echo "cleanup: killing leftover processes $pids"
      ps -o pid,cmd -p ${pids// /,} 2>/dev/null
      kill -9 $pids 2>/dev/null
    fi
  fi
  if ((rc == 0)); then
    echo "PASS integration.$lf_name in $((SECONDS - lf_t0)) s"
  else
    echo "FAILED integration.$lf_name after $((SECONDS - lf_t0)) s"
  fi
  if [[ -n ${LF_IT_KEEP:-} ]]; then
    echo "kept $tmp (LF_IT_KEEP is set)"
  elif [[ -n ${tmp:-} ]]; then
    rm -rf "$tmp"
  fi
  exit "$rc"
}

# ---- waiting ---------------------------------------------------------------------------------

# sweeps_reach STATES SWEEP...: true when every SWEEP's state is one of STATES (a space-separated
# list, e.g. "finished cancelled"); a predicate for wait_until.
sweeps_reach() {
  local states=" $1 " id st
  shift
  for id in "$@"; do
    st=$(lfj 'j["sweep"]["state"]' status "$id") || return 1
    [[ $states == *" $st "* ]] || return 1
  done
}

# expect_lost_then_completed_once TRIAL WORKER: the trial's events (left in `events`) record the
# loss of WORKER and exactly one completion.
expect_lost_then_completed_once() {
  run_ok "logs $1 --json" lf logs "$1" --json
  events=$(grep '"type":"event"' <<<"$out")
  expect_eq "$(grep -c -- '-> completed' <<<"$events")" 1 "$1: '-> completed' events"
  grep '"kind":"worker.lost"' <<<"$events" | grep -q "$2" ||
    fail "$1: no worker.lost event naming $2: $events"
}

# wait_until SECONDS WHAT COMMAND...: runs COMMAND every 0.3 s until it succeeds; fails the test
# naming WHAT after SECONDS.
wait_until() {
  local limit=$1 what=$2 start=$SECONDS
  shift 2
  until "$@"; do
    ((SECONDS - start >= limit)) && fail "timed out after ${limit} s waiting until $what"
    sleep 0.3
  done
  ok "$what (after $((SECONDS - start)) s)"
}

# A sweep file on the bundled model and medical data: sweep_file PATH NAME STEPS CHECKPOINT_EVERY
# SPACE_YAML [EXTRA_TOP_LEVEL_YAML]. Paths are relative to the repository root (the tests' cwd).
sweep_file() {
  cat >"$1" <<EOF
name: $2
base:
  base_model: examples/models/tiny-gpt2
  data:
    train: examples/data/medical/train.jsonl
    eval: examples/data/medical/eval.jsonl
    seq_len: 32
  method: lora
  lora: {r: 2, alpha: 8}
  train: {steps: $3, batch_size: 2, lr: 2.0e-3, checkpoint_every: $4, log_every: 1}
space:
$5
${6:-}
EOF
}
