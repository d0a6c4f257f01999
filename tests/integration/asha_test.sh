#!/usr/bin/env bash
# ASHA early stopping on a real fleet: 4 trials, two good learning rates first and two 300x
# smaller after them. The bad ones reach the first rung (step 10) behind the good ones' eval loss
# and are told to finish early: they end `stopped` after fewer steps with an adapter that exports
# like any other, the best trial completes, compare lists every trial with its state, and the
# sweep finishes.
# usage: asha_test.sh BIN_DIR
source "$(dirname "$0")/lib.sh"
lf_begin "$1" asha

fleet_up --workers 2

# Rungs at steps 10, 20 and 40 (grace 10, rf 2, 60 steps); the best half at each continues.
# Trials 0 and 1 (lr 3e-3, the same job: they tie, and ties continue) start together on the two
# ranks; 2 and 3 (lr 1e-5, barely moving off the base model by step 10) start only when a rank
# is free, so they reach rung 0 after the good ones have set its cut.
sweep_file "$tmp/sweep.yaml" it-asha 60 0 '  train.lr: [3.0e-3, 3.0e-3, 1.0e-5, 1.0e-5]
  train.eval_every: [10]
  train.eval_batches: [20]' \
  'early_stopping: {type: asha, metric: eval_loss, mode: min, grace_period: 10, reduction_factor: 2}'
run_ok "submit --wait --json exits 0 (stopped trials are no failure)" timeout 180 \
  "$bin/lorafleet" submit "$tmp/sweep.yaml" --wait --json --home "$home"
comparison=$out
sweep=$(jget 'j["sweep"]["id"]' <<<"$comparison")
echo "  sweep $sweep"
expect_eq "$(jget 'j["sweep"]["state"]' <<<"$comparison")" finished "sweep state after --wait"

run_ok "status SWEEP --json" lf status "$sweep" --json
status=$out
mapfile -t trials < <(jget 'lines:[t["id"] for t in j["trials"]]' <<<"$status")
expect_eq "${#trials[@]}" 4 "trials in the sweep"
echo "  $(jget '"; ".join(t["id"] + " lr " + str(t["params"]["train.lr"]) + ": " + t["state"] + " at step " + str(t["step"]) for t in j["trials"])' <<<"$status")"
expect_eq "$(jget '[t["state"] for t in j["trials"][2:]]' <<<"$status")" '["stopped", "stopped"]' \
  "the lr 1e-5 trials are stopped"
expect_eq "$(jget 'any(t["state"] == "completed" for t in j["trials"][:2])' <<<"$status")" true \
  "an lr 3e-3 trial completed"
expect_eq "$(jget 'j["sweep"]["counts"]["stopped"] + j["sweep"]["counts"]["completed"]' <<<"$status")" \
  4 "every trial completed or stopped"
expect_eq "$(jget 'all(t["step"] < 60 for t in j["trials"] if t["state"] == "stopped")' <<<"$status")" \
  true "stopped trials trained fewer than 60 steps"

# compare: every trial with its state; completed ones first, then the stopped ones.
run_ok "compare --json" lf compare "$sweep" --json
expect_eq "$(jget 'len(j["rows"])' <<<"$out")" 4 "compare rows"
states=$(jget '[r["state"] for r in j["rows"]]' <<<"$out")
expect_eq "$(jget 'j == sorted(j)' <<<"$states")" true "completed rows before stopped ones: $states"
expect_eq "$(jget 'all(isinstance(r["eval_loss"], float) and isinstance(r["steps"], int) for r in j["rows"])' \
  <<<"$out")" true "every row has its eval loss and steps"
expect_eq "$(jget 'j["rows"][0]["state"], j["rows"][0]["eval_loss"] == min(r["eval_loss"] for r in j["rows"])' \
  <<<"$out")" '["completed", true]' "the best trial (lowest eval loss) completed"
run_ok "compare (text)" lf compare "$sweep"
echo "$out" | sed 's/^/    /'

# A stopped trial: why (in its log), where it stopped, and an adapter that exports and loads.
for t in "${trials[2]}" "${trials[3]}"; do
  run_ok "logs $t --json" lf logs "$t" --json
  grep '"kind":"trial.early_stopped"' <<<"$out" | grep -q 'early stopping (asha): eval_loss' ||
    fail "$t: no trial.early_stopped event naming the rule: $(grep '"type":"event"' <<<"$out" | tail -5)"
  grep -q '"detail":"running -> stopped' <<<"$out" || fail "$t: no 'running -> stopped' event"
  ok "$t: early-stopped event and running -> stopped in its log"
  dir=$tmp/adapters/$t
  run_ok "export $t" lf export "$t" "$dir"
  for f in adapter_config.json adapter_model.safetensors result.json lineage.json; do
    [[ -s $dir/$f ]] || fail "export $t: $dir/$f is missing or empty ($(ls "$dir"))"
  done
  expect_eq "$(jget '[j["early_stopped"], j["stopped_at_step"] == j["steps"], j["steps"] < 60]' <"$dir/result.json")" \
    '[true, true, true]' "result.json of $t: early_stopped, stopped_at_step"
  run_ok "eval with the adapter of $t" timeout 120 "$bin/lorafleet" eval \
    --base examples/models/tiny-gpt2 --adapter "$dir" --data examples/data/medical/eval.jsonl --json
done
grep -q "finishing early at the next step" "$home/logs/workers.log" ||
  fail "the workers log has no early finish"
ok "the workers finished the stopped trials early"
run_ok "adapters --json" lf adapters --json
expect_eq "$(jget 'len(j["adapters"])' <<<"$out")" 4 "adapters listed (stopped ones too)"

fleet_down
[[ -z $(fleet_processes) ]] || fail "processes left after down: $(fleet_processes | tr '\n' ' ')"
ok "no process of the fleet left"
exit 0
