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
check "store unknown command" 2 "unknown command" -- "$bin/lorafleet-store" frob --store "$work/none"
check "store unknown option" 2 "unknown option --colour" -- "$bin/lorafleet-store" sweeps --colour red --store "$work/none"

finish
