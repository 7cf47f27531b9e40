#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time on a copy of its
# seed corpus (tests/fuzz/corpus/<target>), so the repository is never modified.
# Usage: run-fuzz.sh BUILD_DIR SECONDS_PER_TARGET
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-fuzz}
seconds=${2:-30}
cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSUNDIAL_FUZZ=ON -DSUNDIAL_TESTS=OFF -DSUNDIAL_BENCH=OFF >/dev/null
cmake --build "$build" -j "${JOBS:-2}" --target fuzzers
status=0
for fuzzer in "$build"/bin/*_fuzz; do
  name=$(basename "$fuzzer")
  work=$(mktemp -d)
  cp -r "tests/fuzz/corpus/${name%_fuzz}/." "$work/" 2>/dev/null || true
  echo "fuzzing $name for ${seconds}s"
  if ! "$fuzzer" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$work/" "$work" >"$work.log" 2>&1; then
    echo "$name found a failure; log and reproducer:"
    tail -50 "$work.log"
    ls "$work"/crash-* "$work"/timeout-* "$work"/leak-* 2>/dev/null || true
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$work.log" | tail -2
  fi
  rm -rf "$work" "$work.log"
done
exit $status
