#!/usr/bin/env bash
# The chaos soak: a real fleet (lorafleet up) trains a sweep of many short trials while this
# script SIGKILLs random worker ranks of this fleet (by pid) and SIGKILLs and restarts the
# coordinator, then check_soak.py checks from the store, the audit log, the API and the worker
# log that every trial completed exactly once or failed with a reason, that no metric the
# coordinator had served was lost, that every adapter's sha256 is intact and that no trial was
# held (leased, or trained) by two workers at once.
#
# A killed rank does not come back by design (mpirun --enable-recovery keeps the others; nothing
# restarts it), so, as an operator would, the soak starts a replacement rank with the same mpirun
# command line `lorafleet up` used (one rank). The coordinator is restarted with its own command
# line on the same worker endpoint, as coordinator_restart_test.sh does; the workers reconnect.
#
# usage: soak.sh BIN_DIR [--trials N] [--worker-kills N] [--restarts N] [--workers N]
#                        [--steps N] [--deadline SECONDS] [--seed N]
# (or SOAK_TRIALS, SOAK_WORKER_KILLS, SOAK_RESTARTS, SOAK_WORKERS, SOAK_STEPS, SOAK_DEADLINE,
# SOAK_SEED). `make soak` runs the full version; ctest's soak.short a small one.
# The figures go to stdout and, as JSON, to $SOAK_REPORT when set. LF_IT_KEEP=1 keeps the folder.

bin_arg=${1:?usage: soak.sh BIN_DIR [--trials N] [--worker-kills N] [--restarts N] ...}
shift
trials_wanted=${SOAK_TRIALS:-200}
kills_wanted=${SOAK_WORKER_KILLS:-100}
restarts_wanted=${SOAK_RESTARTS:-20}
workers=${SOAK_WORKERS:-4}
steps=${SOAK_STEPS:-100}
deadline=${SOAK_DEADLINE:-3000}
seed=${SOAK_SEED:-$(date +%s)}
while (($# > 0)); do
  case $1 in
    --trials) trials_wanted=$2 ;;
    --worker-kills) kills_wanted=$2 ;;
    --restarts) restarts_wanted=$2 ;;
    --workers) workers=$2 ;;
    --steps) steps=$2 ;;
    --deadline) deadline=$2 ;;
    --seed) seed=$2 ;;
    *) echo "soak.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift 2
done
# A worker silent this long is lost; short, so a killed rank's trial moves on quickly.
heartbeat_timeout=${SOAK_HEARTBEAT_TIMEOUT:-2}

LF_IT_DEADLINE=$deadline
source "$(dirname "$0")/../integration/lib.sh"
lf_begin "$bin_arg" soak
soak_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RANDOM=$seed
echo "  soak: $trials_wanted trials of $steps steps, $workers ranks, $kills_wanted worker kills," \
  "$restarts_wanted coordinator restarts, deadline ${deadline}s, seed $seed"

chaos=$tmp/chaos  # what the soak did, for the checker: kills, restarts, sampled metrics
mkdir -p "$chaos"
now_ms() { date +%s%3N; }

fleet_up --workers "$workers" --heartbeat-timeout "$heartbeat_timeout"

# The command lines to start a coordinator and one replacement rank again.
mapfile -d '' -t daemon_argv <"/proc/$coordinator_pid/cmdline"
[[ ${daemon_argv[0]} == */lorafleetd ]] || fail "pid $coordinator_pid is not lorafleetd"
for i in "${!daemon_argv[@]}"; do
  [[ ${daemon_argv[i]} == --workers ]] && daemon_argv[i + 1]=$workers_endpoint
done
# A replacement is a launch of one rank, which would take every core for its torch threads; it
# gets the share the ranks of `up` have (device.h: CpuThreads).
mapfile -d '' -t up_argv <"/proc/$mpirun_pid/cmdline"
rank_argv=()
for i in "${!up_argv[@]}"; do
  if [[ ${up_argv[i]} == */lorafleet-worker ]]; then
    rank_argv+=(-x OMP_NUM_THREADS)
  fi
  rank_argv+=("${up_argv[i]}")
  [[ ${up_argv[i]} == -np ]] && up_argv[i + 1]=1
done
export OMP_NUM_THREADS=$(($(nproc) / workers > 0 ? $(nproc) / workers : 1))

# Random search over a few LoRA settings: every trial is different, all are short. Evaluated at
# the end only, checkpointed often, so a killed attempt resumes from a recent step.
sweep_file "$tmp/sweep.yaml" soak "$steps" 10 '  lora.r: [1, 2, 4]
  train.lr: {loguniform: [1.0e-3, 5.0e-3]}' "search: random
seed: $seed
num_samples: $trials_wanted
max_retries: 3"
run_ok "submit $trials_wanted trials" lf submit "$tmp/sweep.yaml" --json
sweep=$(jget 'j["sweep"]["id"]' <<<"$out")
jget 'lines:[t["id"] for t in j["trials"]]' <<<"$out" >"$chaos/submitted.txt"
expect_eq "$(wc -l <"$chaos/submitted.txt")" "$trials_wanted" "trials acknowledged by submit"
t_start=$SECONDS

# ---- chaos ------------------------------------------------------------------------------------

kills=0 restarts=0 replacements=0
declare -A killed
last_kill=0 last_restart=0 finished=0
coordinator_up=1

# The lorafleet-worker processes of this fleet (the sessions this script started), one a line.
# One ps for all: the soak starts a session per replacement rank, and lib.sh's fleet_processes
# (a ps per session and per process) takes seconds once there are a hundred.
fleet_ranks() {
  ps -e -o pid=,sid=,stat=,comm= | awk -v sids=" ${lf_sessions[*]} " \
    'index(sids, " " $2 " ") && $3 !~ /^Z/ && $4 ~ /^lorafleet-worke/ { print $1 }'
}

# Starts one rank, as `lorafleet up` starts them, in a session of its own that the trap stops.
start_rank() {
  setsid "${rank_argv[@]}" >>"$home/logs/workers.log" 2>&1 </dev/null &
  lf_track_session $!
  disown $!  # no "Killed" line from bash when the soak kills it
  ((replacements++))
}

kill_rank() {
  local ranks victim
  mapfile -t ranks < <(fleet_ranks | while read -r p; do [[ -z ${killed[$p]:-} ]] && echo "$p"; done)
  ((${#ranks[@]} > 0)) || return 1
  victim=${ranks[RANDOM % ${#ranks[@]}]}
  kill -9 "$victim" 2>/dev/null || return 1
  killed[$victim]=1  # it may be listed a moment longer, until it is reaped
  echo "$(now_ms) $victim" >>"$chaos/kills.txt"
  ((kills++))
  last_kill=$SECONDS
  start_rank  # the operator's replacement: another rank on the same endpoint
}

# SIGKILLs the coordinator, leaves the workers without one for 0-2 s, starts it again with the
# same command line and waits until it answers.
restart_coordinator() {
  local old new killed_ms
  old=$(jget 'j["pid"]' <"$home/coordinator.json" 2>/dev/null)
  [[ -n $old ]] && pid_alive "$old" || fail "no coordinator to kill (coordinator.json: $old)"
  kill -9 "$old"
  killed_ms=$(now_ms)
  local start=$SECONDS
  while pid_alive "$old"; do
    ((SECONDS - start > 10)) && fail "coordinator $old still alive 10 s after SIGKILL"
    sleep 0.05
  done
  sleep "0.$((RANDOM % 20))"
  setsid "${daemon_argv[@]}" >>"$home/logs/coordinator.log" 2>&1 </dev/null &
  new=$!
  lf_track_session "$new"
  disown "$new"
  start=$SECONDS
  until [[ $(jget 'j["pid"]' <"$home/coordinator.json" 2>/dev/null) == "$new" ]] &&
    lf sweeps --json >/dev/null 2>&1; do
    pid_alive "$new" || fail "the restarted coordinator (pid $new) exited"
    ((SECONDS - start > 60)) && fail "the restarted coordinator (pid $new) did not answer in 60 s"
    sleep 0.1
  done
  echo "$killed_ms $(now_ms) $old $new" >>"$chaos/restarts.txt"
  ((restarts++))
  last_restart=$SECONDS
}

# Remembers the metrics the coordinator serves for up to two running trials: each must still be
# there at the end (check_soak.py), whatever was killed in between.
sample_metrics() {
  python3 "$soak_dir/check_soak.py" sample --home "$home" --limit 2 \
    >>"$chaos/acked_metrics.jsonl" 2>>"$tmp/cli-errors.log" || true
}

# Kills run ahead of the sweep's progress, so the counts are reached before it finishes: after
# a fraction p of the trials has finished, the soak wants p + lead of its kills done.
lead=25  # percent
kill_gap=${SOAK_KILL_GAP:-1}     # seconds between two worker kills, at least
restart_gap=${SOAK_RESTART_GAP:-6}  # and between two coordinator restarts
last_progress=$SECONDS last_finished=-1 stall_limit=180 round=0
while :; do
  if counts=$(lfj '[j["sweep"]["state"], sum(j["sweep"]["counts"][s] for s in
      ("completed", "failed", "cancelled", "stopped"))]' status "$sweep"); then
    state=$(jget 'j[0]' <<<"$counts")
    finished=$(jget 'j[1]' <<<"$counts")
    [[ $state == finished || $state == cancelled ]] && break
  fi
  if ((finished != last_finished)); then
    last_finished=$finished last_progress=$SECONDS
  elif ((SECONDS - last_progress > stall_limit)); then
    fail "no trial finished for ${stall_limit} s ($finished of $trials_wanted finished)"
  fi
  pct=$((100 * finished / trials_wanted + lead))
  ((pct > 100)) && pct=100
  # Behind: up to 8 kills at once (a round takes several seconds on a busy machine, a restart
  # most of them).
  behind=$(((kills_wanted * pct + 99) / 100 - kills))
  if ((behind > 0 && SECONDS - last_kill >= kill_gap)); then
    for ((k = 0; k < (behind < 8 ? behind : 8); k++)); do kill_rank; done
  fi
  if ((restarts * 100 < restarts_wanted * pct && SECONDS - last_restart >= restart_gap)); then
    restart_coordinator
  fi
  ((++round % 3 == 0)) && sample_metrics
  sleep "0.$((2 + RANDOM % 6))"
done
sweep_s=$((SECONDS - t_start))
ok "the sweep finished in ${sweep_s} s: $kills worker kills, $restarts coordinator restarts," \
  "$replacements replacement ranks"
grep -E "refused|lease kept|did not reclaim|no longer its" "$home/logs/coordinator.log" |
  sed 's/^/    log: /' | tail -n 20

# ---- checks -----------------------------------------------------------------------------------

"$bin/lorafleet-store" trials --store "$home/store" --json >"$chaos/store_trials.json" ||
  fail "lorafleet-store trials"
"$bin/lorafleet-store" events --store "$home/store" --limit 100000000 --json \
  >"$chaos/store_events.json" || fail "lorafleet-store events"
report_args=(--home "$home" --chaos "$chaos" --sweep "$sweep" --trials "$trials_wanted"
  --kills "$kills" --restarts "$restarts" --wall-s "$sweep_s"
  --want-kills "$kills_wanted" --want-restarts "$restarts_wanted")
[[ -n ${SOAK_REPORT:-} ]] && report_args+=(--report "$SOAK_REPORT")
python3 "$soak_dir/check_soak.py" check "${report_args[@]}"
check_rc=$?

fleet_down
# The replacement ranks are in sessions of their own, which `down` does not know: SIGTERM them
# as `down` does (they hold nothing now), then the trap kills whatever is left.
mapfile -t left < <(fleet_ranks)
((${#left[@]} > 0)) && kill -TERM "${left[@]}" 2>/dev/null
sleep 1
((check_rc == 0)) || fail "check_soak.py found violations (above)"
exit 0
