#!/usr/bin/env bash
# A worker rank SIGKILLed mid-trial: the coordinator declares it lost after the heartbeat timeout,
# the trial goes back to the queue and the surviving rank finishes it from the newest checkpoint,
# completing it exactly once; mpirun (--enable-recovery) keeps the surviving rank alive.
# usage: worker_kill_test.sh BIN_DIR
source "$(dirname "$0")/lib.sh"
lf_begin "$1" worker_kill

fleet_up --workers 2 --heartbeat-timeout 2

# Long enough that the kill lands well before the end even on a slow machine (~50 steps/s here).
steps=1000
sweep_file "$tmp/sweep.yaml" it-worker-kill $steps 5 '  lora.r: [2]'
run_ok "submit one trial" lf submit "$tmp/sweep.yaml" --json
sweep=$(jget 'j["sweep"]["id"]' <<<"$out")
trial=$(jget 'j["trials"][0]["id"]' <<<"$out")
expect_eq "$(jget 'len(j["trials"])' <<<"$out")" 1 "trials submitted"

trial_field() { lfj "j['trial']['$1']" status "$trial"; }
# Reaches step 15 on its first attempt (at least 2 checkpoints were written, every 5 steps).
at_step_15() {
  local s
  s=$(lfj '[j["trial"]["state"], j["trial"]["attempt"], j["trial"]["step"]]' status "$trial") || return 1
  jget 'j[0] == "running" and j[1] == 1 and j[2] >= 15' <<<"$s" | grep -q true
}
wait_until 60 "the trial runs its first attempt at step >= 15" at_step_15

worker=$(trial_field worker)
victim=${worker##*/}
[[ $victim =~ ^[0-9]+$ ]] || fail "trial's worker '$worker' has no pid"
pid_alive "$victim" || fail "worker pid $victim is not alive"
grep -q lorafleet-worker "/proc/$victim/cmdline" || fail "pid $victim is not a lorafleet-worker"
run_ok "workers --json before the kill" lf workers --json
mapfile -t ranks < <(jget 'lines:[w["id"] for w in j["workers"]]' <<<"$out")
expect_eq "${#ranks[@]}" 2 "workers before the kill"
survivor=""
for r in "${ranks[@]}"; do [[ $r != "$worker" ]] && survivor=$r; done
killed_at=$(trial_field step)
checkpoint_at_kill=$(trial_field checkpoint)  # checked at the end
echo "  kill -9 $victim ($worker) at step $killed_at; the survivor is $survivor"
kill -9 "$victim"

wait_until 90 "the sweep finished" sweeps_reach "finished cancelled" "$sweep"

run_ok "status TRIAL --json" lf status "$trial" --json
expect_eq "$(jget 'j["trial"]["state"]' <<<"$out")" completed "trial state"
attempt=$(jget 'j["trial"]["attempt"]' <<<"$out")
((attempt >= 2)) || fail "trial attempt is $attempt, want >= 2 (it was moved to another worker)"
ok "trial attempt $attempt >= 2"
expect_eq "$(jget 'j["trial"]["worker"]' <<<"$out")" "$survivor" "the trial finished on the survivor"
run_ok "status SWEEP --json" lf status "$sweep" --json
expect_eq "$(jget 'j["sweep"]["state"], j["sweep"]["counts"]["completed"]' <<<"$out")" \
  '["finished", 1]' "sweep state and completed count"

expect_lost_then_completed_once "$trial" "$worker"
ok "a worker.lost event names $worker"
expect_eq "$(grep -c -- '-> running (attempt 1)' <<<"$events")" 1 "attempt 1 ran once"

run_ok "export the adapter" lf export "$trial" "$tmp/adapter"
[[ -s $tmp/adapter/result.json && -s $tmp/adapter/adapter_model.safetensors ]] ||
  fail "export: $(ls "$tmp/adapter")"
resumed=$(jget 'j["resumed_from_step"]' <"$tmp/adapter/result.json")
((resumed > 0)) || fail "result.json: resumed_from_step is $resumed; the second attempt started over"
# Checkpoints come every 5 steps; the one at step 10 was written before the kill at step >= 15.
((resumed >= 10 && resumed % 5 == 0 && resumed < steps)) ||
  fail "resumed from step $resumed; want a checkpoint step from 10 on (killed at step ~$killed_at)"
ok "the second attempt resumed from checkpoint step $resumed (killed at step ~$killed_at)"
expect_eq "$(jget 'j["steps"]' <"$tmp/adapter/result.json")" "$steps" "result.json steps"

# The killed rank did not take the other one (or mpirun) with it.
pid_alive "$victim" && fail "the killed worker $victim is still alive"
pid_alive "$mpirun_pid" || fail "mpirun ($mpirun_pid) died with the killed rank"
ok "mpirun $mpirun_pid is still running"
run_ok "workers --json after the kill" lf workers --json
expect_eq "$(jget '[w["id"] for w in j["workers"]]' <<<"$out")" "[\"$survivor\"]" "connected workers"
expect_eq "$(jget 'j["workers"][0]["state"]' <<<"$out")" idle "the survivor's state"
pid_alive "${survivor##*/}" || fail "the surviving rank ${survivor##*/} is gone"

# docs/api.md: a trial's `checkpoint` is PATH@STEP of the last checkpoint the worker reported.
# At the kill the trial was running and had reported several (trial.checkpoint events).
[[ $checkpoint_at_kill =~ /checkpoints/checkpoint-([0-9]+)@([0-9]+)$ ]] ||
  fail "GET /v1/trials/$trial of the running trial at step ~$killed_at had \"checkpoint\": \"$checkpoint_at_kill\"; want PATH@STEP of the last reported checkpoint (step >= 10)"
((BASH_REMATCH[2] >= 10)) || fail "the running trial's checkpoint field names step ${BASH_REMATCH[2]}"
ok "the running trial's checkpoint field named $checkpoint_at_kill"

fleet_down
[[ -z $(fleet_processes) ]] || fail "processes left after down: $(fleet_processes | tr '\n' ' ')"
ok "no process of the fleet left"
exit 0
