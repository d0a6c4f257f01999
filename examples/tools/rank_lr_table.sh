#!/usr/bin/env bash
# Trains the bundled model's LoRA adapter for one domain at several ranks and learning rates,
# one after another with `lorafleet train`, and prints eval loss before and after each. This is
# how the table in examples/README.md was made.
#   examples/tools/rank_lr_table.sh medical [STEPS]
set -euo pipefail
domain=${1:-medical}
steps=${2:-150}
bin=${LORAFLEET:-build/bin/lorafleet}
out=${OUT:-runs/rank-lr-$domain}
printf "%-6s %-8s %12s %12s %12s %10s\n" rank lr "base eval" "eval after" trainable "tokens/s"
for lr in 2e-4 2e-3; do
  for r in 1 4 16; do
    job=$(mktemp)
    cat > "$job" <<YAML
base_model: examples/models/tiny-gpt2
data: {train: examples/data/$domain/train.jsonl, eval: examples/data/$domain/eval.jsonl, seq_len: 128}
lora: {r: $r, alpha: $((2 * r)), target_modules: [c_attn, c_proj, c_fc]}
train: {steps: $steps, batch_size: 16, lr: $lr, schedule: cosine, warmup: 10, seed: 0}
output: $out/r$r-lr$lr
YAML
    json=$("$bin" train "$job" --quiet --json --no-resume)
    rm -f "$job"
    python3 - "$r" "$lr" "$json" <<'PY'
import json, sys
r, lr, j = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(f"{r:<6} {lr:<8} {j['initial_eval_loss']:12.4f} {j['eval_loss']:12.4f} "
      f"{j['trainable_params']:12d} {j['tokens_per_s']:10.0f}")
PY
  done
done
