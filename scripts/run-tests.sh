#!/usr/bin/env bash
# `make test`: builds with ASan+UBSan, runs every ctest suite, the threaded modules' tests
# under TSan, the e2e tests, then each fuzzer for a bounded
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

# ThreadSanitizer over the threaded modules' tests (the Raft node's threads and futures, the
# gRPC transport, the HTTP server's event loop, answers from other threads and streams, the
# process supervisor's loop and its callers). The 5 MiB snapshot test is left out here: under TSan, Debian's
# uninstrumented gRPC does not deliver it within minutes (it passes in the ASan run above).
tsan=${TSAN_BUILD:-build-tsan}
if cmake -S . -B "$tsan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSUNDIAL_TSAN=ON \
  -DSUNDIAL_BENCH=OFF >/dev/null && cmake --build "$tsan" -j "$jobs" --target raft_node_test transport_test api_test exec_test agent_test; then
  export TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/scripts/tsan.supp"
  "$tsan/tests/raft_node_test" && "$tsan/tests/transport_test" --gtest_filter='-*large_snapshots*' &&
    "$tsan/tests/api_test" && "$tsan/tests/exec_test" && "$tsan/tests/agent_test"
  record $? "tsan (raft_node, transport, api, exec, agent)"
  unset TSAN_OPTIONS
else
  record 1 "tsan build"
fi

# Black-box tests: real processes of the sanitized binary on 127.0.0.1.
SUNDIAL_BIN="$PWD/$asan/bin/sundial" /usr/bin/python3 -m pytest -q tests/e2e
record $? "e2e (pytest)"

bash scripts/run-fuzz.sh "${FUZZ_BUILD:-build-fuzz}" "${FUZZ_SECONDS:-30}"
record $? "fuzzers"

echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
