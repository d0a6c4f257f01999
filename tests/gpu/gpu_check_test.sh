#!/usr/bin/env bash
# gpu_check.rehearsal: runs the GPU check (cluster/gpu/check.sh) as a CPU rehearsal at toy sizes
# against this build tree, so the script cannot rot between the rare sessions that have a GPU.
# Checks that it passes and wrote summary.json and summary.md with every step and the figures,
# then that a failing step (LF_GPU_CHECK_FAIL_STEP) makes it exit non-zero and say so.
# usage: gpu_check_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/lf-gpu-check-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "gpu_check_test: $*" >&2; exit 1; }

# 1. The whole rehearsal passes and summarises every step.
if ! "$root/cluster/gpu/check.sh" --cpu-rehearsal --build "$build" --out "$tmp/ok" >"$tmp/ok.log" 2>&1; then
  tail -40 "$tmp/ok.log"
  fail "the rehearsal failed (its output is above)"
fi
python3 - "$tmp/ok" <<'PY' || fail "the summary is incomplete (see above)"
import json, os, sys
out = sys.argv[1]
s = json.load(open(os.path.join(out, "summary.json")))
for key in ["check", "mode", "ok", "seconds", "budget_seconds", "machine", "steps", "headline", "results"]:
    assert key in s, f"summary.json has no '{key}'"
assert s["mode"] == "rehearsal" and s["ok"] is True, s
names = [st["name"] for st in s["steps"]]
assert names == ["env", "unpack", "configure", "build", "ctest", "train", "pack", "kernels", "peer"], names
for st in s["steps"]:
    assert st["status"] in ("ok", "skipped"), st
    assert st["status"] == "ok" or st["name"] in ("unpack", "kernels", "peer"), st
train = s["results"]["train"]
m = train["models"]["llama-tiny"]
for key in ["lorafleet lora", "lorafleet qlora", "lorafleet full"]:
    assert m[key]["tokens_per_s"] > 0 and m[key]["peak_memory_bytes"] > 0, key
assert "flop_formula" in train
h = s["headline"]
for key in ["lora_tokens_per_s", "qlora_over_lora_tokens_per_s", "qlora_base_bytes_per_param",
            "lora_over_full_tokens_per_s", "lora_over_full_peak_memory",
            "packed_over_one_at_a_time", "packed_over_processes"]:
    assert isinstance(h[key], (int, float)) and h[key] > 0, f"headline {key}: {h[key]}"
assert 0.45 < h["qlora_base_bytes_per_param"] < 0.6, h["qlora_base_bytes_per_param"]
peer = [st for st in s["steps"] if st["name"] == "peer"][0]
if os.environ.get("LF_INTEROP_PYTHON"):
    assert h["ours_over_peer_lora_tokens_per_s"] > 0, "the peer ran but gave no ratio"
else:
    assert peer["status"] == "skipped" and "LF_INTEROP_PYTHON" in peer["note"], peer
md = open(os.path.join(out, "summary.md")).read()
for part in ["# lorafleet GPU check (rehearsal)", "## Steps", "## Figures", "| ctest | ok |",
             "FLOPs per token:", "packed_over_one_at_a_time"]:
    assert part in md, f"summary.md lacks '{part}'"
for log in ["check.log", "ctest.log", "bench.log", "env.txt"]:
    assert os.path.getsize(os.path.join(out, log)) > 0, f"{log} is empty"
PY

# 2. A failing step fails the check, which says which step.
if LF_GPU_CHECK_FAIL_STEP=ctest "$root/cluster/gpu/check.sh" --cpu-rehearsal --build "$build" \
     --out "$tmp/fail" --steps env,ctest >"$tmp/fail.log" 2>&1; then
  fail "a failing ctest step did not make check.sh exit non-zero"
fi
grep -q "step ctest failed" "$tmp/fail.log" || fail "check.sh did not name the failed step"
python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); assert s["ok"] is False; assert [st["status"] for st in s["steps"] if st["name"] == "ctest"] == ["failed"]' \
  "$tmp/fail/summary.json" || fail "summary.json does not record the failed step"
echo "gpu_check_test: the rehearsal passed and a failing step failed it"
