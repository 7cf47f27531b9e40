#!/usr/bin/env bash
# Runs the benchmarks of a release build and writes bench/results/<name>.txt with the machine,
# the raw Google Benchmark table (median of repetitions) and each case's ratio to the anchors.
# Usage: bench/run.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
mkdir -p bench/results
out=bench/results/cron_next.txt
json=$(mktemp)
"$build"/bin/cron_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_min_time=0.2 --benchmark_out="$json" --benchmark_out_format=json >/dev/null 2>&1
{
  echo "# cron next() benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
  echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "# build: $build (Release, $(c++ --version | head -1))"
  echo "# median of 5 repetitions; ratio = case / anchor measured in this same run"
  python3 - "$json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
med = {b["run_name"]: b["cpu_time"] for b in data["benchmarks"] if b.get("aggregate_name") == "median"}
lt = med.get("anchor_localtime_r")
cd = med.get("anchor_civil_date")
print(f"{'case':58} {'median ns':>10} {'x localtime_r':>14} {'x civil_date':>13} {'< 1us':>6}")
for name, ns in med.items():
    print(f"{name:58} {ns:10.1f} {ns/lt:14.2f} {ns/cd:13.2f} {'yes' if ns < 1000 else 'NO':>6}")
PY
} | tee "$out"
rm -f "$json"
