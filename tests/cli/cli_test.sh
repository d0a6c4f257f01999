#!/usr/bin/env bash
# Runs the command-line tools as a user would and checks what they print and return.
# usage: cli_test.sh BIN_DIR
set -uo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/check.sh"

# A hand-made safetensors file: one F32 tensor [2] = {1, 2}, header padded to 8 bytes.
header='{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
while (( (${#header} + 8) % 8 != 0 )); do header+=" "; done
{
  printf "$(printf '\\x%02x' $(( ${#header} & 255 )) $(( ${#header} >> 8 )) 0 0 0 0 0 0)"
  printf '%s' "$header"
  printf '\x00\x00\x80\x3f\x00\x00\x00\x40'
} > "$work/ok.safetensors"
printf 'garbage' > "$work/bad.safetensors"

check "version" 0 "^lorafleet [0-9]+\.[0-9]+" -- "$bin/lorafleet" version
check "help" 0 "inspect FILE" -- "$bin/lorafleet" help
check "unknown command" 2 "unknown command 'frobnicate'" -- "$bin/lorafleet" frobnicate
check "inspect" 0 "1 tensors, 2 parameters, 104 bytes" -- "$bin/lorafleet" inspect "$work/ok.safetensors"
check "inspect --json" 0 '"shape": \[' -- "$bin/lorafleet" inspect "$work/ok.safetensors" --json
check "inspect malformed" 1 "bad.safetensors" -- "$bin/lorafleet" inspect "$work/bad.safetensors"
check "inspect missing" 1 "nope.safetensors" -- "$bin/lorafleet" inspect "$work/nope.safetensors"
check "store info, no store" 1 "no experiment store at $work/none" -- "$bin/lorafleet-store" info --store "$work/none"
check "store bad state" 2 "unknown trial state 'bogus'" -- "$bin/lorafleet-store" trials --state bogus --store "$work/none"
check "store unknown command" 2 "lorafleet-store: The following argument was not expected: frob" -- \
  "$bin/lorafleet-store" frob --store "$work/none"
check "store unknown option" 2 "lorafleet-store( sweeps)?: The following arguments were not expected: --colour red" -- \
  "$bin/lorafleet-store" sweeps --colour red --store "$work/none"
check "store bad --limit" 2 "--limit: expected an integer >= 0, got 'many'" -- \
  "$bin/lorafleet-store" events --limit many --store "$work/none"
check "store no command" 2 "a command is required" -- "$bin/lorafleet-store" --store "$work/none"

# Every program answers --help with its options, exit code 0; a flag it does not know is named,
# with a pointer to --help, exit code 2.
for command in inspect train pretrain eval tokenize generate merge up down submit sweeps queue \
               workers status logs cancel pause resume priority adapters tag compare export; do
  check "lorafleet $command --help" 0 "Usage: lorafleet $command .*--help" -- \
    bash -c "'$bin/lorafleet' $command --help | tr '\n' ' '; exit \${PIPESTATUS[0]}"
  check "lorafleet $command --bogus" 2 "lorafleet $command: .*not expected: --bogus.*run \`lorafleet $command --help\`" -- \
    bash -c "'$bin/lorafleet' $command --bogus 2>&1 | tr '\n' ' '; exit \${PIPESTATUS[0]}"
done
check "lorafleet --help lists the commands" 0 "compare SWEEP.*export TRIAL DIR" -- \
  bash -c "'$bin/lorafleet' --help | tr '\n' ' '; exit \${PIPESTATUS[0]}"
check "lorafleet help COMMAND" 0 "Usage: lorafleet up" -- "$bin/lorafleet" help up
check "lorafleetd --help" 0 "--max-pack N:INT in \[0 - 1024\]=0" -- "$bin/lorafleetd" --help
check "lorafleetd --version" 0 "^lorafleetd [0-9]+\." -- "$bin/lorafleetd" --version
check "lorafleetd bad --max-pack" 2 "lorafleetd: --max-pack: Value lots not in range 0 to 1024" -- \
  "$bin/lorafleetd" --max-pack lots
check "lorafleetd bad --heartbeat-timeout" 2 "--heartbeat-timeout: expected a positive number, got '0'" -- \
  "$bin/lorafleetd" --heartbeat-timeout 0
check "lorafleet-worker --help" 0 "--coordinator ENDPOINT.*LORAFLEET_WORKER_ENDPOINT" -- \
  bash -c "'$bin/lorafleet-worker' --help | tr '\n' ' '; exit \${PIPESTATUS[0]}"
check "lorafleet-worker without --coordinator" 2 "lorafleet-worker: --coordinator is required" -- \
  env -u LORAFLEET_WORKER_ENDPOINT "$bin/lorafleet-worker"
check "lorafleet-worker bad --device" 2 "--device: gpu not in \{cpu,auto\}" -- \
  "$bin/lorafleet-worker" --coordinator tcp://127.0.0.1:1 --device gpu
check "lorafleet-store --help" 0 "Subcommands:.*info.*events.*backup" -- bash -c "'$bin/lorafleet-store' --help | tr '\n' ' '; exit \${PIPESTATUS[0]}"
check "lorafleet-store trials --help" 0 "--state STATE" -- "$bin/lorafleet-store" trials --help
# submit --dry-run: the coordinator's checks and the trials, with no coordinator running.
repo=$(cd "$(dirname "$0")/../.." && pwd)
check "submit --dry-run lists the trials" 0 "sweep \"lora-ranks-medical\" \(grid, seed 0\): 10 trials, every file found; nothing was submitted.*9  lora    16      0.002" -- \
  bash -c "cd '$repo' && LORAFLEET_URL=http://127.0.0.1:1 '$bin/lorafleet' submit examples/sweeps/lora-ranks.yaml --dry-run | tr '\n' ' '"
check "submit --dry-run --json" 0 '"index": 9' -- \
  bash -c "cd '$repo' && '$bin/lorafleet' submit examples/sweeps/lora-ranks.yaml --dry-run --json"
check "submit --dry-run of a tpe sweep: its startup trials and next suggestions" 0 \
  "\(tpe, seed 0\): 6 trials at submission, every file found.* 10  lora .*trials 6-10 above are the next suggestions before any result.*in all 20 trials" -- \
  bash -c "cd '$repo' && '$bin/lorafleet' submit examples/sweeps/lora-tpe.yaml --dry-run | tr '\n' ' '"
check "submit --dry-run of a bad sweep names the file and field" 1 \
  "rank_zero_in_space.yaml: sweep.space.lora.r\[2\]: expected an integer from 1" -- \
  bash -c "cd '$repo' && '$bin/lorafleet' submit tests/unit/jobs/testdata/bad_sweeps/rank_zero_in_space.yaml --dry-run"
sed 's|examples/data/medical/train.jsonl|examples/data/medical/missing.jsonl|' \
  "$repo/examples/sweeps/lora-ranks.yaml" >"$work/missing-data.yaml"
check "submit --dry-run checks the files from this folder" 1 \
  "sweep.base.data.train: .*missing.jsonl is not a training data file" -- \
  bash -c "cd '$repo' && '$bin/lorafleet' submit '$work/missing-data.yaml' --dry-run"

# The benchmarks are built with everything else (not when only some targets were built).
for bench in store_bench train_bench methods_bench pack_bench gang_bench dispatch_bench; do
  if [[ -x "$bin/$bench" ]]; then
    check "$bench --help" 0 "Usage: $bench .*--" -- bash -c "'$bin/$bench' --help | tr '\n' ' '; exit \${PIPESTATUS[0]}"
    check "$bench --bogus" 2 "$bench: The following argument was not expected: --bogus" -- \
      "$bin/$bench" --bogus
  else
    echo "skip $bench: not built"
  fi
done

finish
