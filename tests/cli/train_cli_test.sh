#!/usr/bin/env bash
# The training engine end to end through `lorafleet`, as a user runs it: pretrain a model small
# enough to train in a second, train an adapter, evaluate, merge, generate, tokenize; then bad
# input, which must get a clear message naming the field or file.
# usage: train_cli_test.sh BIN_DIR
set -uo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/check.sh"

python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
texts = ["the quick brown fox jumps over the lazy dog %d" % i for i in range(200)]
with open(w + "/train.jsonl", "w") as f:
    for t in texts:
        f.write(json.dumps({"text": t}) + "\n")
with open(w + "/eval.jsonl", "w") as f:
    for t in texts[:20]:
        f.write(json.dumps({"text": t}) + "\n")
PY

check "pretrain" 0 "pretrain: completed after 20 steps" -- "$bin/lorafleet" pretrain \
  --data "$work/train.jsonl" --out "$work/base" --layers 1 --hidden 16 --heads 2 --seq-len 32 \
  --steps 20 --batch-size 4 --quiet
cat > "$work/job.yaml" <<EOF
base_model: $work/base
data: {train: $work/train.jsonl, eval: $work/eval.jsonl, seq_len: 32}
lora: {r: 2, alpha: 4}
train: {steps: 5, batch_size: 4, lr: 0.01}
output: $work/run
EOF
check "train" 0 "adapter: $work/run/adapter" -- "$bin/lorafleet" train "$work/job.yaml" --quiet
check "train --json --out" 0 '"completed": true' -- \
  "$bin/lorafleet" train "$work/job.yaml" --quiet --json --out "$work/run2"
adapter_loss=$("$bin/lorafleet" eval --base "$work/base" --adapter "$work/run/adapter" \
  --data "$work/eval.jsonl" --json)
check "eval --json" 0 '^\{"loss":[0-9.]+,"perplexity":[0-9.]+,"tokens":[0-9]+\}$' -- \
  echo "$adapter_loss"
check "merge" 0 "merged" -- "$bin/lorafleet" merge --base "$work/base" \
  --adapter "$work/run/adapter" --out "$work/merged"
merged_loss=$("$bin/lorafleet" eval --base "$work/merged" --data "$work/eval.jsonl" --json)
check "merged model scores as base + adapter" 0 "^same" -- python3 -c "
import json; a = json.loads('$adapter_loss'); m = json.loads('$merged_loss')
print('same' if abs(a['loss'] - m['loss']) < 1e-5 and a['tokens'] == m['tokens'] else 'differ', a, m)"
check "merge into a used folder" 1 "exists and is not empty" -- "$bin/lorafleet" merge \
  --base "$work/base" --adapter "$work/run/adapter" --out "$work/merged"
check "generate with two adapters" 0 "== $work/run2/adapter" -- "$bin/lorafleet" generate \
  --base "$work/base" --adapter "$work/run/adapter" --adapter "$work/run2/adapter" \
  --prompt "the quick" --max-new-tokens 5
check "tokenize" 0 "^104 105$" -- sh -c "printf hi | '$bin/lorafleet' tokenize --tokenizer '$work/base'"
check "tokenize --json" 0 '^\[104,105\]$' -- \
  sh -c "printf hi | '$bin/lorafleet' tokenize --tokenizer '$work/base' --json"

# SIGTERM finishes the step, checkpoints and exits; the same command continues from there.
sed -e 's/steps: 5,/steps: 200000,/' -e "s|output: .*|output: $work/long|" "$work/job.yaml" > "$work/long.yaml"
"$bin/lorafleet" train "$work/long.yaml" > "$work/long.out" 2>&1 &
pid=$!
sleep 2
kill -TERM $pid
wait $pid
echo "exit code $?" >> "$work/long.out"
check "SIGTERM checkpoints and exits 1" 0 "checkpointed; run the same command again" -- \
  grep -A1 "checkpointed" "$work/long.out"
check "SIGTERM exit code" 0 "^exit code 1$" -- tail -1 "$work/long.out"
# Continue to 20 steps past where it stopped (a constant learning rate, so the end can move).
stopped=$(grep -oE "continue from step [0-9]+" "$work/long.out" | grep -oE "[0-9]+$")
sed -i "s/steps: 200000,/steps: $((stopped + 20)),/" "$work/long.yaml"
check "the same command resumes" 0 '"resumed_from_step": [1-9]' -- sh -c \
  "'$bin/lorafleet' train '$work/long.yaml' --quiet && cat '$work/long/result.json'"

printf 'base_model: %s\ndata: {train: %s}\nlora: {rank: 4}\n' "$work/base" "$work/train.jsonl" \
  > "$work/bad.yaml"
check "train: unknown key" 2 "bad.yaml: job.lora.rank: unknown key" -- \
  "$bin/lorafleet" train "$work/bad.yaml"
printf 'base_model: %s\ndata: {train: %s}\noutput: %s\n' "$work/nope" "$work/train.jsonl" \
  "$work/out3" > "$work/nomodel.yaml"
check "train: missing model" 1 "base model folder $work/nope does not exist" -- \
  "$bin/lorafleet" train "$work/nomodel.yaml"
printf '{"text": "ok"}\n{"txt": 3}\n' > "$work/badline.jsonl"
printf 'base_model: %s\ndata: {train: %s, seq_len: 16}\noutput: %s\n' "$work/base" "$work/badline.jsonl" \
  "$work/out4" > "$work/baddata.yaml"
check "train: malformed data line" 2 "badline.jsonl:2" -- "$bin/lorafleet" train "$work/baddata.yaml"
check "train: no job" 2 "JOB.yaml is required" -- "$bin/lorafleet" train
check "eval: missing --data" 2 "[-][-]data is required" -- "$bin/lorafleet" eval --base "$work/base"
check "eval: not an adapter" 1 "has no adapter_config.json" -- "$bin/lorafleet" eval \
  --base "$work/base" --adapter "$work" --data "$work/eval.jsonl"
check "pretrain: unknown option" 2 "lorafleet pretrain: The following arguments were not expected: --layer 2" -- \
  "$bin/lorafleet" pretrain --layer 2

finish
