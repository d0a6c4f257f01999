#!/usr/bin/env bash
# search_bench: what adaptive search buys on the bundled model. One fleet (`lorafleet up`, local
# workers) runs, for each of --seeds search seeds, a random, a tpe and a bohb sweep of --trials
# trials over learning rate (loguniform), LoRA rank, alpha, dropout and warmup, and a pbt sweep
# (a population of --population over learning rate); once, a grid of --grid fixed learning rates.
# bench/search_report.py then prints best eval loss against trials spent, how many trials TPE and
# BOHB need to reach random search's final best (median over seeds; the aim is 0.6x), and PBT's
# best against the grid's best fixed learning rate at population/grid of its compute (aim: as
# good at half). Every number comes from the sweeps run here, now.
# usage: bench/search_bench.sh [BUILD_DIR] [--seeds N] [--trials N] [--steps N] [--workers N]
#                              [--population N] [--grid N] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
[[ $# -gt 0 && $1 != --* ]] && { build=$1; shift; }
seeds=5 trials=30 steps=30 workers=2 population=4 grid=8 out=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --seeds) seeds=$2 ;; --trials) trials=$2 ;; --steps) steps=$2 ;; --workers) workers=$2 ;;
    --population) population=$2 ;; --grid) grid=$2 ;; --out) out=$2 ;;
    *) echo "search_bench: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift 2
done
bin=$build/bin
for p in lorafleet lorafleetd lorafleet-worker; do
  [[ -x $bin/$p ]] || { echo "search_bench: $bin/$p is missing; run make build-demo" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/lf_search_bench.XXXXXX)
out=${out:-$tmp/results}
mkdir -p "$out"
home=$tmp/home
trap '"$bin/lorafleet" down --home "$home" >/dev/null 2>&1 || true' EXIT

"$bin/lorafleet" up --home "$home" --workers "$workers" --http 127.0.0.1:0 \
  --worker-endpoint tcp://127.0.0.1:0 --json >"$tmp/up.json"
echo "fleet: $workers workers; results in $out"

# sweep NAME SEARCH SEED EXTRA SPACE: writes $tmp/NAME.yaml
sweep() {
  cat >"$tmp/$1.yaml" <<YAML
name: $1
base:
  base_model: examples/models/tiny-gpt2
  data:
    train: examples/data/medical/train.jsonl
    eval: examples/data/medical/eval.jsonl
    seq_len: 64
  method: lora
  lora: {r: 8, alpha: 16}
  train: {steps: $steps, batch_size: 4, lr: 1.0e-3, eval_every: 5, eval_batches: 8,
          checkpoint_every: 5, log_every: 5, seed: 0}
space:
$5
search: $2
seed: $3
$4
YAML
}

space='  train.lr: {loguniform: [1.0e-5, 1.0e-1]}
  lora.r: [2, 4, 8, 16]
  lora.alpha: {int: [1, 64]}
  lora.dropout: {uniform: [0.0, 0.3]}
  train.warmup: [0, 2, 5, 10]'
asha="early_stopping: {type: asha, metric: eval_loss, mode: min, grace_period: 5, reduction_factor: 2}"

run() {  # run NAME: submits $tmp/NAME.yaml, waits for its end, keeps the comparison JSON
  local start=$SECONDS
  "$bin/lorafleet" submit "$tmp/$1.yaml" --wait --json --home "$home" >"$out/$1.json" || true
  echo "  $1: $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["rows"]))' \
    "$out/$1.json") trials in $((SECONDS - start)) s"
}

lrs=$(python3 -c "import sys; n=$grid; print('[' + ', '.join('%.3g' % (10 ** (-5 + 4 * i / (n - 1))) for i in range(n)) + ']')")
sweep grid grid 0 "" "  train.lr: $lrs"
run grid
for s in $(seq 1 "$seeds"); do
  sweep "random-$s" random "$s" "num_samples: $trials" "$space"
  sweep "tpe-$s" tpe "$s" "num_samples: $trials
tpe: {n_startup_trials: 10}" "$space"
  sweep "bohb-$s" bohb "$s" "num_samples: $trials
tpe: {n_startup_trials: 10}
$asha" "$space"
  sweep "pbt-$s" pbt "$s" "num_samples: $population
pbt: {perturbation_interval: 5, mutable: [train.lr]}" "  train.lr: {loguniform: [1.0e-5, 1.0e-1]}"
  for m in random tpe bohb pbt; do run "$m-$s"; done
done
python3 bench/search_report.py "$out" --seeds "$seeds" --trials "$trials" --steps "$steps" \
  --population "$population" --grid "$grid"
