#!/usr/bin/env bash
# Pause, resume and cancel on a live fleet: a paused sweep stops its running trials (they
# checkpoint and wait in the queue) and dispatches nothing; resumed, the trials continue from their
# checkpoints; a cancelled trial stops at once and its worker takes the next one; a cancelled
# sweep ends every trial and leaves the workers idle.
# usage: cancel_pause_test.sh BIN_DIR
source "$(dirname "$0")/lib.sh"
lf_begin "$1" cancel_pause

fleet_up --workers 2

# Trials far too long to finish during the test (tens of seconds each here).
sweep_file "$tmp/sweep.yaml" it-cancel-pause 3000 5 '  lora.r: [1, 2, 4]'
run_ok "submit a 3-trial sweep" lf submit "$tmp/sweep.yaml" --json
sweep=$(jget 'j["sweep"]["id"]' <<<"$out")
mapfile -t trials < <(jget 'lines:[t["id"] for t in j["trials"]]' <<<"$out")
expect_eq "${#trials[@]}" 3 "trials submitted"

queue_json() { lf queue --json 2>>"$tmp/cli-errors.log"; }
# Two trials running, past step 30 (so several checkpoints, every 5 steps, were written).
two_running() {
  local q
  q=$(queue_json) || return 1
  jget 'len([r for r in j["running"] if r["state"] == "running" and r["step"] >= 30]) == 2' \
    <<<"$q" | grep -q true
}
wait_until 60 "2 trials run past step 30" two_running

# ---- pause -----------------------------------------------------------------------------------
run_ok "queue --json before the pause" lf queue --json
declare -A paused_step
for line in $(jget 'lines:[r["trial_id"] + "=" + str(r["step"]) for r in j["running"]]' <<<"$out"); do
  paused_step[${line%=*}]=${line#*=}
done
echo "  running before the pause: $(for t in "${!paused_step[@]}"; do echo -n "$t at step ${paused_step[$t]}; "; done)"
run_ok "pause SWEEP --json" lf pause "$sweep" --json
expect_eq "$(jget 'j["sweep"]["state"]' <<<"$out")" paused "sweep state in the pause reply"

nothing_runs() {
  local q w s
  q=$(queue_json) || return 1
  [[ $(jget '[j["counts"]["running"], j["counts"]["assigned"], len(j["running"]), j["counts"]["queued"]]' \
    <<<"$q") == "[0, 0, 0, 3]" ]] || return 1
  w=$(lfj '" ".join(x["state"] for x in j["workers"])' workers) || return 1
  [[ $w == "idle idle" ]] || return 1
  s=$(lfj '[j["sweep"]["state"]] + sorted({t["state"] for t in j["trials"]})' status "$sweep") || return 1
  [[ $s == '["paused", "queued"]' ]]
}
wait_until 10 "nothing runs: 3 queued, 0 running or assigned, both workers idle, sweep paused" \
  nothing_runs
# The workers really stopped training (the coordinator requeued the trials at once).
stopped_on_workers() {
  local t
  for t in "${!paused_step[@]}"; do
    grep -q "trial $t attempt 1 stopped by the coordinator" "$home/logs/workers.log" || return 1
  done
}
wait_until 15 "both workers stopped and checkpointed their trials" stopped_on_workers
sleep 2  # a paused sweep must stay paused: nothing may be dispatched in the meantime
nothing_runs || fail "2 s after the pause something runs again: $(queue_json)"
ok "2 s later nothing runs still"

# ---- resume ----------------------------------------------------------------------------------
run_ok "resume SWEEP --json" lf resume "$sweep" --json
expect_eq "$(jget 'j["sweep"]["state"]' <<<"$out")" active "sweep state in the resume reply"
# Both trials that ran before the pause run again, past the step they were paused at.
past_paused_step() {
  local q t n=0
  q=$(queue_json) || return 1
  for t in "${!paused_step[@]}"; do
    jget "any(r['trial_id'] == '$t' and r['state'] == 'running' and r['attempt'] == 2 and
              r['step'] > ${paused_step[$t]} for r in j['running'])" <<<"$q" | grep -q true && ((n++))
  done
  ((n == ${#paused_step[@]}))
}
wait_until 60 "the paused trials run again (attempt 2) beyond their paused steps" past_paused_step
# They resumed from their checkpoints: attempt 2's first checkpoint event lies beyond the last
# one attempt 1 reported (had it started over, it would be at step 5).
checkpoint_steps() { grep '"kind":"trial.checkpoint"' | sed -E 's/.*"detail":"step ([0-9]+) .*/\1/'; }
for t in "${!paused_step[@]}"; do
  run_ok "logs $t --json" lf logs "$t" --json
  events=$(grep '"type":"event"' <<<"$out")
  before=$(sed '/(attempt 2)/,$d' <<<"$events" | checkpoint_steps | tail -1)
  first=$(sed -n '/(attempt 2)/,$p' <<<"$events" | checkpoint_steps | head -1)
  [[ -n $before ]] || fail "$t: attempt 1 reported no checkpoint: $events"
  [[ -n $first ]] || fail "$t: attempt 2 reported no checkpoint yet: $(tail -5 <<<"$events")"
  ((first > before)) ||
    fail "$t: attempt 2 checkpointed at step $first, not after attempt 1's $before: it started over"
  ok "$t resumed: attempt 2's first checkpoint at step $first > attempt 1's last, $before"
done

# ---- cancel one trial -------------------------------------------------------------------------
run_ok "queue --json" lf queue --json
victim=$(jget 'j["running"][0]["trial_id"]' <<<"$out")
victim_worker=$(jget 'j["running"][0]["worker"]' <<<"$out")
victim_attempt=$(jget 'j["running"][0]["attempt"]' <<<"$out")
queued_one=$(jget 'j["queued"][0]["trial_id"]' <<<"$out")
echo "  cancelling $victim on $victim_worker; $queued_one waits in the queue"
run_ok "cancel TRIAL --json" lf cancel "$victim" --json
expect_eq "$(jget 'j["trial"]["state"]' <<<"$out")" cancelled "trial state in the cancel reply"
worker_took_next() {
  local s
  s=$(lfj "[[w['state'], w['trial']] for w in j['workers'] if w['id'] == '$victim_worker']" workers) ||
    return 1
  [[ $s == "[[\"busy\", \"$queued_one\"]]" ]] || return 1
  [[ $(lfj 'j["trial"]["state"]' status "$queued_one") == running ]]
}
wait_until 15 "$victim_worker runs the queued trial $queued_one" worker_took_next
expect_eq "$(lfj 'j["trial"]["state"]' status "$victim")" cancelled "state of $victim"
grep -q "trial $victim attempt $victim_attempt: STOP" "$home/logs/workers.log" ||
  fail "the worker log has no STOP for $victim attempt $victim_attempt"
ok "$victim_worker got STOP for $victim"
out=$(lf cancel "$victim" 2>&1) && fail "cancelling a cancelled trial succeeded: $out"
grep -q "already cancelled" <<<"$out" || fail "cancelling a cancelled trial: $out"
ok "cancelling it again is refused: $out"

# ---- cancel the sweep -------------------------------------------------------------------------
run_ok "queue --json" lf queue --json
mapfile -t running_at_cancel < <(jget 'lines:[r["trial_id"] + " attempt " + str(r["attempt"]) for r in j["running"]]' <<<"$out")
run_ok "cancel SWEEP --json" lf cancel "$sweep" --json
expect_eq "$(jget 'j["sweep"]["state"]' <<<"$out")" cancelled "sweep state in the cancel reply"
all_over() {
  local s w q
  s=$(lfj '[j["sweep"]["state"]] + sorted({t["state"] for t in j["trials"]})' status "$sweep") || return 1
  [[ $s == '["cancelled", "cancelled"]' || $s == '["cancelled", "cancelled", "completed"]' ]] || return 1
  w=$(lfj '" ".join(x["state"] + ":" + x["trial"] for x in j["workers"])' workers) || return 1
  [[ $w == "idle: idle:" ]] || return 1
  q=$(queue_json) || return 1
  [[ $(jget '[len(j["running"]), len(j["queued"])]' <<<"$q") == "[0, 0]" ]]
}
wait_until 10 "every trial final, the sweep cancelled, both workers idle, nothing queued" all_over
run_ok "status SWEEP" lf status "$sweep"
echo "$out" | sed 's/^/    /'
# The ranks stopped training too: STOP reached them.
stops_logged() {
  local r
  for r in "${running_at_cancel[@]}"; do
    grep -q "trial $r: STOP" "$home/logs/workers.log" || return 1
  done
}
wait_until 10 "the workers got STOP for ${running_at_cancel[*]}" stops_logged
for t in "${trials[@]}"; do
  out=$(lf cancel "$t" 2>&1) && fail "cancel $t after the sweep was cancelled succeeded: $out"
done
ok "no trial can be cancelled again"

fleet_down
[[ -z $(fleet_processes) ]] || fail "processes left after down: $(fleet_processes | tr '\n' ' ')"
ok "no process of the fleet left"
exit 0
