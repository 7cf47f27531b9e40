#pragma once
// Overlap (SEMANTICS.md, "Overlap"): whether a new launch of a job may start while earlier
// executions of the same job are still active, by the job's concurrency policy.

#include <string>
#include <string_view>
#include <vector>

#include "scheduler/job_timing.h"

namespace sundial::scheduler {

// An execution's state (SEMANTICS.md, "Execution lifecycle").
enum class execution_state {
  pending,     // launch intent committed
  dispatched,  // sent to an agent
  running,
  stopping,  // a stop was requested (user stop or replace)
  retrying,  // failed, timed out or lost, and another attempt will follow
  succeeded,
  failed,
  timed_out,
  stopped,
  lost,  // the agent stopped heartbeating past its TTL
};

// Stable lowercase name, e.g. "timed_out".
std::string_view to_string(execution_state s);

// True for pending, dispatched, running, stopping and retrying. The final states never count
// as active: in particular a lost run never blocks `forbid` (Dkron #1939: orphaned "running"
// records made forbid skip a job forever).
bool is_active(execution_state s);

// An execution of the job, as the overlap decision sees it.
struct execution_view {
  std::string id;
  execution_state state = execution_state::pending;
};

enum class overlap_action {
  launch,   // start the new run
  skip,     // do not launch this slot (counted in the job's history with `reason`)
  replace,  // stop `to_stop`, then start the new run
};

struct overlap_decision {
  overlap_action action = overlap_action::launch;
  // replace: the active executions to stop, in the order given. Executions already stopping
  // are left out (their stop is under way); a replace may therefore list none.
  std::vector<std::string> to_stop;
  std::string reason;  // skip: why, naming the blocking executions
};

// The overlap decision for a new launch of a job whose executions (any states, in any order)
// are `executions`.
overlap_decision decide_overlap(concurrency_policy policy,
                                const std::vector<execution_view>& executions);

}  // namespace sundial::scheduler
