#pragma once
// Helpers shared by the scheduler's tests: RFC 3339 <-> microseconds and job construction.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/time_format.h"
#include "cron/hash.h"
#include "cron/schedule.h"
#include "scheduler/job_timing.h"

namespace sundial::scheduler::testing {

inline constexpr std::int64_t sec = 1'000'000;
inline constexpr std::int64_t minute = 60 * sec;
inline constexpr std::int64_t hour = 60 * minute;
inline constexpr std::int64_t day = 24 * hour;

// "2026-03-08T07:00:00Z" -> microseconds since the epoch.
inline std::int64_t us(const char* rfc3339) {
  auto t = base::parse_rfc3339(rfc3339);
  EXPECT_TRUE(t.ok()) << rfc3339;
  return t.ok() ? t->time_since_epoch().count() : 0;
}

// Microseconds (whole seconds) -> "2026-03-08T07:00:00Z".
inline std::string utc(std::int64_t t_us) {
  return base::format_rfc3339_utc(std::chrono::sys_seconds{std::chrono::seconds{t_us / 1'000'000}});
}

inline std::vector<std::string> utc(const std::vector<std::int64_t>& ts) {
  std::vector<std::string> out;
  for (auto t : ts)
    out.push_back(utc(t));
  return out;
}

// A job with the given schedule, parsed as the integrator would (hash seed from the name).
inline job_timing make_job(const std::string& schedule, const std::string& tz = "",
                           cron::dst_policy dst = cron::dst_policy::cron,
                           const std::string& name = "job") {
  job_timing j;
  j.name = name;
  auto s = cron::parse(schedule, cron::parse_options{tz, cron::hash_seed_for(name), dst});
  EXPECT_TRUE(s.ok()) << schedule << ": " << (s.ok() ? "" : s.err().message);
  if (s.ok()) j.schedule = std::make_shared<const cron::schedule>(std::move(s).value());
  return j;
}

using strings = std::vector<std::string>;

}  // namespace sundial::scheduler::testing
