#!/usr/bin/env bash
# Runs the libFuzzer targets of a -DLF_FUZZ=ON build one after another, each for SECONDS, starting
# from its seed corpus and past crashes; what each finds new goes to BUILD/fuzz-runs/corpus/<target>
# (kept for the next run), a crash, hang (10 s) or out-of-memory input to
# BUILD/fuzz-runs/crashes/<target>/. Prints executions per target and exits 1 if any target failed.
# `make fuzz` calls it; nice -n 10, because fuzzing takes a whole core for as long as it runs.
# usage: run_fuzz.sh BUILD_DIR [SECONDS] [TARGET...]   (targets: json yaml sweep ..., default all)
set -uo pipefail

build=${1:?usage: run_fuzz.sh BUILD_DIR [SECONDS] [TARGET...]}
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
here=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(json yaml sweep safetensors protocol tokenizer_json tokenizer_encode http)
fi
runs="$build/fuzz-runs"
mkdir -p "$runs"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

failed=()
summary=$(printf '%-18s %14s %10s %9s %8s  %s\n' target executions exec/s seconds corpus result)
for t in "${targets[@]}"; do
  exe="$build/bin/${t}_fuzz"
  if [[ ! -x "$exe" ]]; then
    echo "run_fuzz: $exe is missing; build it with: cmake --build $build --target lf_fuzz_targets" >&2
    exit 2
  fi
  corpus="$runs/corpus/$t"
  crashes="$runs/crashes/$t"
  log="$runs/$t.log"
  mkdir -p "$corpus" "$crashes"
  seeds=("$here/corpus/$t")
  [[ -d "$here/regressions/$t" ]] && seeds+=("$here/regressions/$t")
  echo "run_fuzz: $t for ${seconds}s (log: $log)"
  start=$(date +%s)
  # -max_len: what the seeds need (tokenizer.json files are a few KB); without it libFuzzer takes
  # the largest file, and a 200 KB regression would make every input that large.
  nice -n 10 "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
  rate=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log")
  size=$(find "$corpus" -type f | wc -l)
  result="ok"
  if [[ $rc -ne 0 ]]; then
    result="FAILED (exit $rc): $(ls "$crashes" | head -3 | tr '\n' ' ')"
    failed+=("$t")
    grep -m1 -E "ERROR: |SUMMARY: |check failed|runtime error" "$log" >&2 || tail -5 "$log" >&2
  fi
  summary+=$'\n'$(printf '%-18s %14s %10s %9s %8s  %s' "$t" "${execs:-?}" "${rate:-?}" "$took" \
    "$size" "$result")
done
echo
echo "$summary"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run_fuzz: ${failed[*]} failed; reproduce with $build/bin/<target>_fuzz <input>, fix, and" \
       "add the input to tests/fuzz/regressions/<target>/" >&2
  exit 1
fi
