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

# Raft core throughput (issue 3).
if [ -x "$build/bin/raft_bench" ]; then
  out=bench/results/raft_core.txt
  json=$(mktemp)
  "$build"/bin/raft_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_min_time=1 --benchmark_out="$json" --benchmark_out_format=json >/dev/null 2>&1
  {
    echo "# raft core throughput: 3 nodes in one process, memory storage, no network delay"
    echo "# ($(date -u +%Y-%m-%dT%H:%M:%SZ)); machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "# median of 3 repetitions; args = proposals per step / payload bytes"
    echo "# anchor: copying each payload into three in-memory logs, measured in this run"
    python3 - "$json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
med = {b["run_name"]: b for b in data["benchmarks"] if b.get("aggregate_name") == "median"}
anchor = next(v for k, v in med.items() if k.startswith("anchor"))["entries_per_s"]
print(f"{'case':42} {'entries/s':>12} {'allocs/entry':>13} {'anchor/case':>12} {'>= 1M/s':>8}")
for name, b in med.items():
    rate = b["entries_per_s"]
    allocs = b.get("allocs_per_entry", float("nan"))
    print(f"{name:42} {rate:12,.0f} {allocs:13.2f} {anchor/rate:12.2f} {'yes' if rate >= 1e6 else 'no':>8}")
PY
  } | tee "$out"
  rm -f "$json"
fi

# The machine's spawn and timer limits, and the supervisor against them (key value lines).
if [ -x "$build/bin/exec_anchors" ]; then
  "$build"/bin/exec_anchors | tee bench/results/exec_anchors.txt
fi
