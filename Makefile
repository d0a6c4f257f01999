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

.PHONY: all deps configure build build-demo test soak demo bench format clean

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

format:
	find common jobs coordinator worker kernels cli tests bench -name '*.cpp' -o -name '*.h' \
	  -o -name '*.cu' -o -name '*.cuh' 2>/dev/null | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
