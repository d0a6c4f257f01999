#!/usr/bin/env bash
# `make demo`: a real sweep on the bundled model with the embedded store and two local MPI worker
# ranks. Starts the fleet (or uses the one already running in ./.lorafleet), submits
# examples/sweeps/lora-ranks.yaml, follows it live, prints the comparison and exports the best
# adapter. The fleet keeps running afterwards so it can be explored; `lorafleet down` stops it.
set -euo pipefail
build=${1:-build}
lorafleet="$build/bin/lorafleet"
sweep_file=examples/sweeps/lora-ranks.yaml

if "$lorafleet" workers >/dev/null 2>&1; then
  echo "== a lorafleet coordinator is already running here; submitting to it"
else
  echo "== starting the coordinator and 2 worker ranks (lorafleet up --workers 2)"
  "$lorafleet" up --workers 2
fi
echo
echo "== submitting $sweep_file: LoRA ranks 1-16 x 2 learning rates on the medical domain"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
"$lorafleet" submit "$sweep_file" --wait | tee "$out" || status=$?
sweep=$(sed -n 's/^submitted sweep \([0-9a-z]*\) .*/\1/p' "$out" | head -1)
if [ -z "$sweep" ]; then
  echo "make demo: the sweep was not submitted (see above)" >&2
  exit 1
fi
best=$("$lorafleet" compare "$sweep" --csv | sed -n '2p' | cut -d, -f1)
echo
if [ -n "$best" ]; then
  "$lorafleet" export "$best" runs/demo-best-adapter --force
fi
cat <<MSG

== done. What is where:
  every trial's adapter (PEFT format) is in the store; export one with
      $lorafleet export TRIAL DIR
  the best one is exported to runs/demo-best-adapter; try it:
      $lorafleet generate --base examples/models/tiny-gpt2 --adapter runs/demo-best-adapter --prompt "Assessment:"
  trial outputs, metrics and checkpoints: .lorafleet/runs/$sweep/
  more views: $lorafleet compare $sweep --md | status $sweep | queue | workers | logs TRIAL
  the dashboard, in a browser on this machine: $(sed -n 's/.*"http": *"\([^"]*\)".*/\1/p' .lorafleet/coordinator.json 2>/dev/null)/#/sweeps/$sweep
  the coordinator and workers keep running; stop them with: $lorafleet down
MSG
exit "$status"
