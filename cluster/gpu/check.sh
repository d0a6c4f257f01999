#!/usr/bin/env bash
# The GPU check (issue 16), one script for one call of the device machine: unpacks the Debian
# libraries prepare.sh packed, configures and builds only what the GPU needs (the GPU test suites,
# the worker library, train_bench and pack_bench; Ninja, -j16, CUDA architecture 90), runs
# `ctest -L gpu`, then the GPU benchmarks with Hugging Face transformers + PEFT measured on the
# same GPU in the same run (and grouped_lora_bench where the tree has it), and writes summary.json and summary.md (with the logs) to $OUT.
# Every step runs under `timeout` within a total budget (8 minutes); a step that fails or runs
# out of time is recorded, and the steps after it still run when they can. Exits non-zero when
# a step failed (in the rehearsal, also when one was skipped for lack of time).
#
# usage: cluster/gpu/check.sh [--budget SECONDS] [--steps a,b,...]
#        cluster/gpu/check.sh --cpu-rehearsal [--build DIR] [--out DIR] [--with-carry [--python PY]]
#   --cpu-rehearsal: the same steps at toy sizes on the CPU with the existing build tree (Debian
#     LibTorch, no downloads), in under a minute; ctest runs it as gpu_check.rehearsal. The
#     Hugging Face peer runs there only when LF_INTEROP_PYTHON names a Python with torch,
#     transformers and peft. --with-carry: rehearse the unpack, configure and build against
#     .gpu-carry (run prepare.sh first) in build-carry/, as on the device machine (minutes; with
#     --python naming a Python whose torch has CUDA, and nvcc here, the same CUDA build too).
#   --steps: run only these (env, unpack, configure, build, ctest, train, pack, kernels, peer).
#   LF_GPU_CHECK_FAIL_STEP=NAME makes that step fail (the rehearsal test checks the exit status).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
mode=gpu budget=480 only="" build="" out="${OUT:-}" with_carry=0 torch_python=python3
while (($#)); do
  case $1 in
    --cpu-rehearsal) mode=rehearsal; budget=90 ;;
    --budget) budget=$2; shift ;;
    --steps) only=$2; shift ;;
    --build) build=$2; shift ;;
    --out) out=$2; shift ;;
    --with-carry) with_carry=1; budget=7200 ;;
    --python) torch_python=$2; shift ;;
    *) echo "check.sh: unknown argument '$1'; see the header of $0" >&2; exit 2 ;;
  esac
  shift
done
if [[ $mode == gpu ]]; then
  [[ -n $out ]] || { echo "check.sh: \$OUT is not set: on the device machine the tool sets it; elsewhere use --cpu-rehearsal" >&2; exit 2; }
  build=${build:-build-gpu}
else
  build=${build:-build}
  out=${out:-$build/gpu-check-rehearsal}
fi
scale=1    # per-step budgets are for 16 cores; --with-carry builds on this machine's few
[[ $with_carry == 1 ]] && scale=30
carried=0  # 1: this run builds against the carried prefix (device machine, or --with-carry)
[[ $mode == gpu || $with_carry == 1 ]] && carried=1
[[ $with_carry == 1 ]] && build=build-carry
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/{summary.json,summary.md,check.log,env.txt,build.log,ctest.log,bench.log,hf.log}
work=$(mktemp -d /tmp/lf-gpu-check.XXXXXX)
exec > >(tee "$out/check.log") 2>&1
start=$(date +%s)
deadline=$((start + budget))
: >"$work/steps.tsv"
echo "check.sh: mode $mode, budget ${budget}s, build folder $build, output $out"

# step NAME BUDGET LOG COMMAND...: runs COMMAND (a program or a function of this script) with at
# most BUDGET seconds (less if the total budget has less left, keeping 15 s for the summary), its
# output appended to $out/LOG and shown. Job control puts it in its own process group, so that
# running out of time stops everything it started (ninja's compilers, a benchmark's children).
set -m
step() {
  local name=$1 want=$(( $2 * scale )) log=$3
  shift 3
  if [[ -n $only && ",$only," != *",$name,"* ]]; then return 0; fi
  local left=$((deadline - $(date +%s) - 15))
  local allowed=$((want < left ? want : left))
  if ((allowed < 10)); then
    record "$name" skipped 0 "out of time: ${left}s left of the ${budget}s budget"
    return 0
  fi
  echo "== [$(( $(date +%s) - start ))s] $name (up to ${allowed}s)"
  local t0 rc=0 pid watchdog
  t0=$(date +%s)
  rm -f "$work/timed-out"
  if [[ ${LF_GPU_CHECK_FAIL_STEP:-} == "$name" ]]; then
    echo "LF_GPU_CHECK_FAIL_STEP=$name: failing this step" | tee -a "$out/$log"; rc=1
  else
    ( "$@" 2>&1 | tee -a "$out/$log"; exit "${PIPESTATUS[0]}" ) &
    pid=$!
    ( sleep "$allowed"; touch "$work/timed-out"; kill -TERM -- "-$pid" 2>/dev/null
      sleep 10; kill -KILL -- "-$pid" 2>/dev/null ) >/dev/null 2>&1 &
    watchdog=$!
    wait "$pid" || rc=$?
    kill -- "-$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
  fi
  local took=$(( $(date +%s) - t0 ))
  if [[ -f $work/timed-out ]]; then record "$name" failed "$took" "timed out after ${allowed}s"
  elif ((rc == 0)); then record "$name" ok "$took" "${note:-}"
  else record "$name" failed "$took" "exit status $rc; see $log"
  fi
  note=""
}
record() {
  if [[ -n $only && ",$only," != *",$1,"* ]]; then return 0; fi
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$work/steps.tsv"
  echo "== $1: $2 (${3}s) $4"
}
ran_ok() { grep -q "^$1	ok	" "$work/steps.tsv"; }
note=""

# --- what this machine is ------------------------------------------------------------------
python=python3
[[ $mode == rehearsal ]] && python=${LF_INTEROP_PYTHON:-}
env_info() {
  echo "host: $(uname -srm), $(nproc) cores"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
  command -v nvcc >/dev/null && nvcc --version | tail -2
  cmake --version | head -1
  if [[ -n $python ]]; then
    "$python" -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())' || true
  fi
}
step env 30 env.txt env_info

# --- the carried libraries -------------------------------------------------------------------
prefix=/tmp/lf-deps
libdir=$prefix/usr/lib/x86_64-linux-gnu
unpack() {
  [[ -f .gpu-carry/deps.tar.xz ]] || { echo "no .gpu-carry/deps.tar.xz: run cluster/gpu/prepare.sh on the CPU machine and carry .gpu-carry"; return 1; }
  rm -rf "$prefix" && mkdir -p "$prefix"
  tar -C "$prefix" -xJf .gpu-carry/deps.tar.xz
  # pkg-config files name /usr; point them at the prefix. Their Requires.private (what a static
  # link would need: libzmq's libsodium, openpgm, ...) name packages whose -dev is not carried.
  find "$prefix" -name '*.pc' -exec sed -i -e '/^Requires.private:/d' \
    -e "s#=/usr#=$prefix/usr#" -e "s# /usr/# $prefix/usr/#g" \
    -e "s#-I/usr/#-I$prefix/usr/#g" -e "s#-L/usr/#-L$prefix/usr/#g" {} +
  # A runtime library that only other carried libraries need, and that this system has, is the
  # system's: ours must not shadow a newer copy (the -dev packages' libraries stay ours).
  local keep dropped="" system_sonames
  system_sonames=$( (ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null) | awk 'NR > 1 {print $1}')
  keep=$(find "$libdir" -name 'lib*.so' -type l -exec readlink -f {} \; | sort -u)
  for link in "$libdir"/lib*.so.*; do
    [[ -L $link ]] || continue
    local soname target
    soname=$(basename "$link")
    target=$(readlink -f "$link")
    grep -qxF "$target" <<<"$keep" && continue
    if grep -qxF "$soname" <<<"$system_sonames"; then
      rm -f "$link" "$target"; dropped+=" $soname"
    fi
  done
  echo "unpacked $(du -sh "$prefix" | cut -f1) into $prefix; the system's copies used for:${dropped:- none}"
}
if ((carried)); then
  step unpack 60 build.log unpack
else
  record unpack skipped 0 "rehearsal: Debian's system libraries"
fi
if ((carried)); then
  export LD_LIBRARY_PATH=$libdir:$libdir/openmpi/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

# --- configure and build ---------------------------------------------------------------------
configure() {
  local torch_prefix="" nccl="" cuda_flags=()
  torch_prefix=$(env -u LD_LIBRARY_PATH "$torch_python" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)
  nccl=$(env -u LD_LIBRARY_PATH "$torch_python" -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null || true)
  # PyTorch's libraries need the CUDA libraries of its nvidia-* wheels (NCCL above all): the
  # linker must find those before an older NCCL in /usr/local/cuda (which lacks symbols
  # libtorch_cuda.so needs); at run time libtorch's own RUNPATH finds them.
  local wheel_libs=""
  wheel_libs=$(env -u LD_LIBRARY_PATH "$torch_python" -c 'import glob, os, nvidia
print(":".join(sorted({os.path.dirname(p) for d in nvidia.__path__ for p in glob.glob(os.path.join(d, "*", "lib", "*.so*"))})))' 2>/dev/null || true)
  if [[ $mode == gpu || ( -n $torch_prefix && -x /usr/local/cuda/bin/nvcc ) ]]; then
    [[ -n $torch_prefix ]] || { echo "python3 has no torch: the device machine's image should have it"; return 1; }
    cuda_flags=(-DCMAKE_CUDA_ARCHITECTURES=90 -DLF_WITH_CUDA=ON -DTorch_DIR="$torch_prefix/Torch")
    if [[ -n $nccl && -f $nccl/include/nccl.h ]]; then
      cuda_flags+=(-DLF_NCCL_INCLUDE_DIR="$nccl/include" -DLF_NCCL_LIBRARY="$(ls "$nccl"/lib/libnccl.so* | head -1)")
    fi
  else
    cuda_flags=(-DLF_WITH_CUDA=OFF)  # a rehearsal with the carry and Debian's LibTorch
  fi
  # TORCH_CUDA_ARCH_LIST: without it, Torch's CMake adds the wheel's whole list of architectures
  # to every .cu file, compute_50 included, which nvcc 13 refuses.
  TORCH_CUDA_ARCH_LIST=9.0 PKG_CONFIG_PATH=$libdir/pkgconfig:$prefix/usr/share/pkgconfig PKG_CONFIG_LIBDIR=$libdir/pkgconfig \
  PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1 \
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${cuda_flags[@]}" \
    -DCMAKE_PREFIX_PATH="$prefix/usr${torch_prefix:+;$torch_prefix}" \
    -DPKG_CONFIG_EXECUTABLE="$prefix/usr/bin/pkgconf" -DOPENSSL_ROOT_DIR="$prefix/usr" \
    -DMPI_SKIP_COMPILER_WRAPPER=ON -DMPI_CXX_SKIP_MPICXX=ON \
    -DMPI_CXX_HEADER_DIR="$libdir/openmpi/include" -DMPI_CXX_LIB_NAMES=mpi \
    -DMPI_mpi_LIBRARY="$libdir/openmpi/lib/libmpi.so" \
    -DCMAKE_CXX_FLAGS="-idirafter $prefix/usr/include" \
    ${wheel_libs:+-DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$wheel_libs"} \
    ${wheel_libs:+-DCMAKE_SHARED_LINKER_FLAGS="-Wl,-rpath-link,$wheel_libs"}
}
# The GPU test suites (lf_add_test_suite(... LABELS gpu ...) in tests/unit/*/CMakeLists.txt),
# found by reading them so that suites added later are built too.
gpu_suites=$(awk 'match($0, /lf_add_test_suite\([A-Za-z0-9_]+/) {name = substr($0, RSTART + 18, RLENGTH - 18)}
                  /LABELS[^)]*gpu/ && name != "" && !/set_tests_properties/ {print name}' \
  tests/unit/*/CMakeLists.txt | sort -u | tr '\n' ' ')
# grouped_lora_bench (the grouped LoRA GEMM against a per-trial loop) where the tree has it.
targets="$gpu_suites train_bench pack_bench grouped_lora_bench"
# Ninja builds nothing when asked for a target it does not know (a suite the configure left
# out, such as the NCCL tests without NCCL; a benchmark this tree lacks): only the known ones.
known_targets() {
  local all t
  all=$(ninja -C "$build" -t targets all | sed 's/:.*//')
  for t in $targets; do
    if grep -qxF "$t" <<<"$all"; then echo "$t"; else echo "not in this build: $t" >&2; fi
  done
}
if ((carried)); then
  step configure 120 build.log configure
  jobs=$(nproc)
  ((jobs > 16)) && jobs=16
  build_known() { cmake --build "$build" -j "$jobs" --target $(known_targets) -- -k 0; }
  # A rerun on a warm machine may leave configure out (--steps build,...): the folder is there.
  configured=0
  ran_ok configure && configured=1
  [[ -n $only && ",$only," != *",configure,"* && -f $build/CMakeCache.txt ]] && configured=1
  if ((configured)); then
    step build 300 build.log build_known
  else
    record build skipped 0 "configure did not succeed"
  fi
else
  note="existing build tree" step configure 20 build.log test -f "$build/CMakeCache.txt"
  # Every target must exist and be up to date (a dry run: ctest must not build).
  build_dry() {
    local plan
    plan=$(cmake --build "$build" --target $(known_targets) -- -n) || return 1
    echo "$plan" | tail -3
    if grep -q 'Linking' <<<"$plan"; then echo "the build tree is out of date: build $targets first"; return 1; fi
  }
  note="targets exist and are up to date: $targets" step build 30 build.log build_dry
fi
bin=$root/$build/bin
[[ $build == /* ]] && bin=$build/bin

# --- ctest -L gpu ----------------------------------------------------------------------------
# GPU tests that start ranks with mpirun (label mpi too) need OpenMPI's launcher, which is not
# carried: without one they are left out, and the summary says so.
mpirun_found=0
command -v mpirun >/dev/null && mpirun_found=1
run_ctest() {
  local skip=()
  ((mpirun_found)) || { skip=(-LE '^mpi$'); echo "no mpirun here: GPU tests labelled mpi are left out"; }
  cd "$build" && ctest -L '^gpu$' "${skip[@]}" --output-on-failure --no-tests=error --timeout 120 -j 4
}
built_suites=""
for suite in $gpu_suites; do [[ -x $bin/$suite ]] && built_suites+=" $suite"; done
if [[ -n $built_suites ]]; then
  ((mpirun_found)) || note="tests labelled mpi left out: no mpirun on this machine"
  step ctest 120 ctest.log run_ctest
else
  record ctest failed 0 "the GPU test suites ($gpu_suites) were not built"
fi

# --- benchmarks ------------------------------------------------------------------------------
# The peer must see the machine's own libraries, not the carried ones.
peer_python=""
if [[ -n $python ]] && env -u LD_LIBRARY_PATH "$python" -c 'import torch, transformers, peft' 2>/dev/null; then
  peer_python=$work/peer-python
  printf '#!/bin/sh\nunset LD_LIBRARY_PATH\nexec %q "$@"\n' "$(command -v "$python")" >"$peer_python"
  chmod +x "$peer_python"
fi
if [[ $mode == gpu ]]; then
  train_args=(--models llama-3.2-1b --methods lora,qlora,full --rank 16 --alpha 32 --targets all
              --device cuda --dtype bf16 --seq 2048 --batch 4 --steps 10 --warmup 2)
  pack_args=(--shape llama-110m --device cuda --dtype bf16 --targets all --asha off --processes
             --sizes 4,8,12,16,20,24,28,32,36,40,44,48,52,56,60,64 --steps 30 --seq 512 --batch 4
             --threads 1)  # one host thread each: 16 processes share 16 cores
  peer_args=(--config bench/models/llama-3.2-1b --method lora --rank 16 --alpha 32
             --targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj
             --device cuda --dtype bf16 --seq 2048 --batch 4 --steps 10 --warmup 2)
else
  train_args=(--models llama-tiny --methods lora,qlora,full --rank 16 --alpha 32 --targets all
              --seq 32 --batch 2 --steps 2 --warmup 1 --threads 1)
  pack_args=(--shape llama-tiny --targets all --asha off --processes --sizes 4,8,16,32 --steps 3
             --seq 32 --batch 2 --threads 1)
  peer_args=(--config bench/models/llama-tiny --method lora --rank 16 --alpha 32
             --targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj
             --seq 32 --batch 2 --steps 2 --warmup 1 --threads 1)
fi
peer_methods=lora,full
[[ $mode == rehearsal ]] && peer_methods=lora  # each peer start imports transformers: ~10 s here
[[ -n $peer_python ]] && train_args+=(--peer "$peer_python" --peer-methods "$peer_methods")
if [[ -x $bin/train_bench ]]; then
  step train 180 bench.log "$bin/train_bench" "${train_args[@]}" --json "$work/train.json"
else
  record train failed 0 "train_bench was not built"
fi
if [[ -x $bin/pack_bench ]]; then
  pack() { "$bin/pack_bench" "${pack_args[@]}" | tee "$work/pack.txt"; }
  step pack 150 bench.log pack
else
  record pack failed 0 "pack_bench was not built"
fi
# The grouped LoRA GEMM's own benchmark (kernels/), where this tree has it: short, and last
# among ours so the issue's figures come first.
if [[ -x $bin/grouped_lora_bench ]]; then
  kernel_args=(--device cuda)
  [[ $mode == rehearsal ]] && kernel_args=(--device cpu --iters 2)
  step kernels 60 bench.log "$bin/grouped_lora_bench" "${kernel_args[@]}"
elif grep -q grouped_lora_bench bench/CMakeLists.txt; then
  record kernels failed 0 "grouped_lora_bench was not built"
else
  record kernels skipped 0 "no grouped_lora_bench in this tree"
fi
# The peer alone, when train_bench could not run it: its figures are worth having anyway.
if [[ -z $peer_python ]]; then
  record peer skipped 0 "no Python with torch, transformers and peft (set LF_INTEROP_PYTHON)"
elif ran_ok train; then
  record peer ok 0 "measured inside train_bench (--peer)"
else
  peer() { "$peer_python" bench/hf_peer.py "${peer_args[@]}" | tee "$work/peer.txt"; }
  step peer 120 hf.log peer
fi

# --- summary ---------------------------------------------------------------------------------
finished=$(date +%s)
status=0
env -u LD_LIBRARY_PATH python3 "$root/cluster/gpu/summarize.py" --mode "$mode" --work "$work" \
  --out "$out" --seconds $((finished - start)) --budget "$budget" || status=$?
rm -rf "$work"
exit $status
