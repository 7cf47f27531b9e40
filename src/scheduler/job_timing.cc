#include "scheduler/job_timing.h"

#include <chrono>

#include "scheduler/bits.h"

namespace sundial::scheduler {

namespace {

using detail::floor_div;
using detail::us_per_second;

// Instants are whole seconds within years 1-9999, so their microseconds always fit.
std::int64_t to_us(cron::instant t) {
  return t.time_since_epoch().count() * us_per_second;
}

cron::instant at_second(std::int64_t s) {
  return cron::instant{std::chrono::seconds{s}};
}

}  // namespace

std::string_view to_string(misfire_policy p) {
  switch (p) {
    case misfire_policy::run_once:
      return "run_once";
    case misfire_policy::run_all:
      return "run_all";
    case misfire_policy::skip:
      return "skip";
  }
  return "?";
}

std::string_view to_string(concurrency_policy p) {
  switch (p) {
    case concurrency_policy::allow:
      return "allow";
    case concurrency_policy::forbid:
      return "forbid";
    case concurrency_policy::replace:
      return "replace";
  }
  return "?";
}

bool fires_by_schedule(const job_timing& j) {
  return !j.disabled && !j.has_parent && j.schedule != nullptr &&
         j.schedule->kind() != cron::schedule_kind::manually && !j.schedule->never_fires();
}

std::optional<std::int64_t> next_slot(const job_timing& j, std::int64_t after_us) {
  if (!fires_by_schedule(j)) return std::nullopt;
  // A slot exactly at starts_at may launch: search from just before it.
  if (j.starts_at_us != 0 && after_us < j.starts_at_us)
    after_us = detail::sat_sub(j.starts_at_us, 1);
  if (j.expires_at_us != 0 && after_us >= j.expires_at_us) return std::nullopt;
  // Slots are whole seconds: the first one after after_us is the first after its floor.
  const auto n = j.schedule->next(at_second(floor_div(after_us, us_per_second)));
  if (!n) return std::nullopt;
  const std::int64_t us = to_us(*n);
  if (j.expires_at_us != 0 && us > j.expires_at_us) return std::nullopt;
  return us;
}

std::optional<std::int64_t> prev_slot(const job_timing& j, std::int64_t before_us) {
  if (!fires_by_schedule(j)) return std::nullopt;
  // A slot exactly at expires_at may launch: search from just after it.
  if (j.expires_at_us != 0 && before_us > j.expires_at_us)
    before_us = detail::sat_add(j.expires_at_us, 1);
  if (j.starts_at_us != 0 && before_us <= j.starts_at_us) return std::nullopt;
  // The last whole second strictly before before_us is the last before its ceiling.
  const std::int64_t floor_s = floor_div(before_us, us_per_second);
  const std::int64_t ceil_s = floor_s * us_per_second == before_us ? floor_s : floor_s + 1;
  const auto p = j.schedule->prev(at_second(ceil_s));
  if (!p) return std::nullopt;
  const std::int64_t us = to_us(*p);
  if (j.starts_at_us != 0 && us < j.starts_at_us) return std::nullopt;
  return us;
}

}  // namespace sundial::scheduler
