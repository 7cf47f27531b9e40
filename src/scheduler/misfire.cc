#include "scheduler/misfire.h"

#include <algorithm>

#include "base/assert.h"

namespace sundial::scheduler {

namespace {

// How many in-window slots a policy launches.
enum class keep { none, newest_one, newest_max_catchup };

// One row per policy: SEMANTICS.md, "Missed runs".
struct misfire_rule {
  misfire_policy policy;
  keep launches;
  bool merge;  // the launch stands for every in-window slot (SUNDIAL_MISSED = their count)
};

constexpr misfire_rule rules[] = {
    {misfire_policy::run_once, keep::newest_one, true},
    {misfire_policy::run_all, keep::newest_max_catchup, false},
    {misfire_policy::skip, keep::none, false},
};

const misfire_rule& rule_for(misfire_policy p) {
  for (const misfire_rule& r : rules) {
    if (r.policy == p) return r;
  }
  SUNDIAL_ASSERT(false, "every misfire policy has a rule");
  return rules[0];
}

}  // namespace

std::size_t slots_needed(misfire_policy policy, std::uint32_t max_catchup) {
  switch (rule_for(policy).launches) {
    case keep::none:
      return 0;
    case keep::newest_one:
      return 1;
    case keep::newest_max_catchup:
      return max_catchup;
  }
  return 0;
}

misfire_decision decide_misfire(misfire_policy policy, std::uint32_t max_catchup,
                                const missed_slots& missed) {
  SUNDIAL_ASSERT(missed.newest.size() <= missed.in_window,
                 "the kept slots are some of the in-window slots");
  SUNDIAL_ASSERT(std::is_sorted(missed.newest.begin(), missed.newest.end()),
                 "missed slots are listed oldest first");
  const misfire_rule& rule = rule_for(policy);
  misfire_decision d;
  d.lower_bound = missed.lower_bound;
  const std::size_t kept = std::min(missed.newest.size(), slots_needed(policy, max_catchup));
  if (rule.merge && kept > 0) {
    d.launches.push_back(catchup_launch{missed.newest.back(), missed.in_window});
    d.skipped = missed.too_old;
    return d;
  }
  for (std::size_t i = missed.newest.size() - kept; i < missed.newest.size(); ++i)
    d.launches.push_back(catchup_launch{missed.newest[i], 1});
  d.skipped = missed.too_old + (missed.in_window - kept);
  return d;
}

}  // namespace sundial::scheduler
