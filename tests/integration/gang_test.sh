#!/usr/bin/env bash
# Trials on gangs of ranks on a real fleet of four MPI worker ranks. A 4-rank trial queued between
# 1-rank ones gathers all four ranks before the later small trials start. Then two 2-rank trials
# train at once (resources.gpus: 2), data-parallel over MPI, and one member of a gang is
# SIGKILLed mid-run: the coordinator declares it lost, stops the other member (which gives up
# waiting for it), and the trial runs again on two ranks from its checkpoint; both trials
# complete, each exactly once, rank 0 of each gang having reported it.
# usage: gang_test.sh BIN_DIR
source "$(dirname "$0")/lib.sh"
lf_begin "$1" gang

fleet_up --workers 4 --heartbeat-timeout 2

# A 4-rank trial queued between 1-rank ones: the ranks free after the first three small trials
# are kept for it, so the two small trials queued after it start only once it has all four.
sweep_file "$tmp/small1.yaml" it-small-before 40 0 '  lora.r: [1, 2, 4]'
sweep_file "$tmp/big.yaml" it-big 30 0 '  lora.r: [4]' 'resources: {gpus: 4}'
sweep_file "$tmp/small2.yaml" it-small-after 20 0 '  lora.r: [1, 2]'
for f in small1 big small2; do
  run_ok "submit $f" lf submit "$tmp/$f.yaml" --json
  declare "sweep_$f=$(jget 'j["sweep"]["id"]' <<<"$out")"
done
wait_until 180 "the 1-rank, 4-rank and 1-rank sweeps finished" \
  sweeps_reach finished "$sweep_small1" "$sweep_big" "$sweep_small2"
big_json=$(lf status "$sweep_big" --json) || fail "status $sweep_big"
expect_eq "$(jget '[t["state"] for t in j["trials"]]' <<<"$big_json")" '["completed"]' "the 4-rank trial"
big_trial=$(jget 'j["trials"][0]["id"]' <<<"$big_json")
big_start=$(lfj 'j["trial"]["started_ms"]' status "$big_trial")
small_json=$(lf status "$sweep_small2" --json) || fail "status $sweep_small2"
expect_eq "$(jget "min(t['started_ms'] for t in j['trials']) >= $big_start" <<<"$small_json")" true \
  "the small trials queued after the 4-rank one started after it"
run_ok "export the 4-rank trial" lf export "$big_trial" "$tmp/big-adapter"
expect_eq "$(jget 'j["devices"]' <"$tmp/big-adapter/result.json")" 4 "the 4-rank trial's devices"

sweep_file "$tmp/sweep.yaml" it-gang 400 5 '  lora.r: [2, 8]' 'resources: {gpus: 2}'
run_ok "submit two 2-rank trials" lf submit "$tmp/sweep.yaml" --json
sweep=$(jget 'j["sweep"]["id"]' <<<"$out")
mapfile -t trials < <(jget 'lines:[t["id"] for t in j["trials"]]' <<<"$out")

# Every rank busy: two gangs of two, each past step 10 (two checkpoints written).
gangs_running() {
  local w
  w=$(lf workers --json) || return 1
  jget '(len(j["workers"]) == 4 and all(len(x["trials"]) == 1 for x in j["workers"]) and
         len(set(x["trial"] for x in j["workers"])) == 2 and
         all(x["step"] >= 10 for x in j["workers"]))' <<<"$w" | grep -q true
}
wait_until 120 "4 ranks train 2 trials as 2 gangs, past step 10" gangs_running

run_ok "workers --json" lf workers --json
# The gang that started last has the most steps left: the kill lands well before its end.
victim_trial=$(jget 'min(j["workers"], key=lambda x: x["step"])["trial"]' <<<"$out")
mapfile -t members < <(jget "lines:sorted([x['id'] for x in j['workers'] if x['trial'] == '$victim_trial'], key=lambda i: int(i.split('/')[1]))" <<<"$out")
expect_eq "${#members[@]}" 2 "ranks training $victim_trial"
holder=$(lfj 'j["trial"]["worker"]' status "$victim_trial")
expect_eq "$holder" "${members[0]}" "the trial's worker is its gang's rank 0"
victim=${members[1]##*/}
grep -q lorafleet-worker "/proc/$victim/cmdline" || fail "pid $victim is not a lorafleet-worker"
echo "  kill -9 $victim (${members[1]}, rank 1 of $victim_trial's gang)"
kill -9 "$victim"

wait_until 240 "the sweep finished" sweeps_reach finished "$sweep"
run_ok "status SWEEP --json" lf status "$sweep" --json
expect_eq "$(jget '[t["state"] for t in j["trials"]]' <<<"$out")" '["completed", "completed"]' \
  "both gang trials completed"

run_ok "status $victim_trial --json" lf status "$victim_trial" --json
attempt=$(jget 'j["trial"]["attempt"]' <<<"$out")
((attempt >= 2)) || fail "$victim_trial attempt $attempt: want >= 2 (its gang lost a member)"
expect_lost_then_completed_once "$victim_trial" "${members[1]}"
run_ok "export $victim_trial" lf export "$victim_trial" "$tmp/adapter"
result=$tmp/adapter/result.json
expect_eq "$(jget 'j["devices"], j["steps"]' <"$result")" '[2, 400]' "devices and steps of the resumed trial"
resumed=$(jget 'j["resumed_from_step"]' <"$result")
((resumed >= 10 && resumed % 5 == 0)) || fail "resumed from step $resumed; want a checkpoint >= 10"
ok "the gang trial resumed from its checkpoint at step $resumed on a new gang"
other_trial=${trials[0]}
[[ $other_trial == "$victim_trial" ]] && other_trial=${trials[1]}
expect_eq "$(lfj 'j["trial"]["attempt"]' status "$other_trial")" 1 "the other gang's trial ran once"
# The survivor gave up waiting for the dead member and trained again.
grep -q "abandoned" "$home/logs/workers.log" || fail "no member abandoned the lost one's gang"
ok "the surviving member abandoned the broken gang"

fleet_down
[[ -z $(fleet_processes) ]] || fail "processes left after down: $(fleet_processes | tr '\n' ' ')"
ok "no process of the fleet left"
exit 0
