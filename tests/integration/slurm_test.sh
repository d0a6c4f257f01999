#!/usr/bin/env bash
# cluster/slurm/lorafleet.sbatch, run for real on this machine as a one-node job with fake Slurm
# commands: scontrol (the node list), srun (SLURM_NTASKS local copies of the command, each with
# SLURM_PROCID/SLURM_LOCALID; as the real srun does, a SIGTERM to srun itself SIGKILLs its tasks)
# and scancel --signal (the signal to srun's tasks). Job 1: two ranks connect as ranks 0 and 1, a
# sweep completes, and SIGTERM to the script while a trial runs makes the workers checkpoint; the
# script exits 0 and leaves nothing running. Job 2 on the same home resumes that trial from the
# checkpoint. A LORAFLEET_BIN without lorafleetd, no Slurm job, or a lorafleetd that does not start
# fails at once, saying why.
# usage: slurm_test.sh BIN_DIR
source "$(dirname "$0")/lib.sh"
lf_begin "$1" slurm

script=$repo/cluster/slurm/lorafleet.sbatch
[[ -f $script ]] || fail "no $script"

# ---- fake Slurm commands ---------------------------------------------------------------------

fake=$tmp/fake-slurm
mkdir -p "$fake"
cat >"$fake/scontrol" <<'EOF'
#!/usr/bin/env bash
# fake scontrol: only `scontrol show hostnames LIST` (LIST: plain names, comma-separated)
if [[ ${1:-} == show && ${2:-} == hostnames ]]; then
  tr ',' '\n' <<<"${3:-$SLURM_JOB_NODELIST}"
  exit 0
fi
echo "fake scontrol: unsupported: $*" >&2
exit 1
EOF
cat >"$fake/srun" <<'EOF'
#!/usr/bin/env bash
# fake srun: SLURM_NTASKS copies of the command on this host, one node's tasks. Options (--x=y
# only) are recorded in srun.args and otherwise ignored; task pids go to srun.tasks, exit codes
# to srun.exits.
dir=$(dirname "$0")
printf '%s\n' "$*" >"$dir/srun.args"
while (($#)) && [[ $1 == -* ]]; do shift; done
(($#)) || { echo "fake srun: no command" >&2; exit 2; }
n=${SLURM_NTASKS:?fake srun: SLURM_NTASKS is not set}
pids=()
for ((i = 0; i < n; i++)); do
  SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_NODEID=0 SLURM_STEP_ID=0 "$@" &
  pids+=("$!")
done
echo "${pids[*]}" >"$dir/srun.tasks"
# The real srun turns SIGTERM (and a second SIGINT) into SIGKILL for its tasks.
trap 'kill -KILL "${pids[@]}" 2>/dev/null' TERM INT
rc=0
for i in "${!pids[@]}"; do
  while :; do
    wait "${pids[i]}"
    code=$?
    # A trapped signal interrupts `wait`; the task may still be running (or a zombie).
    ((code > 128)) && kill -0 "${pids[i]}" 2>/dev/null && continue
    break
  done
  echo "task $i exited with code $code" >>"$dir/srun.exits"
  ((code > rc)) && rc=$code
done
exit "$rc"
EOF
cat >"$fake/scancel" <<'EOF'
#!/usr/bin/env bash
# fake scancel: only `scancel --signal=SIG JOBID`: SIG to the fake srun's tasks (with --signal and
# without --batch, Slurm signals a job's steps but not its batch script).
dir=$(dirname "$0")
printf '%s\n' "$*" >>"$dir/scancel.args"
sig=""
for a in "$@"; do [[ $a == --signal=* ]] && sig=${a#--signal=}; done
[[ -n $sig ]] || { echo "fake scancel: only --signal=SIG is supported: $*" >&2; exit 1; }
[[ -f $dir/srun.tasks ]] || exit 0
read -r -a pids <"$dir/srun.tasks"
kill -s "$sig" "${pids[@]}" 2>/dev/null
exit 0
EOF
chmod +x "$fake/scontrol" "$fake/srun" "$fake/scancel"

# The job's environment: nothing inherited from a real Slurm job or another lorafleet.
for v in ${!SLURM_@} ${!LORAFLEET_@}; do unset "$v"; done
node=$(hostname)
getent hosts "$node" >/dev/null || node=localhost  # the workers connect to tcp://NODE:PORT
export PATH=$fake:$PATH
export SLURM_JOB_ID=4242 SLURM_JOB_NODELIST=$node SLURM_NTASKS=2 SLURM_NTASKS_PER_NODE=2
export SLURM_SUBMIT_DIR=$repo
export LORAFLEET_BIN=$bin LORAFLEET_HOME=$home LORAFLEET_HTTP_PORT=0 LORAFLEET_WORKER_PORT=0
export LORAFLEET_DAEMON_ARGS="--heartbeat-timeout 5"

# ---- jobs --------------------------------------------------------------------------------------

# start_job NAME: the batch script in the background, as the leader of a session of its own
# (tracked, so the EXIT trap kills whatever of it is left).
start_job() {
  job_name=$1
  rm -f "$fake/srun.tasks" "$fake/srun.exits" "$fake/srun.args" "$fake/scancel.args"
  setsid bash "$script" >"$tmp/$job_name.out" 2>&1 </dev/null &
  job_pid=$!
  lf_track_session "$job_pid"
  echo "  $job_name: bash cluster/slurm/lorafleet.sbatch (pid $job_pid)"
}

job_output() { sed 's/^/    | /' "$tmp/$job_name.out"; }

# Fails at once when the batch script is gone (instead of timing out).
job_running() {
  pid_alive "$job_pid" && return 0
  wait "$job_pid"
  local rc=$?
  job_output
  fail "$job_name: the batch script exited (code $rc) while it should run"
}

two_workers() {
  job_running
  [[ $(lfj 'len(j["workers"])' workers 2>/dev/null) == 2 ]]
}

# stop_job: SIGTERM to the batch script (what --signal=B:TERM@120 or scancel --batch sends); it
# must exit 0 after the workers and lorafleetd, leaving no process of its session.
stop_job() {
  echo "  kill -TERM $job_pid ($job_name)"
  kill -TERM "$job_pid"
  job_gone() { ! pid_alive "$job_pid"; }
  wait_until 90 "$job_name: the batch script exited after SIGTERM" job_gone
  wait "$job_pid"
  local rc=$?
  job_output
  expect_eq "$rc" 0 "$job_name: the batch script's exit code after SIGTERM"
  grep -q 'SIGTERM received' "$tmp/$job_name.out" || fail "$job_name: no 'SIGTERM received' line"
  grep -qx -- "--signal=TERM $SLURM_JOB_ID" "$fake/scancel.args" ||
    fail "$job_name: the workers were not signalled with scancel --signal=TERM $SLURM_JOB_ID: $(cat "$fake/scancel.args" 2>/dev/null)"
  ok "$job_name: the workers got SIGTERM through scancel --signal=TERM $SLURM_JOB_ID"
  # Exit code 0 from every rank: SIGTERM let them checkpoint (SIGKILL would read 137).
  expect_eq "$(sort "$fake/srun.exits" | tr '\n' ';')" \
    "task 0 exited with code 0;task 1 exited with code 0;" "$job_name: the ranks' exit codes"
  local left
  left=$(ps -o pid=,stat=,args= -s "$job_pid" 2>/dev/null | awk '$2 !~ /^Z/')
  [[ -z $left ]] || fail "$job_name: processes left in the job's session: $left"
  ok "$job_name: no process of the job is left (lorafleetd and both workers are gone)"
  [[ ! -e $home/coordinator.json ]] || fail "$job_name: $home/coordinator.json is left behind"
  ok "$job_name: lorafleetd removed coordinator.json"
}

# ---- a job without its binaries, or outside Slurm ------------------------------------------------

mkdir -p "$tmp/bin-without-daemon"
ln -s "$bin/lorafleet-worker" "$tmp/bin-without-daemon/lorafleet-worker"
LORAFLEET_BIN=$tmp/bin-without-daemon LORAFLEET_HOME=$tmp/home-unused \
  timeout 30 bash "$script" >"$tmp/nobin.out" 2>&1
rc=$?
((rc != 0 && rc != 124)) || fail "without lorafleetd the script exited with $rc: $(cat "$tmp/nobin.out")"
grep -q "$tmp/bin-without-daemon/lorafleetd is missing" "$tmp/nobin.out" ||
  fail "the message does not name the missing binary: $(cat "$tmp/nobin.out")"
[[ ! -e $tmp/home-unused ]] || fail "the script created its home before finding lorafleetd missing"
ok "a LORAFLEET_BIN without lorafleetd: exit code $rc, '$(cat "$tmp/nobin.out")'"

env -u SLURM_JOB_ID timeout 30 bash "$script" >"$tmp/noslurm.out" 2>&1
rc=$?
if ((rc == 0 || rc == 124)) || ! grep -q 'submit it with sbatch' "$tmp/noslurm.out"; then
  fail "outside a Slurm job: exit code $rc, $(cat "$tmp/noslurm.out")"
fi
ok "outside a Slurm job: exit code $rc, '$(cat "$tmp/noslurm.out")'"

# lorafleetd refusing its flags: the script exits 1, naming the log with the reason.
LORAFLEET_HOME=$tmp/home-bad LORAFLEET_DAEMON_ARGS="--max-pack lots" \
  timeout 60 bash "$script" >"$tmp/bad.out" 2>&1
rc=$?
if ((rc != 1)) || ! grep -q "lorafleetd exited with code 2 while starting; the end of $tmp/home-bad/logs/coordinator.log" "$tmp/bad.out" ||
  ! grep -q -- "--max-pack: Value lots not in range 0 to 1024" "$tmp/bad.out"; then
  fail "lorafleetd failing to start: exit code $rc, $(cat "$tmp/bad.out")"
fi
ok "lorafleetd failing to start: exit code 1, the log named and quoted"

# ---- job 1: a fleet through the script ---------------------------------------------------------

start_job job1
[[ $(ps -o sid= -p "$job_pid" | tr -d ' ') == "$job_pid" ]] ||
  fail "the batch script (pid $job_pid) does not lead its own session"
wait_until 60 "job1: 2 workers connected" two_workers

run_ok "workers --json" lf workers --json
expect_eq "$(jget 'sorted(w["rank"] for w in j["workers"])' <<<"$out")" "[0, 1]" \
  "the workers' ranks (from SLURM_PROCID)"
if [[ $(jget 'sorted(set(w["device"] for w in j["workers"]))' <<<"$out") == '["cpu"]' ]]; then
  # SLURM_NTASKS_PER_NODE=2: the two CPU ranks on this host share its memory.
  half=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) * 1024 / 2))
  expect_eq "$(jget 'sorted(set(w["memory_bytes"] for w in j["workers"]))' <<<"$out")" "[$half]" \
    "each CPU rank's memory (half of this host's, SLURM_NTASKS_PER_NODE=2)"
fi

grep -q -- '--kill-on-bad-exit=0' "$fake/srun.args" ||
  fail "srun ran without --kill-on-bad-exit=0: $(cat "$fake/srun.args")"
http=$(jget 'j["http"]' <"$home/coordinator.json")
workers_at=$(jget 'j["workers"]' <"$home/coordinator.json")
[[ $http =~ ^http://$node:[1-9][0-9]*$ ]] ||
  fail "coordinator.json names http '$http'; want http://$node:PORT (the first node, the bound port)"
grep -q -- "--coordinator $workers_at" "$fake/srun.args" ||
  fail "the workers were not pointed at $workers_at: $(cat "$fake/srun.args")"
ok "srun: $(cat "$fake/srun.args")"
ok "coordinator.json: $http, workers $workers_at"
[[ $(stat -c %a "$home/token") == 600 && $(<"$home/token") =~ ^[0-9a-f]{64}$ ]] ||
  fail "$home/token: mode $(stat -c %a "$home/token"), want 600 and 64 hex digits"
ok "the access token file: mode 600, 64 hex digits"
for f in coordinator.key worker.key; do
  [[ $(stat -c %a "$home/keys/$f") == 600 ]] || fail "$home/keys/$f: mode $(stat -c %a "$home/keys/$f"), want 600"
done
grep -q -- "--keys $home/keys/worker.key" "$fake/srun.args" ||
  fail "the workers were not given the CURVE keys: $(cat "$fake/srun.args")"
ok "the CURVE keys: both files mode 600, the ranks given worker.key"

sweep_file "$tmp/sweep.yaml" it-slurm 20 0 '  lora.r: [1, 2]'
run_ok "submit a sweep of 2 trials" lf submit "$tmp/sweep.yaml" --json
sweep=$(jget 'j["sweep"]["id"]' <<<"$out")
sweep_done() {
  job_running
  [[ $(lfj 'j["sweep"]["state"]' status "$1") == finished ]]
}
wait_until 90 "the sweep finished" sweep_done "$sweep"
run_ok "status SWEEP --json" lf status "$sweep" --json
expect_eq "$(jget '[t["state"] for t in j["trials"]]' <<<"$out")" '["completed", "completed"]' \
  "the trials' states"

# A long trial without periodic checkpoints: a resumed step > 0 can only come from the checkpoint
# the worker writes on SIGTERM.
steps=400
sweep_file "$tmp/long.yaml" it-slurm-long $steps 0 '  lora.r: [4]'
run_ok "submit a long trial" lf submit "$tmp/long.yaml" --json
trial=$(jget 'j["trials"][0]["id"]' <<<"$out")
running_past_10() {
  job_running
  local s
  s=$(lfj '[j["trial"]["state"], j["trial"]["step"]]' status "$trial") || return 1
  jget 'j[0] == "running" and j[1] >= 10' <<<"$s" | grep -q true
}
wait_until 60 "the long trial runs at step >= 10" running_past_10
stop_job
for f in coordinator.log workers.log; do
  [[ -s $home/logs/$f ]] || fail "$home/logs/$f is missing or empty"
done
ok "the logs are in $home/logs: $(cd "$home/logs" && echo *)"

# ---- job 2: the same home carries on -----------------------------------------------------------

start_job job2
wait_until 60 "job2: 2 workers connected" two_workers
trial_done() {
  job_running
  [[ $(lfj 'j["trial"]["state"]' status "$1") == completed ]]
}
wait_until 90 "job2 completed the long trial" trial_done "$trial"
run_ok "export the long trial's adapter" lf export "$trial" "$tmp/adapter"
resumed=$(jget 'j["resumed_from_step"]' <"$tmp/adapter/result.json")
((resumed >= 10 && resumed < steps)) ||
  fail "result.json: resumed_from_step is $resumed; want the step job1's workers checkpointed at on SIGTERM (>= 10)"
ok "job2 resumed the trial from step $resumed, checkpointed when job1 stopped"
run_ok "logs TRIAL --json" lf logs "$trial" --json
grep '"type":"event"' <<<"$out" | grep -q '"kind":"worker.lost"' &&
  fail "the trial's events record a lost worker: the stop was not orderly"
ok "no worker.lost event: job1's workers handed the trial back"
stop_job
exit 0
