// next() cost for typical and Quartz forms. Anchors measured in the same run: localtime_r
// (libc's own UTC->local conversion, the least a zone-aware "next" must do) and a bare
// std::chrono civil-date conversion. bench/run.sh prints each case as a ratio to them.
#include <benchmark/benchmark.h>

#include <ctime>

#include "cron/hash.h"
#include "cron/schedule.h"

namespace {

using sundial::cron::instant;
using sundial::cron::parse;
using sundial::cron::parse_options;

// Starting points spread over a year, so the cost is not one lucky position.
std::vector<instant> starts() {
  std::vector<instant> out;
  for (int i = 0; i < 997; ++i) {
    out.push_back(instant{std::chrono::seconds{1767225600LL + 31'536'000LL * i / 997 + i * 37}});
  }
  return out;
}

void run_next(benchmark::State& state, const char* text, const char* zone) {
  auto s = parse(text, parse_options{zone, sundial::cron::hash_seed_for("bench-job")});
  if (!s) {
    state.SkipWithError(s.err().message.c_str());
    return;
  }
  const auto from = starts();
  std::size_t i = 0;
  for (auto _ : state) {
    auto n = s->next(from[i]);
    benchmark::DoNotOptimize(n);
    if (++i == from.size()) i = 0;
  }
}

void run_prev(benchmark::State& state, const char* text, const char* zone) {
  auto s = parse(text, parse_options{zone, 0});
  const auto from = starts();
  std::size_t i = 0;
  for (auto _ : state) {
    auto n = s->prev(from[i]);
    benchmark::DoNotOptimize(n);
    if (++i == from.size()) i = 0;
  }
}

void anchor_localtime_r(benchmark::State& state) {
  setenv("TZ", "America/New_York", 1);
  tzset();
  const auto from = starts();
  std::size_t i = 0;
  for (auto _ : state) {
    std::time_t t = static_cast<std::time_t>(from[i].time_since_epoch().count());
    std::tm tm{};
    benchmark::DoNotOptimize(localtime_r(&t, &tm));
    if (++i == from.size()) i = 0;
  }
}

void anchor_civil_date(benchmark::State& state) {
  const auto from = starts();
  std::size_t i = 0;
  for (auto _ : state) {
    const std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(from[i])};
    benchmark::DoNotOptimize(ymd);
    if (++i == from.size()) i = 0;
  }
}

void parse_typical(benchmark::State& state) {
  for (auto _ : state) {
    auto s = parse("0 30 9 * * MON-FRI", parse_options{"America/New_York", 0});
    benchmark::DoNotOptimize(s);
  }
}

}  // namespace

BENCHMARK(anchor_localtime_r);
BENCHMARK(anchor_civil_date);
BENCHMARK_CAPTURE(run_next, every_second_utc, "* * * * * *", "UTC");
BENCHMARK_CAPTURE(run_next, every_5_minutes_utc, "0 */5 * * * *", "UTC");
BENCHMARK_CAPTURE(run_next, every_5_minutes_new_york, "0 */5 * * * *", "America/New_York");
BENCHMARK_CAPTURE(run_next, weekdays_0930_new_york, "0 30 9 * * MON-FRI", "America/New_York");
BENCHMARK_CAPTURE(run_next, weekdays_0930_lord_howe, "0 30 9 * * MON-FRI", "Australia/Lord_Howe");
BENCHMARK_CAPTURE(run_next, daily_0230_new_york_gap, "0 30 2 * * *", "America/New_York");
BENCHMARK_CAPTURE(run_next, last_day_L, "0 0 0 L * ?", "America/New_York");
BENCHMARK_CAPTURE(run_next, last_weekday_LW, "0 0 18 LW * ?", "America/New_York");
BENCHMARK_CAPTURE(run_next, nearest_weekday_15W, "0 0 9 15W * ?", "America/New_York");
BENCHMARK_CAPTURE(run_next, nth_weekday_MON_2, "0 0 9 ? * MON#2", "America/New_York");
BENCHMARK_CAPTURE(run_next, last_friday_5L, "0 0 17 ? * 5L", "America/New_York");
BENCHMARK_CAPTURE(run_next, hashed_H, "H H(0-5) * * *", "Europe/London");
BENCHMARK_CAPTURE(run_next, every_90m, "@every 1h30m", "UTC");
BENCHMARK_CAPTURE(run_next, leap_day_rare, "0 0 0 29 2 ?", "UTC");
BENCHMARK_CAPTURE(run_next, impossible_30_feb, "0 0 0 30 2 *", "UTC");
BENCHMARK_CAPTURE(run_prev, prev_weekdays_0930_new_york, "0 30 9 * * MON-FRI", "America/New_York");
BENCHMARK(parse_typical);

BENCHMARK_MAIN();
