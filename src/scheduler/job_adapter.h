#pragma once
// The stored job (pb::Job, validated by state/job_rules) as the planning core's plain values.

#include "base/result.h"
#include "scheduler/backoff.h"
#include "scheduler/concurrency.h"
#include "scheduler/job_timing.h"
#include "scheduler/targets.h"
#include "state.pb.h"
#include "state/execution_lifecycle.h"

namespace sundial::scheduler {

// Timing of a job: its schedule parsed (an unparsable one never fires), bounds, policies.
job_timing timing_of(const state::pb::Job& j);
concurrency_policy concurrency_of(const state::pb::Job& j);
retry_backoff backoff_of(const state::pb::Job& j);
// Where a launch of `j` may run; `seed` drives random routing.
target_request targets_of(const state::pb::Job& j, std::uint64_t seed, std::uint64_t cursor);
// The planning core's name of a lifecycle state (the two enums list the same ten states).
execution_state core_state(state::exec_state s);

}  // namespace sundial::scheduler
