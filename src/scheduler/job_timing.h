#pragma once
// What planning needs of one job, as plain fields. The integrator builds it from the stored
// protobuf job (state/job_rules.h normalises and validates that first), so this module does
// not depend on state or proto and the simulator can drive it directly.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cron/schedule.h"

namespace sundial::scheduler {

// SEMANTICS.md, "Missed runs".
enum class misfire_policy {
  run_once,  // one catch-up run for all missed slots in the window (the default)
  run_all,   // every missed slot in the window, oldest first, at most max_catchup
  skip,      // none; counted
};

// SEMANTICS.md, "Overlap".
enum class concurrency_policy {
  allow,    // runs may overlap
  forbid,   // skip the slot while a run is active
  replace,  // stop the active runs, then start the new one
};

// Stable lowercase names ("run_once", "forbid", ...), as in the job's JSON.
std::string_view to_string(misfire_policy p);
std::string_view to_string(concurrency_policy p);

struct job_timing {
  std::string name;
  std::shared_ptr<const cron::schedule> schedule;  // parsed once; null: never fires
  // 0: none. No slot before starts_at_us or after expires_at_us (both bounds inclusive, as
  // state::next_fire_us: a slot exactly at either bound may launch).
  std::int64_t starts_at_us = 0;
  std::int64_t expires_at_us = 0;
  bool disabled = false;
  // Dependent jobs never fire by schedule, only after their parent (SEMANTICS.md, parent_job).
  bool has_parent = false;
  misfire_policy misfire = misfire_policy::run_once;
  // Missed slots older than now - catchup_window_us are skipped (SEMANTICS.md: default 1h).
  // 0 or negative: every missed slot is skipped.
  std::int64_t catchup_window_us = 3600ll * 1000000;
  std::uint32_t max_catchup = 100;  // run_all's bound (SEMANTICS.md: default 100)
};

// True when the job can fire by its schedule at all: enabled, not a dependent, a schedule
// that is not @manually and can match some instant. (A spent @at or a past expires_at is
// decided per instant by next_slot.)
bool fires_by_schedule(const job_timing& j);

// The first slot strictly after `after_us` that the job may launch (honouring starts_at,
// expires_at, disabled, has_parent, @manually, a spent @at), or nullopt.
std::optional<std::int64_t> next_slot(const job_timing& j, std::int64_t after_us);

// The last slot strictly before `before_us` that the job may launch, with the same rules, or
// nullopt. Used to walk missed slots from the newest backwards.
std::optional<std::int64_t> prev_slot(const job_timing& j, std::int64_t before_us);

}  // namespace sundial::scheduler
