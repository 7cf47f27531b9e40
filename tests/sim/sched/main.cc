// sundial-sched-sim: runs the scheduler simulation (sched_sim.h) over many seeds.
//   sundial-sched-sim --seeds N [--first-seed S] [--seconds T] [--verbose]
// Each failing seed prints what broke and the command that replays it; the last line is
// "N passed, F failed".
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sched_sim.h"

namespace {

bool parse_u64(const char* s, std::uint64_t& out) {
  char* end = nullptr;
  out = std::strtoull(s, &end, 10);
  return end != s && *end == '\0';
}

int usage() {
  std::fprintf(stderr,
               "usage: sundial-sched-sim --seeds N [--first-seed S] [--seconds T] [--verbose]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seeds = 1, first = 1, seconds = 60;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::uint64_t& out) { return i + 1 < argc && parse_u64(argv[++i], out); };
    if (a == "--seeds") {
      if (!value(seeds)) return usage();
    } else if (a == "--first-seed") {
      if (!value(first)) return usage();
    } else if (a == "--seconds") {
      if (!value(seconds) || seconds == 0) return usage();
    } else if (a == "--verbose") {
      verbose = true;
    } else {
      return usage();
    }
  }
  // The components' own logs are noise at this volume; --verbose shows them with the trace.
  spdlog::set_level(verbose ? spdlog::level::info : spdlog::level::off);
  std::uint64_t passed = 0, failed = 0;
  sundial::sched_sim::sim_stats total;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::uint64_t s = first; s < first + seeds; ++s) {
    sundial::sched_sim::sim_options o;
    o.seed = s;
    o.fault_us = static_cast<std::int64_t>(seconds) * 1'000'000;
    o.verbose = verbose;
    const auto r = sundial::sched_sim::run(o);
    total += r.stats;
    if (r.ok) {
      ++passed;
      if (verbose)
        std::printf("seed %llu: ok, trace %016llx\n", (unsigned long long)s,
                    (unsigned long long)r.trace_hash);
    } else {
      ++failed;
      std::printf(
          "seed %llu FAILED: %s\n  replay: sundial-sched-sim --seeds 1 --first-seed %llu "
          "--seconds %llu --verbose\n",
          (unsigned long long)s, r.failure.c_str(), (unsigned long long)s,
          (unsigned long long)seconds);
    }
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "runs started %llu, records %llu, leader changes %llu, crashes %llu, outages %llu, "
      "partitions %llu, clock jumps %llu, lost %llu, retries %llu, catch-ups %llu, "
      "dependents %llu, skipped slots %llu, unknown commits %llu; %.1f s\n",
      (unsigned long long)total.starts, (unsigned long long)total.records,
      (unsigned long long)total.leader_changes, (unsigned long long)total.crashes,
      (unsigned long long)total.outages, (unsigned long long)total.partitions,
      (unsigned long long)total.clock_jumps, (unsigned long long)total.lost,
      (unsigned long long)total.retries, (unsigned long long)total.catchups,
      (unsigned long long)total.dependents, (unsigned long long)total.skipped,
      (unsigned long long)total.unknown_commits, wall);
  std::printf("%llu passed, %llu failed\n", (unsigned long long)passed, (unsigned long long)failed);
  return failed == 0 ? 0 : 1;
}
