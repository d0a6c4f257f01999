#!/usr/bin/env bash
# The coordinator SIGKILLed in the middle of a sweep and started again on the same worker
# endpoint: the workers reconnect by themselves, the ranks that were training keep their leases
# (docs/api.md: "a worker still training them says so in its next heartbeat and carries on"),
# a trial that finished while no coordinator listened is delivered afterwards, and the sweep
# finishes with every trial completed exactly once, none run twice.
# usage: coordinator_restart_test.sh BIN_DIR
source "$(dirname "$0")/lib.sh"
lf_begin "$1" coordinator_restart

# Port 0 here; the restarted daemon binds the port this one got, which the workers dial.
fleet_up --workers 2
run_ok "workers --json" lf workers --json
expect_eq "$(jget 'len(j["workers"])' <<<"$out")" 2 "workers before the restart"
workers_before=$(jget 'sorted(w["id"] for w in j["workers"])' <<<"$out")

# Grid order (keys sorted, the first varies slowest): trials 0 and 1 (200 and 500 steps, about 6
# and 15 s here) run first, then 2 and 3. The coordinator is killed while both train; trial 0
# finishes while it is down, trial 1 trains on across the restart.
sweep_file "$tmp/sweep.yaml" it-restart 200 5 '  lora.r: [1, 2]
  train.steps: [200, 500]'
run_ok "submit a 4-trial sweep" lf submit "$tmp/sweep.yaml" --json
sweep=$(jget 'j["sweep"]["id"]' <<<"$out")
mapfile -t trials < <(jget 'lines:[t["id"] for t in j["trials"]]' <<<"$out")
expect_eq "$(jget '[t["params"]["train.steps"] for t in j["trials"]]' <<<"$out")" \
  "[200, 500, 200, 500]" "steps of the 4 trials"
short=${trials[0]} long=${trials[1]}

both_running_past_5() {
  local q
  q=$(lfj 'j' queue) || return 1
  jget "sorted(r['trial_id'] for r in j['running'] if r['state'] == 'running' and r['step'] > 5) \
        == ['$short', '$long']" <<<"$q" | grep -q true
}
wait_until 60 "trials 0 and 1 run at step > 5" both_running_past_5

# What the workers hold when the coordinator dies.
run_ok "queue --json before the kill" lf queue --json
mapfile -t held < <(jget 'lines:[r["trial_id"] + " " + str(r["attempt"]) for r in j["running"]]' <<<"$out")
echo "  held by workers at the kill: ${held[*]/%/;}"
[[ " ${held[*]} " == *" $short 1 "* && " ${held[*]} " == *" $long 1 "* ]] ||
  fail "trials 0 and 1 should both be training at the kill: ${held[*]}"
mapfile -d '' -t daemon_argv <"/proc/$coordinator_pid/cmdline"
[[ ${daemon_argv[0]} == */lorafleetd ]] || fail "pid $coordinator_pid is not lorafleetd: ${daemon_argv[*]}"
# The same command line, with the worker port the first daemon was given by the kernel.
for i in "${!daemon_argv[@]}"; do
  [[ ${daemon_argv[i]} == --workers ]] && daemon_argv[i + 1]=$workers_endpoint
done

echo "  kill -9 $coordinator_pid (lorafleetd)"
kill -9 "$coordinator_pid"
gone() { ! pid_alive "$1"; }
wait_until 10 "the old coordinator is gone" gone "$coordinator_pid"
pid_alive "$mpirun_pid" || fail "mpirun died with the coordinator"
# No coordinator for a while: the short trial finishes meanwhile, its DONE waits in the worker.
short_finished() { grep -q "trial $short attempt 1 finished" "$home/logs/workers.log"; }
wait_until 30 "trial 0 finished on its worker while no coordinator runs" short_finished
grep -q "trial $long attempt 1 finished" "$home/logs/workers.log" &&
  fail "trial 1 ($long) finished too early; the test wants it training across the restart"

echo "  restarting: ${daemon_argv[*]}"
setsid "${daemon_argv[@]}" >>"$home/logs/coordinator.log" 2>&1 </dev/null &
new_pid=$!
lf_track_session "$new_pid"
answers() {
  [[ $(jget 'j["pid"]' <"$home/coordinator.json" 2>/dev/null) == "$new_pid" ]] &&
    lf sweeps --json >/dev/null 2>&1
}
wait_until 30 "the restarted coordinator (pid $new_pid) answers" answers
two_workers() { [[ $(lfj 'len(j["workers"])' workers) == 2 ]]; }
wait_until 30 "both workers reconnected" two_workers
expect_eq "$(lfj 'sorted(w["id"] for w in j["workers"])' workers)" "$workers_before" \
  "the same worker ranks"

wait_until 120 "the sweep finished" sweeps_reach "finished cancelled" "$sweep"
grep -E "recovered|lease kept|lost|no longer its" "$home/logs/coordinator.log" | sed 's/^/    log: /'

run_ok "status SWEEP --json" lf status "$sweep" --json
status=$out
expect_eq "$(jget 'j["sweep"]["state"], j["sweep"]["counts"]' <<<"$status" |
  sed 's/ //g')" \
  '["finished",{"assigned":0,"cancelled":0,"completed":4,"failed":0,"queued":0,"running":0,"stopped":0}]' \
  "sweep state and counts"
for t in $(jget 'lines:[t["id"] for t in j["trials"]]' <<<"$status"); do
  run_ok "logs $t --json" lf logs "$t" --json
  events=$(grep '"type":"event"' <<<"$out")
  expect_eq "$(grep -c -- '-> completed' <<<"$events")/$(grep -c -- '-> running' <<<"$events")" 1/1 \
    "'-> completed'/'-> running' events of $t"
done
# The trials that were training when the coordinator died carried on: same attempt, no rerun.
for h in "${held[@]}"; do
  read -r t attempt <<<"$h"
  expect_eq "$(jget "[x['attempt'] for x in j['trials'] if x['id'] == '$t'][0]" <<<"$status")" \
    "$attempt" "attempt of $t, which a worker held across the restart"
done

run_ok "compare --json" lf compare "$sweep" --json
expect_eq "$(jget 'len(j["rows"]), all(isinstance(r["eval_loss"], float) for r in j["rows"])' \
  <<<"$out")" "[4, true]" "compare: 4 rows with an eval loss"
expect_eq "$(jget '[r["eval_loss"] for r in j["rows"]] == sorted(r["eval_loss"] for r in j["rows"])' \
  <<<"$out")" true "compare: best first"

# `down` finds the hand-started daemon through coordinator.json and stops everything.
fleet_down
[[ -z $(fleet_processes) ]] || fail "processes left after down: $(fleet_processes | tr '\n' ' ')"
ok "no process of the fleet left"
exit 0
