#pragma once
// Which slots of a job to launch now: the on-time slots the leader journals ahead of their
// instant (ARCHITECTURE.md, "Firing precision: armed launches") and the catch-up launches
// for slots that passed with nobody to launch them (SEMANTICS.md, "Missed runs").
//
// The caller keeps, per job, the last slot it considered (launched or skipped) and passes it
// back; due() never returns a slot at or before it, and every slot after it is returned,
// merged or counted exactly once, whatever steps `now` takes (due_test's property test).
//
// Bounded work: counting missed slots walks the schedule backwards from now, one schedule
// search per slot, and stops after due_options::max_count_steps searches; the counts are then
// lower bounds (flagged), which only happens for a long outage of a very frequent job (a
// `* * * * * *` job a year behind has 31M missed slots; an exact figure serves no one). The
// walk goes newest first, so the slots a policy launches are always found within the budget.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "scheduler/job_timing.h"
#include "scheduler/misfire.h"

namespace sundial::scheduler {

struct due_options {
  // Slots up to now + lookahead_us are journaled now and armed on agents.
  std::int64_t lookahead_us = 2'000'000;
  // A slot at or after now - on_time_grace_us is still on time (launched as normal, a little
  // late); an older one is missed and goes through the misfire policy.
  std::int64_t on_time_grace_us = 1'000'000;
  // At most this many on-time slots per call; the rest stay after last_slot_us for the next
  // call (only a huge lookahead on a per-second job reaches it).
  std::size_t max_on_time = 1000;
  // Schedule searches spent counting missed slots per call (see above); never fewer than the
  // slots the policy launches (run_all's max_catchup).
  std::uint64_t max_count_steps = 100'000;
};

struct due_slots {
  std::vector<catchup_launch> catchup;  // oldest first; each older than every on-time slot
  std::vector<std::int64_t> on_time;    // slots in [now - grace, now + lookahead], oldest first
  std::uint64_t skipped = 0;            // missed slots that will never run (metric, history)
  bool skipped_is_lower_bound = false;  // the count stopped at max_count_steps
  // The newest slot this call launched or skipped, or the last_slot_us passed in when it
  // considered none. Pass it back next time.
  std::int64_t last_slot_us = 0;
  // The first slot after last_slot_us (and from_us): where to put the job in the plan.
  std::optional<std::int64_t> next_fire_us;
};

// The slots of `job` strictly after max(last_slot_us, from_us) and at most now + lookahead.
// last_slot_us is the job's last launched (or skipped) slot, 0 if none. from_us is when the
// job's schedule began to count: its creation, or its last enable or schedule change, so
// slots from before it existed or while it was disabled are never "missed".
due_slots due(const job_timing& job, std::int64_t last_slot_us, std::int64_t from_us,
              std::int64_t now_us, const due_options& options = {});

}  // namespace sundial::scheduler
