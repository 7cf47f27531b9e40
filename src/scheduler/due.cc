#include "scheduler/due.h"

#include <algorithm>

#include "scheduler/bits.h"

namespace sundial::scheduler {

namespace {

struct missed_walk {
  missed_slots missed;
  std::optional<std::int64_t> newest;  // the newest missed slot, launched or not
};

// Walks the missed slots (after, late) from the newest backwards: the first ones inside the
// window are kept (as many as the policy needs) and counted, older ones are counted as too
// old, until `after` or the step budget.
missed_walk walk_missed(const job_timing& job, std::int64_t after, std::int64_t late,
                        std::int64_t window_start, std::size_t needed, std::uint64_t budget) {
  missed_walk w;
  std::int64_t cursor = late;
  for (std::uint64_t steps = 0;; ++steps) {
    const auto p = prev_slot(job, cursor);
    if (!p || *p <= after) break;
    if (steps == budget) {
      w.missed.lower_bound = true;
      break;
    }
    if (!w.newest) w.newest = *p;
    if (*p >= window_start) {
      ++w.missed.in_window;
      if (w.missed.newest.size() < needed) w.missed.newest.push_back(*p);
    } else {
      ++w.missed.too_old;
    }
    cursor = *p;
  }
  std::reverse(w.missed.newest.begin(), w.missed.newest.end());
  return w;
}

}  // namespace

due_slots due(const job_timing& job, std::int64_t last_slot_us, std::int64_t from_us,
              std::int64_t now_us, const due_options& options) {
  due_slots r;
  r.last_slot_us = last_slot_us;
  const std::int64_t after = std::max(last_slot_us, from_us);
  const std::int64_t late =
      detail::sat_sub(now_us, std::max<std::int64_t>(options.on_time_grace_us, 0));
  const std::int64_t horizon =
      detail::sat_add(now_us, std::max<std::int64_t>(options.lookahead_us, 0));
  const std::int64_t window_start =
      detail::sat_sub(now_us, std::max<std::int64_t>(job.catchup_window_us, 0));

  // Missed: (after, late). SEMANTICS.md, "Missed runs".
  // The budget always covers the slots the policy launches, and at least one step, so the
  // newest missed slot is always found and last_slot_us always moves past a backlog.
  const std::size_t needed = slots_needed(job.misfire, job.max_catchup);
  const std::uint64_t budget =
      std::max<std::uint64_t>({options.max_count_steps, needed, std::uint64_t{1}});
  const missed_walk w = walk_missed(job, after, late, window_start, needed, budget);
  if (w.newest) {
    const misfire_decision d = decide_misfire(job.misfire, job.max_catchup, w.missed);
    r.catchup = d.launches;
    r.skipped = d.skipped;
    r.skipped_is_lower_bound = d.lower_bound;
    r.last_slot_us = *w.newest;
  }

  // On time: [late, horizon], after `after`.
  std::int64_t cursor = std::max(after, detail::sat_sub(late, 1));
  while (r.on_time.size() < options.max_on_time) {
    const auto s = next_slot(job, cursor);
    if (!s || *s > horizon) break;
    r.on_time.push_back(*s);
    cursor = *s;
  }
  if (!r.on_time.empty()) r.last_slot_us = r.on_time.back();
  r.next_fire_us = next_slot(job, std::max(r.last_slot_us, from_us));
  return r;
}

}  // namespace sundial::scheduler
