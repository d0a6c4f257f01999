#!/usr/bin/env bash
# A chat fine-tuning sweep through a real fleet, as users of Llama 3-style models run one: the
# bundled Llama-architecture model with a Llama 3 tokenizer and chat template, {"messages"} data
# packed as documents with loss on the assistant turns, LoRA ranks 2 and 32 on all linear
# layers. Both trials complete and beat the base on the chat eval set (scored on the assistant
# turns); compare and export warn that rank 32 needs vLLM's --max-lora-rank 32; the exported
# adapter answers a chat prompt through `generate --chat`.
# usage: chat_sweep_test.sh BIN_DIR
source "$(dirname "$0")/lib.sh"
lf_begin "$1" chat_sweep

fleet_up --workers 2

cat >"$tmp/sweep.yaml" <<EOF2
name: it-chat
base:
  base_model: examples/models/tiny-llama3
  data:
    train: examples/data/chat/train.jsonl
    eval: examples/data/chat/eval.jsonl
    seq_len: 256
  method: lora
  lora: {alpha: 16, target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]}
  train: {steps: 16, batch_size: 4, lr: 3.0e-3, eval_batches: 4, log_every: 4}
space:
  lora.r: [2, 32]
EOF2
run_ok "submit --wait --json exits 0" timeout 240 "$bin/lorafleet" submit "$tmp/sweep.yaml" \
  --wait --json --home "$home"
sweep=$(jget 'j["sweep"]["id"]' <<<"$out")
expect_eq "$(jget 'j["sweep"]["state"]' <<<"$out")" finished "sweep state after --wait"

run_ok "compare --json" lf compare "$sweep" --json
expect_eq "$(jget 'len(j["rows"])' <<<"$out")" 2 "compare rows"
expect_eq "$(jget 'all(r["state"] == "completed" and r["eval_loss"] < r["initial_eval_loss"] for r in j["rows"])' \
  <<<"$out")" true "both trials completed below their starting eval loss"
expect_eq "$(jget 'sorted([r["r"], len(r["serving_warnings"])] for r in j["rows"])' <<<"$out")" \
  '[[2, 0], [32, 1]]' "serving warnings by rank"
big=$(jget '[r["trial_id"] for r in j["rows"] if r["r"] == 32][0]' <<<"$out")
run_ok "compare (text)" lf compare "$sweep"
grep -q "serving: rank 32 is above vLLM's default --max-lora-rank 16: start it with --max-lora-rank 32 ($big)" \
  <<<"$out" || fail "compare text lacks the serving warning for $big: $out"
ok "compare names the trial vLLM needs --max-lora-rank 32 for"

dir=$tmp/adapter
"$bin/lorafleet" export "$big" "$dir" --home "$home" >"$tmp/export.out" 2>"$tmp/export.err" ||
  fail "export $big: $(cat "$tmp/export.err")"
grep -q "warning: serving: rank 32" "$tmp/export.err" || fail "export printed no warning: $(cat "$tmp/export.err")"
ok "export warns about the rank"
expect_eq "$(jget 'j["r"], j["peft_type"], sorted(j["target_modules"])' <"$dir/adapter_config.json")" \
  '[32, "LORA", ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]]' \
  "adapter_config.json of $big"

run_ok "eval of the base on chat lines" timeout 120 "$bin/lorafleet" eval \
  --base examples/models/tiny-llama3 --data examples/data/chat/eval.jsonl --json
base_loss=$(jget 'j["loss"]' <<<"$out")
run_ok "eval with the adapter" timeout 120 "$bin/lorafleet" eval --base examples/models/tiny-llama3 \
  --adapter "$dir" --data examples/data/chat/eval.jsonl --json
expect_eq "$(jget "j['loss'] < $base_loss" <<<"$out")" true \
  "adapter eval loss $(jget 'j["loss"]' <<<"$out") below the base's $base_loss on the assistant turns"

run_ok "generate --chat" timeout 120 "$bin/lorafleet" generate --base examples/models/tiny-llama3 \
  --adapter "$dir" --chat --prompt "How do I cancel my subscription?" --max-new-tokens 24
[[ -n ${out//[[:space:]]/} ]] || fail "generate --chat printed nothing"
ok "generate --chat: $(head -c 120 <<<"$out")"

fleet_down
exit 0
