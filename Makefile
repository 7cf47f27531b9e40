# Sundial's entry points. `make run` and `make test` work on a fresh Debian 12 machine as root:
# both install missing dependencies first (scripts/install-deps.sh, idempotent).
SHELL := /bin/bash
JOBS ?= 2
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
PROPERTY_SOAK_CASES ?= 100000
SIM_SOAK_SEEDS ?= 21000
SCHED_SIM_SOAK_SEEDS ?= 20000

.PHONY: all deps configure build test run bench format soak fuzz clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null

# Release build; the binary is build/bin/sundial.
build: configure
	cmake --build $(BUILD) -j $(JOBS)

# Every test suite, built with ASan+UBSan, then the fuzzers for a bounded time.
test: deps
	@bash scripts/run-tests.sh

# One node (server and, later, agent) with temporary data; API on http://127.0.0.1:8080.
run: build
	./$(BUILD)/bin/sundial agent --dev

# Google Benchmark programs; results are written to bench/results/.
bench: build
	@bash bench/run.sh $(BUILD)

# Long runs that do not belong in `make test`.
soak: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	./$(BUILD)/bin/sundial-sim --seeds $(SIM_SOAK_SEEDS) --first-seed 1 --steps 12000
	./$(BUILD)/bin/sundial-sched-sim --seeds $(SCHED_SIM_SOAK_SEEDS) --first-seed 1
	SUNDIAL_PROPERTY_CASES=$(PROPERTY_SOAK_CASES) ./$(BUILD)/tests/cron_property_test
	$(MAKE) fuzz FUZZ_SECONDS=3600

fuzz: deps
	@bash scripts/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

format:
	@find src tests bench \( -name '*.h' -o -name '*.cc' \) -print0 | xargs -0 clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) build-tsan
