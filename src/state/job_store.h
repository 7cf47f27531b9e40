#pragma once
// The replicated jobs and executions, stored in the state LMDB (state_db.h) so that the heap
// does not grow with them. apply() runs on the Raft apply thread (LMDB's single writer) and
// commits each command together with its Raft index; reads use their own read transactions
// from any thread and never block apply (MVCC).
//
// Tables: jobs (name -> pb::Job), next (big-endian next fire + name: the "next" index),
// job_index (the other sort keys, status, disabled and metadata pairs: one byte naming the
// index, the key, then the name; the value is the name), fences (rank_fences.h), execs (name \0
// big-endian started_at id -> pb::Execution; a job's history is one key range, oldest first, so
// pruning removes the range's first keys), exec_ids (name \0 id -> exec key), meta (the pause flag
// and counts of jobs per status, disabled flag and metadata pair, so filtered totals need no scan).

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "state.pb.h"
#include "state/state_db.h"

namespace sundial::state {

// Command type bytes of the job store (kv_state owns 1 and 2).
enum class job_command : std::uint8_t {
  set_job = 3,
  delete_job = 4,
  toggle_job = 5,
  set_execution = 6,
  execution_done = 7,
  delete_executions = 8,
  set_pause = 9,
  set_jobs = 10,           // several jobs at once, all or nothing (restore)
  launch_batch = 11,       // launch intents and schedule advances (pb::LaunchBatch)
  execution_updates = 12,  // lifecycle steps of executions (pb::ExecutionUpdates)
};
inline constexpr std::uint8_t first_job_command = 3;
inline constexpr std::uint8_t last_job_command = 12;

// What apply returns to the proposer: ok with the affected job (if any), or an error code and
// a message for the API to map onto an HTTP status.
struct job_outcome {
  job_outcome() = default;
  // A refusal (lets SUNDIAL_TRY return a failed status from apply's helpers).
  job_outcome(const base::error& e) : code(e.code), message(e.message) {}  // NOLINT

  bool ok = false;
  base::errc code = base::errc::internal;
  std::string message;
  std::optional<pb::Job> job;
  std::optional<pb::BatchResult> batch;  // launch_batch and execution_updates
};
std::string encode_outcome(const job_outcome& o);
job_outcome decode_outcome(std::string_view text);

// Encodes a command: its type byte then the message.
std::string encode_command(job_command type, const google::protobuf::Message& body);

// A launch of `name` now (run-now, ?runoncreate): an intent with no target, which the
// leader's scheduler places and dispatches once it is committed (SEMANTICS.md "Launches").
pb::LaunchBatch run_now_intent(const std::string& name, std::int64_t now_us);

struct job_query {
  std::string q;       // substring of name or displayname
  std::string status;  // success | failed | untriggered | ""
  std::optional<bool> disabled;
  std::map<std::string, std::string> metadata;  // all must match
  std::string sort = "name";  // name, displayname, schedule, success_count, error_count,
                              // last_success, last_error, next
  bool descending = false;
  std::uint64_t start = 0;
  std::optional<std::uint64_t> end;  // exclusive; none: to the end
};

struct job_page {
  std::vector<pb::Job> jobs;
  std::uint64_t total = 0;  // matching jobs before slicing
};

struct execution_query {
  bool descending = true;  // newest first
  std::uint64_t start = 0;
  std::optional<std::uint64_t> end;
};

// One execution not in a final state (the `active` table).
struct active_execution {
  std::string job;
  std::string id;
  std::string state;
};

struct execution_page {
  std::vector<pb::Execution> executions;
  std::uint64_t total = 0;
};

// What one applied command changed, for the leader's scheduler.
struct applied_change {
  std::vector<std::string> jobs;  // jobs created, changed or deleted: to be read again
  bool all_jobs = false;          // the pause flag or many jobs changed: read them all
  const pb::BatchResult* executions = nullptr;  // launch and lifecycle commands
};
using change_observer = std::function<void(const applied_change&)>;

class job_store {
 public:
  explicit job_store(state_db& db) : db_(db) {}
  job_store(const job_store&) = delete;
  job_store& operator=(const job_store&) = delete;

  // Called on the apply thread after each command that changed something has committed; it
  // must be quick (queue the change) and must not call apply. Set before the node starts.
  void set_observer(change_observer o) { observer_ = std::move(o); }

  // Applies one command (type in [first_job_command, last_job_command]) committed at `index`;
  // deterministic. A refused command changes nothing.
  std::string apply(std::uint64_t index, std::uint8_t type, std::string_view body);
  // Writes an inline image's jobs and executions into `t` (an empty state's first transaction).
  base::status load_image(txn& t, const pb::JobStoreImage& image);

  base::result<std::optional<pb::Job>> get(const std::string& name) const;
  base::result<job_page> list(const job_query& q) const;
  base::result<execution_page> executions(const std::string& job, const execution_query& q) const;
  base::result<std::optional<pb::Execution>> execution(const std::string& job,
                                                       const std::string& id) const;
  // Every execution not in a final state, by job then id.
  base::result<std::vector<active_execution>> active() const;
  bool paused() const;
  base::result<std::uint64_t> job_count() const;

 private:
  void notify(job_command type, std::string_view body, const job_outcome& out) const;

  state_db& db_;
  change_observer observer_;
};

}  // namespace sundial::state
