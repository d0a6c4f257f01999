#!/usr/bin/env bash
# Adaptive search on a real fleet: a tpe sweep whose later trials are suggested while it runs
# (trial_count grows to num_samples, each suggestion's origin says so) and a pbt sweep whose
# worst trial is replaced by a copy of the best one's checkpoint (the replacement resumes there).
# usage: search_test.sh BIN_DIR
source "$(dirname "$0")/lib.sh"
lf_begin "$1" search

fleet_up --workers 2

sweep_file "$tmp/tpe.yaml" it-tpe 10 0 '  train.lr: {loguniform: [1.0e-4, 1.0e-2]}
  train.eval_every: [5]
  train.eval_batches: [4]' \
  'search: tpe
num_samples: 5
tpe: {n_startup_trials: 2}'
run_ok "dry-run of a tpe sweep" lf submit "$tmp/tpe.yaml" --dry-run --json
expect_eq "$(jget '[j["made_at_submission"], j["planned_trials"], len(j["trials"])]' <<<"$out")" \
  '[2, 5, 5]' "dry-run: 2 startup trials, 5 planned, the next 3 suggestions shown"
run_ok "submit the tpe sweep --wait" timeout 240 "$bin/lorafleet" submit "$tmp/tpe.yaml" --wait \
  --json --home "$home"
sweep=$(jget 'j["sweep"]["id"]' <<<"$out")
run_ok "status of the tpe sweep" lf status "$sweep" --json
expect_eq "$(jget '[j["sweep"]["state"], j["sweep"]["trial_count"], j["sweep"]["counts"]["completed"]]' \
  <<<"$out")" '["finished", 5, 5]' "tpe: finished with its 5 trials completed"
expect_eq "$(jget '[t["origin"] and t["origin"]["suggested_by"] for t in j["trials"]]' <<<"$out")" \
  '[null, null, "tpe", "tpe", "tpe"]' "tpe: trials 2-4 were suggested by tpe"

sweep_file "$tmp/pbt.yaml" it-pbt 30 10 '  train.lr: [1.0e-5, 3.0e-3]
  train.eval_every: [10]
  train.eval_batches: [4]' \
  'search: pbt
num_samples: 2
pbt: {perturbation_interval: 10, mutable: [train.lr], resample_probability: 0}'
run_ok "submit the pbt sweep --wait" timeout 240 "$bin/lorafleet" submit "$tmp/pbt.yaml" --wait \
  --json --home "$home"
sweep=$(jget 'j["sweep"]["id"]' <<<"$out")
run_ok "status of the pbt sweep" lf status "$sweep" --json
status=$out
echo "  $(jget '"; ".join(t["id"] + " lr " + str(t["params"]["train.lr"]) + ": " + t["state"] + " at step " + str(t["step"]) for t in j["trials"])' <<<"$status")"
expect_eq "$(jget 'j["sweep"]["state"]' <<<"$status")" finished "pbt: the sweep finished"
expect_eq "$(jget 'j["sweep"]["trial_count"] >= 3' <<<"$status")" true "pbt: a replacement was made"
# The last replacement made: an earlier one may itself have been replaced at a later interval,
# but nothing replaced the last, so it trained to the end.
replacement=$(jget 'lines:[t["id"] for t in j["trials"] if t["origin"]][-1:]' <<<"$status")
expect_eq "$(jget "[t['origin']['exploit']['replaces'] != t['origin']['exploit']['source'] for t in j['trials'] if t['id'] == '$replacement']" <<<"$status")" \
  '[true]' "pbt: the replacement names its source and the trial it replaces"
run_ok "export $replacement" lf export "$replacement" "$tmp/replacement"
expect_eq "$(jget 'j["resumed_from_step"] > 0 and j["steps"] == 30' <"$tmp/replacement/result.json")" \
  true "pbt: the replacement resumed from the copied checkpoint and trained to the end"

fleet_down
[[ -z $(fleet_processes) ]] || fail "processes left after down: $(fleet_processes | tr '\n' ' ')"
ok "no process of the fleet left"
exit 0
