#include "scheduler/concurrency.h"

#include <cstddef>
#include <string>

#include "base/assert.h"

namespace sundial::scheduler {

namespace {

struct state_row {
  execution_state state;
  std::string_view name;
  bool active;
};

// SEMANTICS.md, "Execution lifecycle": the final states are succeeded, failed, timed_out,
// stopped and lost; retrying is not final (another attempt follows).
constexpr state_row states[] = {
    {execution_state::pending, "pending", true},
    {execution_state::dispatched, "dispatched", true},
    {execution_state::running, "running", true},
    {execution_state::stopping, "stopping", true},
    {execution_state::retrying, "retrying", true},
    {execution_state::succeeded, "succeeded", false},
    {execution_state::failed, "failed", false},
    {execution_state::timed_out, "timed_out", false},
    {execution_state::stopped, "stopped", false},
    {execution_state::lost, "lost", false},
};

const state_row& row_for(execution_state s) {
  for (const state_row& r : states) {
    if (r.state == s) return r;
  }
  SUNDIAL_ASSERT(false, "every execution state has a row");
  return states[0];
}

struct overlap_rule {
  concurrency_policy policy;
  overlap_action when_idle;    // no active execution
  overlap_action when_active;  // at least one active execution
};

// SEMANTICS.md, "Overlap".
constexpr overlap_rule rules[] = {
    {concurrency_policy::allow, overlap_action::launch, overlap_action::launch},
    {concurrency_policy::forbid, overlap_action::launch, overlap_action::skip},
    {concurrency_policy::replace, overlap_action::launch, overlap_action::replace},
};

const overlap_rule& rule_for(concurrency_policy p) {
  for (const overlap_rule& r : rules) {
    if (r.policy == p) return r;
  }
  SUNDIAL_ASSERT(false, "every concurrency policy has a rule");
  return rules[0];
}

// "2 active executions: a1 (running), a2 (retrying)", at most a few named.
std::string describe_active(const std::vector<const execution_view*>& active) {
  constexpr std::size_t named = 3;
  std::string out = std::to_string(active.size()) +
                    (active.size() == 1 ? " active execution: " : " active executions: ");
  for (std::size_t i = 0; i < active.size() && i < named; ++i) {
    if (i > 0) out += ", ";
    out += active[i]->id + " (" + std::string(to_string(active[i]->state)) + ")";
  }
  if (active.size() > named) out += ", ...";
  return out;
}

}  // namespace

std::string_view to_string(execution_state s) {
  return row_for(s).name;
}

bool is_active(execution_state s) {
  return row_for(s).active;
}

overlap_decision decide_overlap(concurrency_policy policy,
                                const std::vector<execution_view>& executions) {
  std::vector<const execution_view*> active;
  for (const execution_view& e : executions) {
    if (is_active(e.state)) active.push_back(&e);
  }
  const overlap_rule& rule = rule_for(policy);
  overlap_decision d;
  d.action = active.empty() ? rule.when_idle : rule.when_active;
  switch (d.action) {
    case overlap_action::launch:
      break;
    case overlap_action::skip:
      d.reason = "concurrency " + std::string(to_string(policy)) + ": " + describe_active(active);
      break;
    case overlap_action::replace:
      for (const execution_view* e : active) {
        if (e->state != execution_state::stopping) d.to_stop.push_back(e->id);
      }
      break;
  }
  return d;
}

}  // namespace sundial::scheduler
