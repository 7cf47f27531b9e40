#pragma once
// Writes shared by the job store's commands (internal to src/state): every one runs inside
// the apply transaction it is given and changes nothing it does not name.

#include <string>

#include "base/result.h"
#include "state.pb.h"
#include "state/job_store.h"
#include "state/state_db.h"

namespace sundial::state {

// Removes the oldest executions of `j` beyond its history_limit; updates j.history_size (the
// caller writes `j`).
base::status prune_history(txn& t, pb::Job& j);
// Removes every execution, launch record and active entry of a job.
base::status erase_history(txn& t, const std::string& name);
// Deletes a job and its history; refused (conflict) while it has dependents.
job_outcome delete_job(txn& t, const std::string& name);
// Drops `e` from its slot's launch record; the record goes with its last execution.
base::status forget_launch_record(txn& t, const pb::Execution& e);

// Launch intents and lifecycle steps (execution_apply.cc). `index` is the command's Raft index:
// it orders the records created (pb::Execution.seq). Items that cannot be applied are refused
// one by one (listed in the result and logged); the others apply.
base::result<pb::BatchResult> apply_launch_batch(txn& t, std::uint64_t index,
                                                 const pb::LaunchBatch& c);
base::result<pb::BatchResult> apply_execution_updates(txn& t, std::uint64_t index,
                                                      const pb::ExecutionUpdates& c);

}  // namespace sundial::state
