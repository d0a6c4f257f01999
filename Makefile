# The commands a newcomer runs. `make test` alone installs what is missing, builds and runs
# every test; see README.md.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

# What `make demo` runs: the client, which starts the daemon and the MPI-launched workers, and
# the store tool. The tests and benchmarks are built by `make test` and `make bench`.
DEMO_TARGETS := lorafleet lorafleetd lorafleet-worker lorafleet-store

# `make fuzz`: the libFuzzer targets (tests/fuzz/) built with clang and sanitizers in their own
# folder, each run for FUZZ_SECONDS; FUZZ_TARGETS picks some ("json http"), all by default.
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

.PHONY: all deps configure build build-demo test soak demo bench fuzz format clean

all: build

deps:
	@./cluster/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

configure: deps $(BUILD_DIR)/CMakeCache.txt

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

build-demo: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target $(DEMO_TARGETS)

# Every test case is its own ctest entry; --no-tests=error makes an empty run a failure.
test: build
	@./cluster/install-deps.sh --tests
	cd $(BUILD_DIR) && ctest --output-on-failure --no-tests=error -j $(JOBS) $(CTEST_FLAGS)

# The chaos soak (tests/soak/soak.sh): 200 short trials on a real fleet while 100 worker ranks are
# SIGKILLed and the coordinator is SIGKILLed and restarted 20 times, then every trial, metric,
# adapter and lease is checked; prints the figures. SOAK_FLAGS passes options (--trials N ...).
# ctest runs a short version (soak.short).
soak: build-demo
	./tests/soak/soak.sh $(BUILD_DIR)/bin $(SOAK_FLAGS)

# A real sweep on the bundled model: coordinator, two local MPI worker ranks, live progress and
# the comparison (cluster/demo.sh). The fleet keeps running; `build/bin/lorafleet down` stops it.
demo: build-demo
	./cluster/demo.sh $(BUILD_DIR)

bench: build
	./bench/run.sh $(BUILD_DIR)

$(FUZZ_DIR)/CMakeCache.txt:
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=Release -DLF_FUZZ=ON

# Exits non-zero when any target crashed; the inputs are in $(FUZZ_DIR)/fuzz-runs/crashes/.
fuzz:
	@./cluster/install-deps.sh --fuzz
	@$(MAKE) --no-print-directory $(FUZZ_DIR)/CMakeCache.txt
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target lf_fuzz_targets
	./tests/fuzz/run_fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

format:
	find common jobs coordinator worker kernels cli tests bench -name '*.cpp' -o -name '*.h' \
	  -o -name '*.cu' -o -name '*.cuh' 2>/dev/null | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
