// sundial-sim: runs the deterministic cluster simulation over many seeds.
//   sundial-sim --seeds N [--first-seed S] [--nodes K] [--steps M] [--verbose]
// Without --nodes, seeds rotate over 3, 5 and 7 nodes. Each failing seed prints the command
// that replays it; the last line is "N passed, F failed".
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "simulation.h"

namespace {

bool parse_u64(const char* s, std::uint64_t& out) {
  char* end = nullptr;
  out = std::strtoull(s, &end, 10);
  return end != s && *end == '\0';
}

int usage() {
  std::fprintf(stderr,
               "usage: sundial-sim --seeds N [--first-seed S] [--nodes 3|5|7] [--steps M] "
               "[--verbose] [--no-wire]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seeds = 1, first = 1, nodes = 0, steps = 20000;
  bool verbose = false, wire = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::uint64_t& out) { return i + 1 < argc && parse_u64(argv[++i], out); };
    if (a == "--seeds") {
      if (!value(seeds)) return usage();
    } else if (a == "--first-seed") {
      if (!value(first)) return usage();
    } else if (a == "--nodes") {
      if (!value(nodes) || (nodes != 3 && nodes != 5 && nodes != 7)) return usage();
    } else if (a == "--steps") {
      if (!value(steps) || steps == 0) return usage();
    } else if (a == "--verbose") {
      verbose = true;
    } else if (a == "--no-wire") {
      wire = false;
    } else {
      return usage();
    }
  }
  std::uint64_t passed = 0, failed = 0;
  const auto start = std::chrono::steady_clock::now();
  sundial::sim::sim_stats total;
  for (std::uint64_t k = 0; k < seeds; ++k) {
    sundial::sim::sim_options o;
    o.seed = first + k;
    o.nodes = nodes != 0 ? static_cast<int>(nodes) : static_cast<int>(3 + 2 * ((first + k) % 3));
    o.steps = steps;
    o.verbose = verbose;
    o.wire = wire;
    const auto r = sundial::sim::run_simulation(o);
    total.leaders += r.stats.leaders;
    total.ops_ok += r.stats.ops_ok;
    total.ops_unknown += r.stats.ops_unknown;
    total.crashes += r.stats.crashes;
    total.conf_changes += r.stats.conf_changes;
    total.snapshots += r.stats.snapshots;
    total.transfers += r.stats.transfers;
    total.partitions += r.stats.partitions;
    total.messages += r.stats.messages;
    if (r.ok) {
      ++passed;
      if (seeds == 1) {
        std::printf("seed %llu (%d nodes): ok, trace %016llx\n",
                    static_cast<unsigned long long>(o.seed), o.nodes,
                    static_cast<unsigned long long>(r.trace_hash));
      }
    } else {
      ++failed;
      std::printf(
          "FAIL seed %llu (%d nodes): %s\n  trace %016llx; replay: sundial-sim --seeds 1 "
          "--first-seed %llu --nodes %d --steps %llu --verbose\n",
          static_cast<unsigned long long>(o.seed), o.nodes, r.failure.c_str(),
          static_cast<unsigned long long>(r.trace_hash), static_cast<unsigned long long>(o.seed),
          o.nodes, static_cast<unsigned long long>(steps));
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "stats: %llu leaders, %llu ops completed, %llu ops unknown, %llu crashes, %llu "
      "partitions, %llu membership changes, %llu transfers, %llu snapshots installed, "
      "%llu messages, %.1fs\n",
      static_cast<unsigned long long>(total.leaders), static_cast<unsigned long long>(total.ops_ok),
      static_cast<unsigned long long>(total.ops_unknown),
      static_cast<unsigned long long>(total.crashes),
      static_cast<unsigned long long>(total.partitions),
      static_cast<unsigned long long>(total.conf_changes),
      static_cast<unsigned long long>(total.transfers),
      static_cast<unsigned long long>(total.snapshots),
      static_cast<unsigned long long>(total.messages), secs);
  std::printf("%llu passed, %llu failed\n", static_cast<unsigned long long>(passed),
              static_cast<unsigned long long>(failed));
  return failed == 0 ? 0 : 1;
}
