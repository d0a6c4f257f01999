#!/usr/bin/env bash
# Prepares, on this (CPU, Debian 12) machine, what the GPU check (cluster/gpu/check.sh) needs on
# the device machine that it cannot get there: the Debian libraries the worker, the GPU tests and
# the benchmarks build against (RocksDB, ZeroMQ, yaml-cpp, GoogleTest, Boost's headers, OpenMPI,
# ...). The device machine has PyTorch (LibTorch inside it), nvcc, cmake and ninja, and nothing
# can be fetched there, so the .deb files are fetched here (apt-get download), unpacked, trimmed
# (no static libraries except GoogleTest's, no docs) and packed into .gpu-carry/deps.tar.xz,
# which check.sh unpacks into a prefix there. Checks that every shared library in it finds the
# libraries it needs (in the prefix, or in a base system's libc/libstdc++/zlib), that the working
# tree plus the carry stay under the device tool's 64 MiB, and prints the exact `run` call.
#
# usage: cluster/gpu/prepare.sh [--keep]   (--keep: keep the unpacked prefix in build/gpu-carry-stage)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
carry=.gpu-carry
limit_mib=64

# What the GPU targets' configure and link need (the top-level CMakeLists finds every package
# the project uses, so the coordinator's RocksDB and prometheus-cpp are found too, though nothing
# of theirs is built), then the shared libraries those link to. A base Ubuntu/Debian system has
# libc, libstdc++, libgcc, libm and zlib; check.sh drops a carried runtime library whose soname
# the device machine already has (ldconfig), so ours never shadows a newer system copy.
dev_packages=(
  libspdlog-dev libfmt-dev nlohmann-json3-dev libyaml-cpp-dev libssl-dev libpcre2-dev
  libutf8proc-dev libsentencepiece-dev libcli11-dev libboost1.74-dev libzmq3-dev cppzmq-dev
  librocksdb-dev prometheus-cpp-dev libopenmpi-dev libgtest-dev libgmock-dev
  pkgconf pkgconf-bin libpkgconf3
)
runtime_packages=(
  libspdlog1.10 libfmt9 libyaml-cpp0.7 libssl3 libpcre2-8-0 libpcre2-16-0 libpcre2-32-0
  libpcre2-posix3 libutf8proc2 libsentencepiece0 libzmq5 librocksdb7.8 libprometheus-cpp-core1.0
  libopenmpi3 libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7 libudev1
  libgflags2.2 libsnappy1v5 liblz4-1 libzstd1 libbz2-1.0
  libsodium23 libpgm-5.3-0 libnorm1 libbsd0 libmd0
  libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1
)
# Sonames every Linux system the check runs on has.
base_sonames='^(libc|libm|libdl|libpthread|librt|libresolv|libstdc\+\+|libgcc_s|libz|ld-linux-x86-64)\.so'

command -v apt-get >/dev/null || { echo "prepare.sh: needs apt-get (Debian 12, as CI)" >&2; exit 1; }
rm -rf "$carry" build/gpu-carry-stage
stage=$(mktemp -d /tmp/lf-gpu-carry.XXXXXX)
mkdir -p "$carry/debs"
# The folder must not travel as an untracked file of the tree, only through `carry`: .gitignore
# lists it; a checkout whose .gitignore does not gets it in .git/info/exclude.
if ! git check-ignore -q "$carry"; then
  echo "/$carry/" >>"$(git rev-parse --git-path info/exclude)"
  echo "prepare.sh: added /$carry/ to .git/info/exclude"
fi

echo "prepare.sh: downloading ${#dev_packages[@]} + ${#runtime_packages[@]} Debian packages"
(cd "$carry/debs" && apt-get download -q "${dev_packages[@]}" "${runtime_packages[@]}" 2>&1 |
  grep -v -e '^Get:' -e 'unsandboxed' || true)
n=$(ls "$carry"/debs/*.deb | wc -l)
if (( n != ${#dev_packages[@]} + ${#runtime_packages[@]} )); then
  echo "prepare.sh: got $n .deb files, expected $(( ${#dev_packages[@]} + ${#runtime_packages[@]} )); see apt-get's message above" >&2
  exit 1
fi
for deb in "$carry"/debs/*.deb; do dpkg -x "$deb" "$stage"; done

# Trim what no build needs: documentation, manuals, static libraries (GoogleTest's are what its
# CMake targets name, so they stay; the others are emptied), OpenMPI's Fortran modules and its transport plugins (they
# and their common libraries for networks a one-GPU machine lacks; mpirun (openmpi-bin) is not
# carried, so neither is PMIx: the GPU targets link libmpi, and the GPU tests start no ranks).
lib="$stage/usr/lib/x86_64-linux-gnu"
rm -rf "$stage/usr/share/doc" "$stage/usr/share/man" "$stage/usr/share/lintian" \
       "$lib/fortran" "$stage/usr/share/locale"
# A CMake config that names a static library checks that the file exists (RocksDB's static
# target, which nothing here links): an empty file stands in for it.
find "$lib" -maxdepth 1 -name '*.a' ! -name 'libgtest*.a' ! -name 'libgmock*.a' -exec truncate -s 0 {} +
find "$lib/openmpi" -name '*.a' -delete
for plugin in "$lib"/openmpi/lib/openmpi3/mca_*.so; do
  case $(basename "$plugin") in
    *_ofi*|*_ucx*|*_psm*|*_openib*|*_verbs*|*_portals*|*_usnic*|*_cuda*|*netlink*|*pmix_ext*)
      rm -f "$plugin" ;;
  esac
done
rm -f "$lib"/libmca_common_{ofi,verbs,ucx}.so*

# A library a CMake config names but whose package is not carried (prometheus-cpp's pull and
# push, which only the coordinator would link, and it does not: it uses the core) gets an empty
# stand-in, so that the config loads.
grep -rho '${_IMPORT_PREFIX}/[^" ;)]*' "$lib/cmake" | sort -u | while read -r named; do
  file="$stage/usr/${named#'${_IMPORT_PREFIX}/'}"
  [[ -e $file ]] || { : >"$file"; echo "prepare.sh: empty stand-in for ${file#"$stage"/}"; }
done

# RocksDB's and prometheus-cpp's configs look for the -dev packages of their own dependencies
# (gflags, snappy, zlib, bzip2, lz4, zstd; civetweb, curl), which a machine without our packages
# lacks. What the build links of them (the shared RocksDB, prometheus-cpp's core) needs none of
# those at link time, so the carried configs skip the lookups.
sed -i 's/^if(ON)$/if(OFF)  # lorafleet GPU check: dependencies not carried/' "$lib/cmake/rocksdb/RocksDBConfig.cmake"
sed -i -E 's/^set\(PROMETHEUS_CPP_ENABLE_(PULL|PUSH) ON\)/set(PROMETHEUS_CPP_ENABLE_\1 OFF)/' \
  "$lib/cmake/prometheus-cpp/prometheus-cpp-config.cmake"

# Every shared library must find what it needs: in the prefix, or among the base sonames.
missing=$(
  find "$stage" -name '*.so*' -type f | while read -r so; do
    readelf -d "$so" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | while read -r need; do
      [[ $need =~ $base_sonames ]] && continue
      [[ -n $(find "$stage" -name "$need" -print -quit) ]] && continue
      echo "  $need (needed by ${so#"$stage"/})"
    done
  done | sort -u)
if [[ -n $missing ]]; then
  echo "prepare.sh: these libraries are needed and not carried; add their packages:" >&2
  echo "$missing" >&2
  exit 1
fi

tar -C "$stage" -cJf "$carry/deps.tar.xz" usr
if [[ ${1:-} == --keep ]]; then
  mkdir -p build && mv "$stage" build/gpu-carry-stage && echo "prepare.sh: unpacked in build/gpu-carry-stage"
else
  rm -rf "$stage"
fi
rm -rf "$carry/debs"

# What travels: tracked files, untracked files git does not ignore, and the carry.
tree_bytes=$( (git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null ||
              true) | awk '{s += $1} END {print s + 0}')
carry_bytes=$(du -sb "$carry" | cut -f1)
total=$(( tree_bytes + carry_bytes ))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
echo "prepare.sh: working tree $(mib "$tree_bytes") + $carry $(mib "$carry_bytes") = $(mib "$total") (limit $limit_mib MiB)"
if (( total >= limit_mib * 1048576 )); then
  echo "prepare.sh: over the device tool's $limit_mib MiB; ignore or remove large untracked files" >&2
  exit 1
fi

cat <<EOF

Run on the device machine (one call; check.sh stops itself at 8 minutes and writes its
summary to \$OUT even when a step fails):

  run(command="bash cluster/gpu/check.sh 2>&1", carry=["$carry"], timeout_s=540)

The summary comes back as summary.md and summary.json (with check.log, build.log, ctest.log,
bench.log, hf.log). Give the machine back (give_back) unless you rerun at once.
EOF
