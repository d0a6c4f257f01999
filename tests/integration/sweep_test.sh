#!/usr/bin/env bash
# A whole sweep through a real fleet: `up --workers 2`, a 2 x 2 grid submitted with --wait, every
# trial completed and compared best first, every adapter exported and better than the base model
# on the evaluation set, the read-only commands, and `down` leaving no process behind.
# usage: sweep_test.sh BIN_DIR
source "$(dirname "$0")/lib.sh"
lf_begin "$1" sweep

fleet_up --workers 2
expect_eq "$(stat -c '%a' "$home" "$home/store" "$home/runs" "$home/logs" | tr '\n' ' ')" \
  "700 700 700 700 " "the fleet's home, store, runs and logs are private"

sweep_file "$tmp/sweep.yaml" it-sweep 30 10 '  lora.r: [1, 2]
  train.lr: [1.0e-3, 3.0e-3]'
run_ok "submit --wait --json exits 0" timeout 180 "$bin/lorafleet" submit "$tmp/sweep.yaml" \
  --wait --json --home "$home"
comparison=$out
sweep=$(jget 'j["sweep"]["id"]' <<<"$comparison")
echo "  sweep $sweep"
expect_eq "$(jget 'j["sweep"]["state"]' <<<"$comparison")" finished "sweep state after --wait"

# status SWEEP: four trials, all completed on the first attempt.
run_ok "status SWEEP --json" lf status "$sweep" --json
expect_eq "$(jget 'len(j["trials"])' <<<"$out")" 4 "trials in the sweep"
expect_eq "$(jget '" ".join(sorted({t["state"] for t in j["trials"]}))' <<<"$out")" completed \
  "states of the trials"
expect_eq "$(jget 'j["sweep"]["counts"]["completed"]' <<<"$out")" 4 "sweep counts.completed"
mapfile -t trials < <(jget 'lines:[t["id"] for t in j["trials"]]' <<<"$out")
run_ok "status SWEEP (text)" lf status "$sweep"
grep -q "trials      4: 4 completed" <<<"$out" || fail "status SWEEP text: no '4: 4 completed' in: $out"
ok "status SWEEP text says 4: 4 completed"

# compare: 4 rows, best (lowest eval loss) first, every eval loss a number.
run_ok "compare --json" lf compare "$sweep" --json
expect_eq "$(jget 'len(j["rows"])' <<<"$out")" 4 "compare rows"
expect_eq "$(jget 'all(r["state"] == "completed" for r in j["rows"])' <<<"$out")" true \
  "every compared row is completed"
expect_eq "$(jget 'all(isinstance(r["eval_loss"], float) and r["eval_loss"] > 0 for r in j["rows"])' \
  <<<"$out")" true "every row has an eval_loss number"
losses=$(jget '[r["eval_loss"] for r in j["rows"]]' <<<"$out")
expect_eq "$(jget 'j == sorted(j)' <<<"$losses")" true "rows best first: $losses"
expect_eq "$(jget '" ".join(sorted(r["trial_id"] for r in j["rows"]))' <<<"$out")" \
  "$(printf '%s\n' "${trials[@]}" | sort | tr '\n' ' ' | sed 's/ $//')" "compare lists every trial"
expect_eq "$(jget '" ".join(sorted(r["trial_id"] for r in j["rows"]))' <<<"$comparison")" \
  "$(jget '" ".join(sorted(r["trial_id"] for r in j["rows"]))' <<<"$out")" \
  "submit --wait --json printed the same comparison"
run_ok "compare (text)" lf compare "$sweep"
run_ok "compare --plot" lf compare "$sweep" --plot "$tmp/plot.svg"
# 2 ranks x 2 learning rates: eval loss by lora.r, one line per learning rate.
expect_eq "$(grep -c '<polyline class="series"' "$tmp/plot.svg")" 2 "lines in the plot"
if command -v rsvg-convert >/dev/null; then
  run_ok "compare --plot PNG" lf compare "$sweep" --plot "$tmp/plot.png"
  expect_eq "$(head -c 4 "$tmp/plot.png" | od -An -c | tr -d ' ')" '211PNG' "PNG signature"
fi
run_ok "compare --csv" lf compare "$sweep" --csv
expect_eq "$(wc -l <<<"$out")" 5 "compare --csv lines (header + 4)"

# Every adapter: export, then evaluate against the base model.
run_ok "eval of the base model" timeout 120 "$bin/lorafleet" eval --base examples/models/tiny-gpt2 \
  --data examples/data/medical/eval.jsonl --json
base_loss=$(jget 'j["loss"]' <<<"$out")
echo "  base model eval loss $base_loss"
for t in "${trials[@]}"; do
  dir=$tmp/adapters/$t
  run_ok "export $t" lf export "$t" "$dir"
  for f in adapter_config.json adapter_model.safetensors result.json lineage.json; do
    [[ -s $dir/$f ]] || fail "export $t: $dir/$f is missing or empty ($(ls "$dir"))"
  done
  # The lineage names the base model by hash, the data files by hash, and the resolved job.
  expect_eq "$(jget 'j["base_model"]["files"][0]["name"], len(j["base_model"]["sha256"]), len(j["data"]), j["job"]["lora"]["r"] > 0, j["lorafleet_version"] is not None' <"$dir/lineage.json")" \
    '["config.json", 64, 2, true, true]' "lineage.json of $t"
  expect_eq "$(jget 'j["base_model"]["sha256"]' <"$dir/lineage.json")" \
    "$(python3 -c 'import hashlib,sys; d=sys.argv[1]; names=["config.json","model.safetensors"]; print(hashlib.sha256("".join(n+" "+hashlib.sha256(open(d+"/"+n,"rb").read()).hexdigest()+"\n" for n in names).encode()).hexdigest())' "$repo/examples/models/tiny-gpt2")" \
    "base model sha256 in the lineage of $t"
  run_ok "eval with the adapter of $t" timeout 120 "$bin/lorafleet" eval \
    --base examples/models/tiny-gpt2 --adapter "$dir" --data examples/data/medical/eval.jsonl --json
  loss=$(jget 'j["loss"]' <<<"$out")
  expect_eq "$(jget "j['loss'] < $base_loss" <<<"$out")" true \
    "adapter of $t: eval loss $loss below the base model's $base_loss"
done
# The registry: every adapter listed; a tag names one and moves when reused.
run_ok "adapters --json" lf adapters --json
expect_eq "$(jget 'len(j["adapters"])' <<<"$out")" 4 "adapters listed"
run_ok "tag ${trials[0]} best" lf tag "${trials[0]}" best
run_ok "tag ${trials[1]} best" lf tag "${trials[1]}" best
run_ok "adapters --tag best --json" lf adapters --tag best --json
expect_eq "$(jget '[a["trial_id"] for a in j["adapters"]], j["adapters"][0]["tags"]' <<<"$out")" \
  "[[\"${trials[1]}\"], [\"best\"]]" "the tag moved to the second trial"
run_ok "adapters (text)" lf adapters
grep -q "best" <<<"$out" || fail "adapters text shows no tag: $out"
out=$(lf tag "${trials[0]}" "no spaces" 2>&1) && fail "a tag with a space was accepted"
grep -q "1-64 letters" <<<"$out" || fail "bad tag message: $out"
ok "a bad tag name is refused: $out"

# Exporting into a used folder is refused without --force.
out=$(lf export "${trials[0]}" "$tmp/adapters/${trials[0]}" 2>&1) && fail "export into a used folder succeeded"
grep -q "exists and is not empty" <<<"$out" || fail "export into a used folder: $out"
ok "export into a used folder is refused"

# The read-only commands.
run_ok "sweeps --json" lf sweeps --json
expect_eq "$(jget '[s["id"] for s in j["sweeps"]]' <<<"$out")" "[\"$sweep\"]" "sweeps lists the sweep"
run_ok "sweeps (text)" lf sweeps
grep -q "$sweep" <<<"$out" || fail "sweeps text does not name $sweep: $out"
run_ok "queue --json" lf queue --json
expect_eq "$(jget 'j["counts"]["completed"], len(j["running"]), len(j["queued"])' <<<"$out")" \
  "[4, 0, 0]" "queue: completed, running, queued"
run_ok "queue (text)" lf queue
grep -q "nothing queued or running" <<<"$out" || fail "queue text: $out"
run_ok "workers --json" lf workers --json
expect_eq "$(jget 'len(j["workers"])' <<<"$out")" 2 "connected workers"
expect_eq "$(jget '" ".join(w["state"] for w in j["workers"])' <<<"$out")" "idle idle" "worker states"
mapfile -t worker_pids < <(jget 'lines:[w["id"].split("/")[-1] for w in j["workers"]]' <<<"$out")
run_ok "workers (text)" lf workers
grep -q "2 workers, 0 busy" <<<"$out" || fail "workers text: $out"

# Prometheus metrics from the running daemon, checked by Prometheus' own promtool.
metrics=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
  "$url/metrics") || fail "GET /metrics failed"
for want in 'lorafleet_trials{state="completed"} 4' 'lorafleet_workers{state="idle"} 2' \
  'lorafleet_dispatches_total 4' 'lorafleet_trial_completions_total 4'; do
  grep -qxF "$want" <<<"$metrics" || fail "/metrics lacks '$want': $metrics"
done
grep -q '^lorafleet_step_time_seconds_count [1-9]' <<<"$metrics" ||
  fail "/metrics has no step times: $metrics"
if command -v promtool >/dev/null; then
  promtool check metrics <<<"$metrics" || fail "promtool check metrics refused /metrics"
  ok "/metrics: counts as expected, promtool accepts it"
else
  ok "/metrics: counts as expected (promtool not installed: not checked by it)"
fi

t=${trials[0]}
run_ok "status TRIAL --json" lf status "$t" --json
expect_eq "$(jget 'j["trial"]["state"], j["trial"]["step"], j["trial"]["steps"], j["trial"]["attempt"]' \
  <<<"$out")" '["completed", 30, 30, 1]' "trial state, step, steps, attempt"
run_ok "status TRIAL (text)" lf status "$t"
grep -qE "state +completed" <<<"$out" || fail "status TRIAL text: $out"
grep -qE "step +30 of 30" <<<"$out" || fail "status TRIAL text has no 'step 30 of 30': $out"
run_ok "logs TRIAL (text)" lf logs "$t"
grep -q "running -> completed" <<<"$out" || fail "logs TRIAL text has no 'running -> completed': $out"
run_ok "logs TRIAL --json" lf logs "$t" --json
completions=$(grep -c '"detail":"running -> completed' <<<"$out")
expect_eq "$completions" 1 "'-> completed' events of $t"
metric_lines=$(grep -c '"type":"metrics"' <<<"$out")
expect_eq "$metric_lines" 30 "metric lines of $t (log_every 1, 30 steps)"
run_ok "logs SWEEP (text)" lf logs "$sweep"
expect_eq "$(grep -c "running -> completed" <<<"$out")" 4 "'running -> completed' lines in logs SWEEP"

# down stops everything this home started.
[[ -n $(fleet_processes) ]] || fail "no processes of this fleet before down"
fleet_down
left=$(fleet_processes)
[[ -z $left ]] || fail "processes left after down: $(ps -o pid,cmd -p "$(echo $left | tr ' ' ,)")"
ok "no process of the fleet's sessions left"
for p in "$coordinator_pid" "$mpirun_pid" "${worker_pids[@]}"; do
  pid_alive "$p" && fail "pid $p is still alive after down: $(ps -o pid,cmd -p "$p")"
done
ok "coordinator $coordinator_pid, mpirun $mpirun_pid, ranks ${worker_pids[*]} are gone"
[[ ! -e $home/coordinator.json && ! -e $home/coordinator.pid && ! -e $home/workers.pid ]] ||
  fail "down left $(ls "$home")"
ok "down removed coordinator.json and the pid files"
out=$(timeout 30 "$bin/lorafleet" sweeps --url "$url" 2>&1) && fail "sweeps after down succeeded: $out"
ok "nothing answers at $url any more: $out"
exit 0
