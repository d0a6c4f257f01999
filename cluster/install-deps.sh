#!/usr/bin/env bash
# Installs the Debian packages lorafleet builds and runs with, only those that are missing.
# Idempotent: a second run installs nothing and says so. Runs apt-get as root or through sudo.
# Set LF_SKIP_DEPS=1 to skip entirely (e.g. on a machine managed by other means).
# usage: install-deps.sh [--tests | --fuzz]   (--tests: also what only the tests use; `make test`
# passes it. --fuzz: also clang with libFuzzer and the sanitizer runtimes; `make fuzz` passes it)
set -euo pipefail

if [[ "${LF_SKIP_DEPS:-0}" == "1" ]]; then
  echo "install-deps: LF_SKIP_DEPS=1, not checking packages"
  exit 0
fi

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git python3
  # fixed choices of the project (see README.md)
  libtorch-dev
  libopenmpi-dev openmpi-bin
  libzmq3-dev cppzmq-dev
  libboost-dev
  librocksdb-dev
  libgtest-dev libgmock-dev
  # libraries the common layer uses
  libspdlog-dev libfmt-dev nlohmann-json3-dev libyaml-cpp-dev libssl-dev libpcre2-dev
  # tokenizers: Unicode normalization (NFC, NFKC) and SentencePiece tokenizer.model files
  libutf8proc-dev libsentencepiece-dev
  # every binary's command line (CLI11) and the /metrics exposition (prometheus-cpp's core)
  libcli11-dev prometheus-cpp-dev
  # an optimised BLAS for LibTorch on the CPU (the reference BLAS is 10-50x slower); the OpenMP
  # build, because LibTorch parallelises with OpenMP too
  libopenblas0-openmp
  # promtool, which the tests use to check GET /metrics as Prometheus reads it
  prometheus
  # rsvg-convert, for `lorafleet compare --plot FILE.png`
  librsvg2-bin
)
if [[ "${1:-}" == "--tests" ]]; then
  # headless Chromium, in which the dashboard test opens every page
  packages+=(chromium)
fi
if [[ "${1:-}" == "--fuzz" ]]; then
  # clang, libFuzzer and the ASan/UBSan runtimes (libclang-rt-dev), llvm-symbolizer (in llvm) for
  # readable stack traces in crash reports
  packages+=(clang libclang-rt-dev llvm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: apt-get not found; this script supports Debian 12 (bookworm). Install the packages above by hand, then run with LF_SKIP_DEPS=1." >&2
  exit 1
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: not root and sudo is not available; run 'apt-get install ${missing[*]}' as root." >&2
    exit 1
  fi
fi

echo "install-deps: installing ${#missing[@]} missing package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# An old or empty package list makes apt-get miss packages; refresh it once per run.
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
