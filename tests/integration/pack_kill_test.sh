#!/usr/bin/env bash
# Packed training on a real fleet, and a SIGKILLed worker holding a pack: with --max-pack 3 the
# two ranks each train three of the six LoRA trials at once on one base model. One rank is killed
# mid-run: its three trials go back to the queue, and the survivor takes them into its running
# pack as its own trials (of 100 to 160 steps) finish, each resuming from its checkpoint. Every
# trial completes exactly once; none is lost.
# usage: pack_kill_test.sh BIN_DIR
source "$(dirname "$0")/lib.sh"
lf_begin "$1" pack_kill

fleet_up --workers 2 --heartbeat-timeout 2 --max-pack 3

sweep_file "$tmp/sweep.yaml" it-pack-kill 150 5 '  lora.r: [2, 8]
  train.steps: [100, 130, 160]'
run_ok "submit six trials" lf submit "$tmp/sweep.yaml" --json
sweep=$(jget 'j["sweep"]["id"]' <<<"$out")
expect_eq "$(jget 'len(j["trials"])' <<<"$out")" 6 "trials submitted"

# Both ranks hold a pack of three, every trial past step 10 (two checkpoints written).
packs_running() {
  local w
  w=$(lf workers --json) || return 1
  jget 'len(j["workers"]) == 2 and all(len(x["trials"]) == 3 and x["pack_limit"] == 3 and
        all(t["step"] >= 10 for t in x["trials"]) for x in j["workers"])' <<<"$w" | grep -q true
}
wait_until 120 "both ranks train a pack of 3 trials past step 10" packs_running

run_ok "workers --json before the kill" lf workers --json
victim_id=$(jget 'j["workers"][0]["id"]' <<<"$out")
survivor=$(jget 'j["workers"][1]["id"]' <<<"$out")
mapfile -t killed < <(jget 'lines:[t["trial_id"] for t in j["workers"][0]["trials"]]' <<<"$out")
victim=${victim_id##*/}
grep -q lorafleet-worker "/proc/$victim/cmdline" || fail "pid $victim is not a lorafleet-worker"
joins_before=$(grep -c "joins the running pack" "$home/logs/workers.log" || true)
((joins_before >= 4)) || fail "$joins_before trials joined a pack at the start; want 2 per rank"
ok "$joins_before trials joined their rank's pack at the start"
log_lines=$(wc -l <"$home/logs/workers.log")
echo "  kill -9 $victim ($victim_id) training ${killed[*]}; the survivor is $survivor"
kill -9 "$victim"

wait_until 200 "the sweep finished" sweeps_reach "finished cancelled" "$sweep"

run_ok "status SWEEP --json" lf status "$sweep" --json
expect_eq "$(jget 'j["sweep"]["state"], j["sweep"]["counts"]["completed"]' <<<"$out")" \
  '["finished", 6]' "sweep state and completed count"
expect_eq "$(jget 'sorted(set(t["worker"] for t in j["trials"]))' <<<"$out")" "[\"$survivor\"]" \
  "the survivor finished every trial (the victim's resumed there)"

for trial in "${killed[@]}"; do
  expect_lost_then_completed_once "$trial" "$victim_id"
  run_ok "export $trial" lf export "$trial" "$tmp/adapter-$trial"
  result=$tmp/adapter-$trial/result.json
  steps=$(jget 'j["job"]["train"]["steps"]' <"$result")
  resumed=$(jget 'j["resumed_from_step"]' <"$result")
  ((resumed >= 10 && resumed % 5 == 0 && resumed < steps)) ||
    fail "$trial resumed from step $resumed; want a checkpoint step from 10 on"
  expect_eq "$(jget 'j["steps"]' <"$result")" "$steps" "$trial steps"
done
ok "the killed pack's trials each completed once, resumed from a checkpoint"

# A slot freed in the survivor's pack was filled while its other trials went on training.
joins=$(tail -n +"$((log_lines + 1))" "$home/logs/workers.log" | grep -c "joins the running pack" || true)
((joins >= 1)) || fail "after the kill no trial joined the survivor's running pack"
ok "after the kill $joins trial(s) joined the survivor's running pack"

fleet_down
[[ -z $(fleet_processes) ]] || fail "processes left after down: $(fleet_processes | tr '\n' ' ')"
ok "no process of the fleet left"
exit 0
