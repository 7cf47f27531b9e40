#pragma once
// The misfire decision (SEMANTICS.md, "Missed runs"): what happens to slots whose instant
// passed with nobody to launch them (a failover, a full outage). due.h counts the missed
// slots; this file turns the count into catch-up launches by the job's policy.
//
// Choices:
// - run_once launches the NEWEST missed slot and merges every missed slot inside the window
//   into it (SUNDIAL_MISSED = that count). The run happens now, so the newest slot is the
//   one closest to the moment it stands for: a job that processes "everything up to
//   SUNDIAL_SCHEDULED_AT" then covers all the merged slots, and no older slot is launched
//   after a newer one was considered (the slot order of a job's launches stays increasing).
// - run_all launches the newest max_catchup missed slots inside the window, oldest first,
//   and skips the older rest: the window already drops the oldest slots first, and the cap
//   does the same, so what runs is always the most recent stretch of missed work.
// - Slots older than the catch-up window are skipped and counted, under every policy.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "scheduler/job_timing.h"

namespace sundial::scheduler {

// One catch-up launch.
struct catchup_launch {
  std::int64_t slot_us = 0;  // the slot it runs as: its launch key and SUNDIAL_SCHEDULED_AT
  std::uint64_t missed = 0;  // missed slots it stands for (SUNDIAL_MISSED); >= 1

  friend bool operator==(const catchup_launch&, const catchup_launch&) = default;
};

// A job's missed slots, as due() counts them (all are after its last launched slot and older
// than now - on_time_grace).
struct missed_slots {
  // The newest missed slots inside the catch-up window, oldest first; at most
  // slots_needed(policy, max_catchup) of them. Invariant: newest.size() <= in_window.
  std::vector<std::int64_t> newest;
  std::uint64_t in_window = 0;  // missed slots inside the window
  std::uint64_t too_old = 0;    // missed slots older than the window
  // Counting stopped at a cap (due_options::max_count_steps): the counts are lower bounds.
  bool lower_bound = false;
};

struct misfire_decision {
  std::vector<catchup_launch> launches;  // oldest first
  std::uint64_t skipped = 0;             // missed slots that will never run
  // The counts came from a capped walk: `skipped` and run_once's `missed` are at least these.
  bool lower_bound = false;
};

// How many of the newest in-window missed slots decide_misfire looks at: run_once 1,
// run_all max_catchup, skip 0. due() keeps no more than that, so its work stays bounded.
std::size_t slots_needed(misfire_policy policy, std::uint32_t max_catchup);

// Applies the policy (SEMANTICS.md, "Missed runs") to the counted missed slots.
misfire_decision decide_misfire(misfire_policy policy, std::uint32_t max_catchup,
                                const missed_slots& missed);

}  // namespace sundial::scheduler
