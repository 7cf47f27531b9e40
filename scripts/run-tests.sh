#!/usr/bin/env bash
# `make test`: builds with ASan+UBSan, runs every ctest suite, then each fuzzer for a bounded
# time. Ends with one line "suites: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
asan=${ASAN_BUILD:-build-asan}
passed=0
failed=0
record() { if [ "$1" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $2"; fi; }

cmake -S . -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSUNDIAL_SANITIZE=ON \
  -DSUNDIAL_BENCH=OFF >/dev/null || { echo "configure failed"; echo "suites: 0 passed, 1 failed"; exit 1; }
if ! cmake --build "$asan" -j "$jobs"; then
  echo "build failed"
  echo "suites: 0 passed, 1 failed"
  exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
(cd "$asan" && ctest --output-on-failure -j "$jobs" --timeout 1200)
record $? "ctest (unit, property and format suites)"

# Black-box tests: real processes of the sanitized binary on 127.0.0.1.
SUNDIAL_BIN="$PWD/$asan/bin/sundial" /usr/bin/python3 -m pytest -q tests/e2e
record $? "e2e (pytest)"

bash scripts/run-fuzz.sh "${FUZZ_BUILD:-build-fuzz}" "${FUZZ_SECONDS:-30}"
record $? "fuzzers"

echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
