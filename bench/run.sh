#!/usr/bin/env bash
# Runs every benchmark against the build in $1 (default: build). Each prints its own figures
# beside a baseline measured in the same run; docs/benchmarks.md records them.
set -euo pipefail
build=${1:-build}
for bench in store_bench train_bench methods_bench pack_bench dispatch_bench; do
  echo "== $bench"
  "$build/bin/$bench"
  echo
done
# Gangs need MPI ranks: as many as the machine has cores (at most 4).
ranks=$(( $(nproc) < 4 ? $(nproc) : 4 ))
root=()
[[ $(id -u) == 0 ]] && root=(--allow-run-as-root)
echo "== gang_bench (mpirun -np $ranks)"
mpirun "${root[@]}" -np "$ranks" --oversubscribe --bind-to none "$build/bin/gang_bench"
